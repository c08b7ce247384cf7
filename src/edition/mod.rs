//! The workbook for a classroom: a student edition without the solutions, and grading that
//! a student's files cannot talk their way around.
//!
//! A student's clone of the full workbook holds the reference solutions and its own,
//! editable grading harness, so its results are feedback, not marks. This module makes the
//! two things an instructor needs instead:
//! - [`export`]: `workbook export DIR` writes the student edition: the exercises, the
//!   grader, the kit and the book without the walkthroughs; no `solutions/` and nothing that
//!   needs them; a student README and ready-to-use classroom files ([`student`],
//!   [`autograder`]).
//! - [`submission`]: `workbook grade ARCH --submission DIR` takes from a submission only the
//!   files the registry says a student writes for ARCH ([`Arch::edits`]), refuses a file
//!   that reaches outside its crate at build time ([`scan`]), puts them into a fresh student
//!   edition, builds that as an unprivileged user ([`unprivileged`]) and leaves the grading
//!   to the grader's own process.
//!
//! [`Arch::edits`]: crate::rubric::registry::Arch::edits

pub mod autograder;
mod book;
pub mod export;
mod manifest;
pub mod scan;
pub mod student;
pub mod submission;
pub mod unprivileged;

use std::path::Path;

/// Whether the workbook at `root` is the full one: the student edition has no `solutions/`.
pub fn has_solutions(root: &Path) -> bool {
    root.join("solutions").is_dir()
}

/// What the grader says to `--solution` in the student edition.
pub fn no_solutions(root: &Path) -> String {
    format!(
        "{} is the student edition of the workbook: it has no reference solutions \
         (`workbook export` leaves solutions/ out). Grade your own exercise with \
         `workbook grade ARCH`, or ask your instructor",
        root.display()
    )
}
