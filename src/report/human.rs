//! The human rubric: checks grouped by category, points, verdicts, hints.

use std::fmt::Write as _;
use std::time::Duration;

use super::{failure_text, Outcome, Report};
use crate::rubric::check::Category;

/// The human rubric. `color` adds ANSI colours (only wanted on a terminal).
pub fn render(report: &Report, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let width = report
        .outcomes
        .iter()
        .map(|o| o.check.id.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(out, "Rubric for `{}`: {}", report.arch, report.program);
    // Grouped by category, in rubric order within each.
    let mut grouped: Vec<&Outcome> = report.outcomes.iter().collect();
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
    let total = format!("Score: {}/{}", report.score(), report.max_score());
    let total = if report.full_marks() {
        paint("1;32", &format!("{total}  full marks"))
    } else {
        paint("1", &total)
    };
    let _ = writeln!(out, "\n{total}  ({})", duration(report.duration));
    out
}

fn duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
