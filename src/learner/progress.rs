//! The learner's progress: for each architecture, the best and the last score of a whole
//! grading of their own exercise, by `workbook grade` or `cargo test -p exercise-ARCH`, and
//! which checks the last one failed (what `workbook hint` starts from).
//!
//! It lives in `.workbook/progress.json` at the workspace root, not under `target/`: `cargo
//! clean` must not erase a learner's record. The file is small JSON, rewritten whole through
//! a temporary file and a rename, so that two gradings finishing at once leave one of them
//! recorded rather than a torn file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::report::Report;
use crate::rubric::registry::{self as arch, Arch};

/// Keeps the record in this directory instead (the workbook's own tests use it, so as not to
/// touch a learner's record).
pub const DIR_VAR: &str = "WORKBOOK_PROGRESS";

/// Everything recorded, by architecture name.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Progress {
    #[serde(default)]
    pub archs: BTreeMap<String, Record>,
}

/// One architecture's record.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Record {
    pub best: u32,
    pub last: u32,
    pub max_score: u32,
    /// The checks the last grading failed, in rubric order.
    #[serde(default)]
    pub failed: Vec<String>,
    /// How many hints were shown for each check since it last passed.
    #[serde(default)]
    pub hints: BTreeMap<String, u32>,
}

impl Progress {
    /// `.workbook/progress.json` under `root`, or under the directory [`DIR_VAR`] names.
    pub fn file(root: &Path) -> PathBuf {
        let dir = std::env::var_os(DIR_VAR).map_or_else(|| root.join(".workbook"), PathBuf::from);
        dir.join("progress.json")
    }

    /// The record at `root`, or an empty one (nothing graded yet, or an unreadable file,
    /// which the next save replaces).
    pub fn load(root: &Path) -> Progress {
        std::fs::read(Progress::file(root))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, root: &Path) -> std::io::Result<()> {
        let path = Progress::file(root);
        let dir = path.parent().expect("the file is inside .workbook");
        std::fs::create_dir_all(dir)?;
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        let temporary = tempfile::NamedTempFile::new_in(dir)?;
        std::fs::write(temporary.path(), text + "\n")?;
        temporary.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Records a whole grading of the learner's exercise.
    pub fn record(&mut self, report: &Report) {
        let record = self.archs.entry(report.arch.clone()).or_default();
        let score = report.score();
        record.best = if record.max_score == report.max_score() {
            record.best.max(score)
        } else {
            // The rubric changed (a new check): old bests are out of another total.
            score
        };
        record.last = score;
        record.max_score = report.max_score();
        record.failed = report
            .outcomes
            .iter()
            .filter(|o| !o.passed)
            .map(|o| o.check.id.to_string())
            .collect();
        // A check that passes starts from the first hint again if it ever fails again.
        record
            .hints
            .retain(|check, _| record.failed.contains(check));
    }

    /// The first architecture, in the book's order, not yet at full marks.
    pub fn next<'a>(&self, archs: &'a [Arch]) -> Option<&'a Arch> {
        archs.iter().find(|arch| {
            self.archs
                .get(arch.name)
                .is_none_or(|r| r.max_score != arch.max_score() || r.best < r.max_score)
        })
    }
}

/// Records `report` at `root`, saying on stderr (and nowhere else) if it cannot: a
/// grading's result matters more than its record.
pub fn record(root: &Path, report: &Report) {
    let mut progress = Progress::load(root);
    progress.record(report);
    if let Err(e) = progress.save(root) {
        eprintln!(
            "workbook: cannot record your score in {}: {e}",
            Progress::file(root).display()
        );
    }
}

/// The lines `workbook list` prints: every architecture, its best and last score, and the
/// next exercise to do.
pub fn listing(root: &Path) -> String {
    let progress = Progress::load(root);
    let archs = arch::all();
    // Columns as wide as their longest entry, so that every row lines up.
    let name = archs.iter().map(|a| a.name.len()).max().unwrap_or(0);
    let title = archs.iter().map(|a| a.title.len()).max().unwrap_or(0);
    let mut out = format!(
        "{:<name$} {:<title$} {:>6}  {:>9}  {:>9}\n",
        "arch", "", "checks", "best", "last"
    );
    for arch in &archs {
        let (best, last) = match progress.archs.get(arch.name) {
            Some(r) => (
                format!("{}/{}", r.best, r.max_score),
                format!("{}/{}", r.last, r.max_score),
            ),
            None => ("-".into(), "-".into()),
        };
        out.push_str(&format!(
            "{:<name$} {:<title$} {:>6}  {best:>9}  {last:>9}\n",
            arch.name,
            arch.title,
            arch.checks.len()
        ));
    }
    out.push('\n');
    match progress.next(&archs) {
        Some(arch) => out.push_str(&format!(
            "next: {} (read {}, edit exercises/{}/src, then `cargo test -p {}`; \
             `workbook hint {}` when stuck)\n",
            arch.name,
            arch.chapter(),
            arch.name,
            arch.exercise_package(),
            arch.name
        )),
        None => out.push_str("every exercise at full marks: on to the lab (book/src/lab.md)\n"),
    }
    out
}
