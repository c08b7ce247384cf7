//! The rubric, as people and classroom tools read it, behind one [`render`] function: a
//! human table (colour only on a terminal, [`human`]), the workbook's JSON (schema in
//! `book/src/grader.md`, [`json`]), Gradescope's `results.json` ([`gradescope`]), and the
//! result GitHub Classroom's autograding reporter reads ([`classroom`]), and JUnit XML for CI
//! systems ([`junit`]). Each JSON format is a serde-derived struct of its own schema.

mod classroom;
mod gradescope;
pub mod human;
mod json;
mod junit;

use std::time::Duration;

use crate::rubric::check::Check;
use crate::rubric::registry::Arch;
use crate::verdict::{Cause, Kind, Verdict};

/// What one check concluded.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub check: &'static Check,
    pub passed: bool,
    /// What kind of failure; `None` when it passed.
    pub kind: Option<Kind>,
    /// Why it failed; empty when it passed.
    pub message: String,
    /// The bug behind the failure, when the grader found it: shown instead of the hint.
    pub cause: Option<Cause>,
    pub duration: Duration,
}

impl Outcome {
    pub fn of(check: &'static Check, result: Result<(), Verdict>, duration: Duration) -> Outcome {
        let (kind, message, cause) = match result {
            Ok(()) => (None, String::new(), None),
            Err(v) => (Some(v.kind), v.message, v.cause),
        };
        Outcome {
            check,
            passed: kind.is_none(),
            kind,
            message,
            cause,
            duration,
        }
    }

    /// The check's result again, as a verdict.
    pub fn result(&self) -> Result<(), Verdict> {
        match self.kind {
            None => Ok(()),
            Some(kind) => Err(Verdict::of(kind, self.message.clone()).because(self.cause.clone())),
        }
    }

    /// What to do about a failure and where to read about it: the cause the grader found,
    /// or else the check's hint and section.
    pub fn advice(&self) -> (String, &'static str) {
        match &self.cause {
            Some(cause) => (cause.text(), cause.book),
            None => (self.check.hint.to_string(), self.check.book),
        }
    }

    /// The verdict and, if one was found, its cause: what a failure says, without the advice
    /// every failure of this check would get.
    pub fn verdict(&self) -> String {
        match &self.cause {
            Some(cause) => format!("{}\ncause: {}", self.message, cause.text()),
            None => self.message.clone(),
        }
    }

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
    /// The seed of the run's random data: `--seed N` replays it.
    pub seed: u64,
    /// The command that re-runs one check of this run, with `{check}` where its id goes.
    pub replay: String,
    pub outcomes: Vec<Outcome>,
    pub duration: Duration,
    /// The tags of the servers this run started (see [`crate::contain::sweep::alive`]).
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

    /// The report on a submission that was not built (`why`: refused, or the compiler's
    /// messages): every check of `arch` failed, unrun.
    pub fn not_built(arch: &Arch, program: String, why: &str, seed: u64, replay: &str) -> Report {
        let cause = Cause {
            says: "the submission was not graded: fix what the verdict says, then submit again"
                .to_string(),
            see: None,
            book: "grader.md#grading-a-submission",
        };
        let outcomes = arch
            .checks
            .iter()
            .map(|&check| {
                let verdict = Verdict::of(Kind::NotBuilt, why).because(Some(cause.clone()));
                Outcome::of(check, Err(verdict), Duration::ZERO)
            })
            .collect();
        Report {
            arch: arch.name.to_string(),
            program,
            seed,
            replay: replay.to_string(),
            outcomes,
            duration: Duration::ZERO,
            servers: Vec::new(),
        }
    }

    /// The ids of the checks that failed.
    pub fn failed(&self) -> std::collections::BTreeSet<&'static str> {
        self.outcomes
            .iter()
            .filter(|o| !o.passed)
            .map(|o| o.check.id)
            .collect()
    }
}

/// How to print a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The rubric for people: points, verdicts, hints
    Human,
    /// The workbook's JSON (schema: book/src/grader.md)
    Json,
    /// Gradescope's results.json
    Gradescope,
    /// GitHub Classroom's runner result (base64-encode it as a step's `result`)
    Classroom,
    /// JUnit XML, for CI systems
    Junit,
}

/// `report` in `format`, ending with a newline. `color` adds ANSI colours to the human
/// format (only wanted on a terminal).
pub fn render(report: &Report, format: Format, color: bool) -> String {
    let pretty = |value: serde_json::Result<String>| {
        format!("{}\n", value.expect("a report always serialises"))
    };
    match format {
        Format::Human => human::render(report, color),
        Format::Json => pretty(serde_json::to_string_pretty(&json::of(report))),
        Format::Gradescope => pretty(serde_json::to_string_pretty(&gradescope::of(report))),
        Format::Classroom => pretty(serde_json::to_string(&classroom::of(report))),
        Format::Junit => junit::render(report),
    }
}

/// What a failed check tells the learner: the verdict, the hint, where to read, and the
/// command that re-runs just that check on the same data.
pub fn failure_text(o: &Outcome, replay: &str) -> String {
    let (advice, book) = o.advice();
    let label = if o.cause.is_some() { "cause" } else { "hint" };
    format!(
        "{}\n{label}: {advice}\nread: book/src/{book}\nagain: {}",
        o.message,
        replay_of(replay, o.check.id)
    )
}

/// `replay` (a template) for the check `id`.
pub fn replay_of(replay: &str, id: &str) -> String {
    replay.replace("{check}", id)
}

fn book_path(check: &Check) -> String {
    format!("book/src/{}", check.book)
}
