//! Gradescope's `results.json`: one test per check, with its points.

use serde::Serialize;

use super::{failure_text, Report};

#[derive(Serialize)]
pub struct Results {
    score: u32,
    execution_time: f64,
    output: String,
    stdout_visibility: &'static str,
    tests: Vec<Test>,
}

#[derive(Serialize)]
struct Test {
    number: String,
    name: String,
    score: u32,
    max_score: u32,
    status: &'static str,
    tags: [&'static str; 1],
    output: String,
    visibility: &'static str,
}

pub fn of(report: &Report) -> Results {
    Results {
        score: report.score(),
        execution_time: report.duration.as_secs_f64(),
        output: format!(
            "{}: {}/{} (seed {})",
            report.arch,
            report.score(),
            report.max_score(),
            report.seed
        ),
        stdout_visibility: "visible",
        tests: report
            .outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| Test {
                number: format!("{}", i + 1),
                name: format!("{} ({})", o.check.id, o.check.summary),
                score: o.points(),
                max_score: o.check.points,
                status: if o.passed { "passed" } else { "failed" },
                tags: [o.check.category.name()],
                output: if o.passed {
                    String::new()
                } else {
                    failure_text(o, &report.replay)
                },
                visibility: "visible",
            })
            .collect(),
    }
}
