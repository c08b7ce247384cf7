//! The rubric, as people and classroom tools read it: a human table (colour only on a
//! terminal), the workbook's JSON (schema in `book/src/grader.md`), Gradescope's
//! `results.json`, and the result GitHub Classroom's autograding reporter reads.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};

use crate::check::{Category, Check};

/// What one check concluded.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub check: &'static Check,
    pub passed: bool,
    /// Why it failed; empty when it passed.
    pub message: String,
    pub duration: Duration,
}

impl Outcome {
    pub fn points(&self) -> u32 {
        if self.passed {
            self.check.points
        } else {
            0
        }
    }
}

/// Every outcome of one grading run.
#[derive(Debug, Clone)]
pub struct Report {
    pub arch: String,
    pub program: String,
    pub outcomes: Vec<Outcome>,
    pub duration: Duration,
    /// The tags of the servers this run started (see [`crate::contain::alive`]).
    pub servers: Vec<String>,
}

impl Report {
    pub fn score(&self) -> u32 {
        self.outcomes.iter().map(Outcome::points).sum()
    }

    pub fn max_score(&self) -> u32 {
        self.outcomes.iter().map(|o| o.check.points).sum()
    }

    pub fn full_marks(&self) -> bool {
        self.outcomes.iter().all(|o| o.passed)
    }

    /// The workbook's own JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "arch": self.arch,
            "program": self.program,
            "score": self.score(),
            "max_score": self.max_score(),
            "duration_ms": self.duration.as_millis() as u64,
            "checks": self.outcomes.iter().map(|o| json!({
                "id": o.check.id,
                "category": o.check.category.name(),
                "points": o.points(),
                "max_points": o.check.points,
                "passed": o.passed,
                "summary": o.check.summary,
                "message": o.message,
                "hint": if o.passed { "" } else { o.check.hint },
                "book": book_path(o.check),
                "duration_ms": o.duration.as_millis() as u64,
            })).collect::<Vec<_>>(),
        })
    }

    /// Gradescope's `results.json` (one test per check, with its points).
    pub fn to_gradescope(&self) -> Value {
        json!({
            "score": self.score(),
            "execution_time": self.duration.as_secs_f64(),
            "output": format!("{}: {}/{}", self.arch, self.score(), self.max_score()),
            "stdout_visibility": "visible",
            "tests": self.outcomes.iter().enumerate().map(|(i, o)| json!({
                "number": format!("{}", i + 1),
                "name": format!("{} ({})", o.check.id, o.check.summary),
                "score": o.points(),
                "max_score": o.check.points,
                "status": if o.passed { "passed" } else { "failed" },
                "tags": [o.check.category.name()],
                "output": if o.passed { String::new() } else { failure_text(o) },
                "visibility": "visible",
            })).collect::<Vec<_>>(),
        })
    }

    /// The result of a GitHub Classroom autograding runner (version 1), one test per check
    /// with its points, as `classroom-resources/autograding-grading-reporter` reads it once
    /// base64-encoded.
    pub fn to_classroom(&self) -> Value {
        json!({
            "version": 1,
            "status": if self.full_marks() { "pass" } else { "fail" },
            "max_score": self.max_score(),
            "tests": self.outcomes.iter().map(|o| json!({
                "name": format!("{}: {}", o.check.id, o.check.summary),
                "status": if o.passed { "pass" } else { "fail" },
                "score": o.points(),
                "message": if o.passed { String::new() } else { failure_text(o) },
                "test_code": format!("workbook grade {} (check {})", self.arch, o.check.id),
                "filename": "",
                "line_no": 0,
                "duration": o.duration.as_millis() as u64,
            })).collect::<Vec<_>>(),
        })
    }

    /// The human rubric. `color` adds ANSI colours (only wanted on a terminal).
    pub fn render(&self, color: bool) -> String {
        let paint = |code: &str, text: &str| {
            if color {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text.to_string()
            }
        };
        let width = self
            .outcomes
            .iter()
            .map(|o| o.check.id.len())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        let _ = writeln!(out, "Rubric for `{}`: {}", self.arch, self.program);
        // Grouped by category, in rubric order within each.
        let mut grouped: Vec<&Outcome> = self.outcomes.iter().collect();
        grouped.sort_by_key(|o| o.check.category);
        let mut category: Option<Category> = None;
        for o in grouped {
            if category != Some(o.check.category) {
                category = Some(o.check.category);
                let _ = writeln!(out, "\n  {}", paint("1", o.check.category.name()));
            }
            let mark = if o.passed {
                paint("32", "PASS")
            } else {
                paint("31", "FAIL")
            };
            let _ = writeln!(
                out,
                "  {mark} {:<width$}  {:>2}/{:<2}  {}  ({})",
                o.check.id,
                o.points(),
                o.check.points,
                o.check.summary,
                duration(o.duration),
            );
            if !o.passed {
                for line in failure_text(o).lines() {
                    let _ = writeln!(out, "         {line}");
                }
            }
        }
        let total = format!("Score: {}/{}", self.score(), self.max_score());
        let total = if self.full_marks() {
            paint("1;32", &format!("{total}  full marks"))
        } else {
            paint("1", &total)
        };
        let _ = writeln!(out, "\n{total}  ({})", duration(self.duration));
        out
    }
}

/// What a failed check tells the learner: the verdict, the hint, where to read.
fn failure_text(o: &Outcome) -> String {
    format!(
        "{}\nhint: {}\nread: {}",
        o.message,
        o.check.hint,
        book_path(o.check)
    )
}

fn book_path(check: &Check) -> String {
    format!("book/src/{}", check.book)
}

fn duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
