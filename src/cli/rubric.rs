//! `workbook rubric`: an architecture's checks, points and hints, for a person or as JSON.

use std::process::ExitCode;

use serde_json::{json, Value};
use workbook::report::Format;
use workbook::rubric::registry::Arch;

use crate::out;

pub fn rubric(arch: &Arch, format: Format) -> ExitCode {
    if format == Format::Human {
        outln!(
            "{} ({} points): {}",
            arch.title,
            arch.max_score(),
            arch.chapter()
        );
        let width = arch.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
        for c in &arch.checks {
            outln!(
                "\n{:<width$} {:<12} {:>2} points\n  {}\n  hint: {}\n  read: book/src/{}",
                c.id,
                c.category.name(),
                c.points,
                c.summary,
                c.hint,
                c.book
            );
        }
    } else {
        let checks: Vec<Value> = arch
            .checks
            .iter()
            .map(|c| {
                json!({
                    "id": c.id, "category": c.category.name(), "points": c.points,
                    "summary": c.summary, "hint": c.hint, "book": format!("book/src/{}", c.book),
                    "time_limit_ms": c.limit.as_millis() as u64,
                })
            })
            .collect();
        outln!(
            "{:#}",
            json!({ "arch": arch.name, "max_score": arch.max_score(), "checks": checks })
        );
    }
    ExitCode::SUCCESS
}
