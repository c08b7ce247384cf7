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

use crate::rubric::registry::Arch;

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

/// `workbook export DIR` (no `gradescope`) or `workbook gradescope ARCH DIR`: writes `dir`
/// from the workbook at `root`, and says what it wrote, what it left out, and what next.
pub fn write(root: &Path, dir: &Path, gradescope: Option<&Arch>) -> Result<String, String> {
    let (left_out, edition) = match gradescope {
        None => (export::export(root, dir)?, dir.to_path_buf()),
        Some(arch) => (autograder::write(arch, root, dir)?, dir.join("workbook")),
    };
    let mut said = format!(
        "The student edition is in {}. Left out:\n",
        edition.display()
    );
    left_out
        .iter()
        .for_each(|line| said.push_str(&format!("  {line}\n")));
    said.push_str(&match gradescope {
        None => "Next: `cargo test -p exercise-iterative` works there; its README.md says what \
                 it is and how to use its classroom files.\n"
            .to_string(),
        Some(arch) => format!(
            "Next: zip the contents of {} (setup.sh and run_autograder at the zip's root) and \
             upload the zip as the autograder of the {} assignment.\n",
            dir.display(),
            arch.name
        ),
    });
    Ok(said)
}
