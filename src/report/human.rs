//! The human rubric: one row per check in rubric order (grouped by category), printed as each
//! check finishes, with the verdict, hint and book section under a failure; then the score.
//!
//! An untouched stub fails every check at the same `todo!()`: that message is printed once,
//! and the rows after it only refer to it.

use std::fmt::Write as _;
use std::time::Duration;

use super::{failure_text, Outcome, Report};
use crate::contain::output::{todo_place, TODO};
use crate::rubric::check::{Category, Check};
use crate::verdict::Kind;

/// Prints a rubric row by row, as its checks finish.
pub struct Printer {
    color: bool,
    width: usize,
    category: Option<Category>,
    /// The `todo!()` the last rows stopped at, printed in full once.
    todo: Option<String>,
    /// How to re-run one check (see [`Report::replay`]).
    replay: String,
    /// Whether a row said the submission was not built: the rows after it only refer to it.
    not_built: bool,
    /// Whether this workbook has the walkthroughs (the student edition has none).
    walkthroughs: bool,
}

impl Printer {
    /// A printer for a rubric of `checks`, re-run one at a time by `replay`.
    pub fn new(checks: &[&Check], color: bool, replay: &str) -> Printer {
        Printer {
            color,
            width: checks.iter().map(|c| c.id.len()).max().unwrap_or(0),
            category: None,
            todo: None,
            replay: replay.to_string(),
            not_built: false,
            walkthroughs: true,
        }
    }

    /// This printer, for a workbook that does (or, the student edition, does not) have the
    /// walkthroughs the full-marks footer points to.
    pub fn walkthroughs(self, shipped: bool) -> Printer {
        Printer {
            walkthroughs: shipped,
            ..self
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// The first line: what is graded against which rubric.
    pub fn header(&self, arch: &str, program: &str) -> String {
        format!("Rubric for `{arch}`: {program}\n")
    }

    /// One check's row, and its verdict if it failed.
    pub fn row(&mut self, o: &Outcome) -> String {
        let mut out = String::new();
        if self.category != Some(o.check.category) {
            self.category = Some(o.check.category);
            let _ = writeln!(out, "\n  {}", self.paint("1", o.check.category.name()));
        }
        let mark = if o.passed {
            self.paint("32", "PASS")
        } else {
            self.paint("31", "FAIL")
        };
        let _ = writeln!(
            out,
            "  {mark} {:<width$}  {:>2}/{:<2}  {}  ({})",
            o.check.id,
            o.points(),
            o.check.points,
            o.check.summary,
            duration(o.duration),
            width = self.width,
        );
        let same = |todo: &String| todo_place(todo) == todo_place(&o.message);
        if o.kind == Some(Kind::Todo) && self.todo.as_ref().is_some_and(same) {
            let _ = writeln!(out, "         stopped at the same todo!() as above");
        } else if o.kind == Some(Kind::NotBuilt) && self.not_built {
            let _ = writeln!(
                out,
                "         not graded: the submission was not built (see above)"
            );
        } else if !o.passed {
            self.not_built = o.kind == Some(Kind::NotBuilt);
            self.todo = (o.kind == Some(Kind::Todo)).then(|| o.message.clone());
            for line in failure_text(o, &self.replay).lines() {
                let _ = writeln!(out, "         {line}");
            }
        }
        out
    }

    /// The score, and how to replay the run; for a stub, which `todo!()` to write first.
    pub fn footer(&self, report: &Report) -> String {
        let mut out = String::new();
        let failed: Vec<&Outcome> = report.outcomes.iter().filter(|o| !o.passed).collect();
        let all_todo = !failed.is_empty()
            && failed.iter().all(|o| {
                o.kind == Some(Kind::Todo)
                    && todo_place(&o.message) == todo_place(&failed[0].message)
            });
        if all_todo {
            let todo = failed[0].message.trim_start_matches(TODO);
            let _ = writeln!(
                out,
                "\nEvery check stopped at the same todo!(): write that first, then grade \
                 again. It says: {todo}"
            );
        }
        let total = format!("Score: {}/{}", report.score(), report.max_score());
        let total = if report.full_marks() {
            if self.walkthroughs {
                let _ = writeln!(
                    out,
                    "\nEvery check passed: the walkthrough of the reference solution is yours \
                     to read now, book/src/walkthroughs/{}.md",
                    report.arch
                );
            } else {
                let _ = writeln!(
                    out,
                    "\nEvery check passed. The walkthrough of the reference solution is not in \
                     this student edition: your instructor hands it out."
                );
            }
            self.paint("1;32", &format!("{total}  full marks"))
        } else {
            self.paint("1", &total)
        };
        let _ = writeln!(
            out,
            "\n{total}  ({}; seed {}: `--seed {}` replays this run)",
            duration(report.duration),
            report.seed,
            report.seed
        );
        out
    }
}

/// The whole human rubric of a finished run.
pub fn render(report: &Report, color: bool) -> String {
    let checks: Vec<&Check> = report.outcomes.iter().map(|o| o.check).collect();
    let mut printer = Printer::new(&checks, color, &report.replay);
    let mut out = printer.header(&report.arch, &report.program);
    for o in &report.outcomes {
        out.push_str(&printer.row(o));
    }
    out.push_str(&printer.footer(report));
    out
}

fn duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
