//! The result of a GitHub Classroom autograding runner (version 1), one test per check with
//! its points, as `classroom-resources/autograding-grading-reporter` reads it once
//! base64-encoded.

use serde::Serialize;

use super::{failure_text, Report};

#[derive(Serialize)]
pub struct Runner {
    version: u32,
    status: &'static str,
    max_score: u32,
    tests: Vec<Test>,
}

#[derive(Serialize)]
struct Test {
    name: String,
    status: &'static str,
    score: u32,
    message: String,
    test_code: String,
    filename: &'static str,
    line_no: u32,
    duration: u64,
}

pub fn of(report: &Report) -> Runner {
    let status = |passed: bool| if passed { "pass" } else { "fail" };
    Runner {
        version: 1,
        status: status(report.full_marks()),
        max_score: report.max_score(),
        tests: report
            .outcomes
            .iter()
            .map(|o| Test {
                name: format!("{}: {}", o.check.id, o.check.summary),
                status: status(o.passed),
                score: o.points(),
                message: if o.passed {
                    String::new()
                } else {
                    failure_text(o, &report.replay)
                },
                test_code: format!("workbook grade {} (check {})", report.arch, o.check.id),
                filename: "",
                line_no: 0,
                duration: o.duration.as_millis() as u64,
            })
            .collect(),
    }
}
