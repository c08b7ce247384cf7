//! `workbook export DIR`: the student edition, a repository to hand to students.
//!
//! It is the workbook less what gives the exercises away or needs what does: the reference
//! solutions, the walkthroughs of them, every crate that depends on a solution (found from
//! cargo's own view of the workspace, so a crate added later is judged the same way), and
//! the workbook's own tests, which grade the solutions and the buggy servers. What is left
//! builds on its own: the root `Cargo.toml` is rewritten to the packages that remain, and
//! `Cargo.lock` is pruned to them. In their place come a student README and the classroom
//! files ([`student`](super::student), [`autograder`](super::autograder)).
//!
//! Exporting the student edition again gives the same edition, so that grading (which
//! exports a pristine tree for every submission) works from either.

use std::fs;
use std::path::Path;

use super::manifest::{self, Package};
use super::{autograder, book, student};
use crate::rubric::registry;

/// What the student edition leaves out besides the crates that need solutions, and why.
pub const LEFT_OUT: &[(&str, &str)] = &[
    ("solutions", "the reference solutions"),
    (
        "book/src/walkthroughs",
        "the walks through the reference solutions",
    ),
    (
        "tests",
        "the workbook's own tests: they grade the solutions and the buggy servers",
    ),
    (".ci", "the workbook's own CI"),
    (
        "exercises/pristine.txt",
        "the stubs' fingerprints, read by the workbook's own tests",
    ),
    ("README.md", "replaced by the student README"),
    ("book/book", "the built book"),
    (".git", "the workbook's history"),
    (".workbook", "a learner's own progress and backups"),
];

/// Writes the student edition of the workbook at `source` into `dest` (new, or empty), and
/// returns what it left out, a line each.
pub fn export(source: &Path, dest: &Path) -> Result<Vec<String>, String> {
    if fs::read_dir(dest).is_ok_and(|mut d| d.next().is_some()) {
        return Err(format!(
            "{} exists and is not empty: name a new directory",
            dest.display()
        ));
    }
    let all = manifest::packages(source)?;
    let gone = needing_solutions(&all)?;
    let kept: Vec<&Package> = all.iter().filter(|p| !gone.contains(&p.dir)).collect();
    let mut skip: Vec<String> = LEFT_OUT.iter().map(|(path, _)| path.to_string()).collect();
    skip.extend(
        gone.iter()
            .filter(|d| !d.starts_with("solutions/"))
            .cloned(),
    );
    fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    copy_tree(source, dest, "", &skip)?;

    let write = |path: &str, text: String| -> Result<(), String> {
        let to = dest.join(path);
        if let Some(dir) = to.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        fs::write(&to, text).map_err(|e| format!("{}: {e}", to.display()))
    };
    let read =
        |path: &str| fs::read_to_string(source.join(path)).map_err(|e| format!("{path}: {e}"));
    write(
        "Cargo.toml",
        manifest::student_manifest(&read("Cargo.toml")?, &all, &kept)?,
    )?;
    write(
        "book/src/SUMMARY.md",
        book::summary(&read("book/src/SUMMARY.md")?),
    )?;
    for chapter in markdown_files(&dest.join("book/src"))? {
        let text =
            fs::read_to_string(&chapter).map_err(|e| format!("{}: {e}", chapter.display()))?;
        let text = book::unlink_walkthroughs(&text);
        let text = if chapter.ends_with("introduction.md") && !text.contains(book::STUDENT_NOTE) {
            book::introduction(&text)
        } else {
            text
        };
        fs::write(&chapter, text).map_err(|e| format!("{}: {e}", chapter.display()))?;
    }
    let archs = registry::all();
    write("README.md", student::readme(&archs))?;
    write(student::WORKFLOW, student::workflow(&archs))?;
    for arch in &archs {
        autograder::write_scripts(arch, &dest.join(autograder::in_edition(arch)))?;
    }
    manifest::prune_lock(dest)?;

    let mut said: Vec<String> = LEFT_OUT
        .iter()
        .filter(|(path, _)| source.join(path).exists())
        .map(|(path, why)| format!("{path}: {why}"))
        .collect();
    said.extend(
        all.iter()
            .filter(|p| gone.contains(&p.dir) && !p.dir.starts_with("solutions/"))
            .map(|p| format!("{} ({}): it depends on a reference solution", p.dir, p.name)),
    );
    Ok(said)
}

/// The directories of the packages that are, or depend on, a reference solution, directly
/// or not. An exercise among them is an error: the student edition must have every one.
fn needing_solutions(all: &[Package]) -> Result<Vec<String>, String> {
    let mut gone: Vec<&Package> = all
        .iter()
        .filter(|p| p.dir.starts_with("solutions/"))
        .collect();
    loop {
        let more: Vec<&Package> = all
            .iter()
            .filter(|p| !gone.iter().any(|g| g.name == p.name))
            .filter(|p| {
                p.depends_on
                    .iter()
                    .any(|d| gone.iter().any(|g| g.name == *d))
            })
            .collect();
        if more.is_empty() {
            break;
        }
        gone.extend(more);
    }
    if let Some(p) = gone
        .iter()
        .find(|p| p.dir == "." || p.dir.starts_with("exercises/"))
    {
        return Err(format!(
            "{} ({}) depends on a reference solution, so the student edition cannot have \
             it: depend on the learner's own exercise crate instead",
            p.name, p.dir
        ));
    }
    Ok(gone.iter().map(|p| p.dir.clone()).collect())
}

/// Copies the files under `from/rel` to `to/rel`, but not the paths in `skip` nor cargo's
/// target directories (any directory holding a `CACHEDIR.TAG`, or `target` at the top).
fn copy_tree(from: &Path, to: &Path, rel: &str, skip: &[String]) -> Result<(), String> {
    let dir = from.join(rel);
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if skip.contains(&path) || path == "target" {
            continue;
        }
        let kind = entry.file_type().map_err(|e| format!("{path}: {e}"))?;
        if kind.is_dir() {
            if entry.path().join("CACHEDIR.TAG").exists() {
                continue;
            }
            fs::create_dir_all(to.join(&path)).map_err(|e| format!("{path}: {e}"))?;
            copy_tree(from, to, &path, skip)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), to.join(&path)).map_err(|e| format!("{path}: {e}"))?;
        } else {
            return Err(format!(
                "{path}: not a file or a directory (a symbolic link?): the export copies \
                 files only"
            ));
        }
    }
    Ok(())
}

fn markdown_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            out.extend(markdown_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    Ok(out)
}
