//! The workbook's own JSON (schema in `book/src/grader.md`).

use serde::Serialize;

use super::{book_path, replay_of, Report};

#[derive(Serialize)]
pub struct Workbook<'a> {
    arch: &'a str,
    program: &'a str,
    seed: u64,
    score: u32,
    max_score: u32,
    duration_ms: u64,
    checks: Vec<CheckResult<'a>>,
}

#[derive(Serialize)]
struct CheckResult<'a> {
    id: &'a str,
    category: &'a str,
    points: u32,
    max_points: u32,
    passed: bool,
    summary: &'a str,
    message: &'a str,
    /// Only for a failed check: the cause the grader found, or else the check's hint.
    hint: String,
    book: String,
    /// Only for a failed check: the command that re-runs it on the same data.
    again: String,
    duration_ms: u64,
}

pub fn of(report: &Report) -> Workbook<'_> {
    Workbook {
        arch: &report.arch,
        program: &report.program,
        seed: report.seed,
        score: report.score(),
        max_score: report.max_score(),
        duration_ms: report.duration.as_millis() as u64,
        checks: report
            .outcomes
            .iter()
            .map(|o| {
                let (hint, book) = if o.passed {
                    (String::new(), book_path(o.check))
                } else {
                    let (advice, book) = o.advice();
                    (advice, format!("book/src/{book}"))
                };
                CheckResult {
                    id: o.check.id,
                    category: o.check.category.name(),
                    points: o.points(),
                    max_points: o.check.points,
                    passed: o.passed,
                    summary: o.check.summary,
                    message: &o.message,
                    hint,
                    book,
                    again: if o.passed {
                        String::new()
                    } else {
                        replay_of(&report.replay, o.check.id)
                    },
                    duration_ms: o.duration.as_millis() as u64,
                }
            })
            .collect(),
    }
}
