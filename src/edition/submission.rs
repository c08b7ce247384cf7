//! `workbook grade ARCH --submission DIR`: a submission, graded for marks.
//!
//! Only the files the registry says a student writes for ARCH ([`Arch::edits`]) are taken;
//! they go into a fresh student edition (no solutions to reach), which is built as an
//! unprivileged user ([`unprivileged`]); the grader's own process then grades the binary.
//! Everything else in the submission is ignored, and the report lists what of it differs
//! from the workbook (an edited `tests/grade.rs`, say). What would change the build itself
//! gets a verdict instead of a build: a taken file that reaches outside its crate
//! ([`scan`]), a symbolic link, a build script, a changed `Cargo.toml`.
//!
//! A submission is laid out as the workbook is (`exercises/ARCH/src/lib.rs`), at its top or
//! in its one directory (a zipped folder); for an architecture whose files are all in one
//! crate, the files may also come on their own (`lib.rs`, as Gradescope uploads them).

use std::fs;
use std::path::{Path, PathBuf};

use super::unprivileged::{self, BuildError};
use super::{export, scan};
use crate::rubric::registry::Arch;

/// The most a submitted file may hold.
const MAX_FILE: u64 = 1 << 20;
/// How many ignored files a report names.
const IGNORED_SHOWN: usize = 20;
/// How many files of a submission are looked at, to list what was ignored.
const MAX_WALK: usize = 20_000;

/// A submission ready to grade: its binary, notes for the report, and the scratch
/// directory that holds both (removed when this is dropped).
pub struct Prepared {
    pub exe: PathBuf,
    pub notes: Vec<String>,
    _scratch: tempfile::TempDir,
}

pub enum Trouble {
    /// A verdict on the submission: refused, or it did not build.
    NotBuilt(String),
    /// The grader could not grade here: not the submission's doing.
    Grader(String),
}

/// Takes the files of `arch` from `submission`, builds them in a student edition of the
/// workbook at `workspace`, and returns the binary to grade.
pub fn prepare(workspace: &Path, arch: &Arch, submission: &Path) -> Result<Prepared, Trouble> {
    let grader = |e: String| Trouble::Grader(e);
    let scratch = tempfile::Builder::new()
        .prefix("workbook-submission-")
        .tempdir()
        .map_err(|e| grader(format!("cannot make a scratch directory: {e}")))?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(scratch.path(), fs::Permissions::from_mode(0o755))
        .map_err(|e| grader(format!("{}: {e}", scratch.path().display())))?;
    let tree = scratch.path().join("tree");
    export::export(workspace, &tree).map_err(grader)?;
    let taken = collect(arch, submission, &tree).map_err(Trouble::NotBuilt)?;
    let mut notes = Vec::new();
    if !taken.ignored.is_empty() {
        notes.push(format!(
            "ignored (not among the files graded for {}: {}): {}",
            arch.name,
            arch.edits.join(", "),
            taken.ignored.join(", ")
        ));
    }
    for (rel, bytes) in &taken.files {
        let to = tree.join(rel);
        if let Some(dir) = to.parent() {
            fs::create_dir_all(dir).map_err(|e| grader(format!("{}: {e}", dir.display())))?;
        }
        fs::write(&to, bytes).map_err(|e| grader(format!("{}: {e}", to.display())))?;
    }
    match unprivileged::build(workspace, scratch.path(), &tree, &arch.exercise_package()) {
        Ok(built) => {
            notes.push(built.note);
            Ok(Prepared {
                exe: built.exe,
                notes,
                _scratch: scratch,
            })
        }
        Err(BuildError::Failed(messages)) => Err(Trouble::NotBuilt(format!(
            "the submission did not build:\n{messages}"
        ))),
        Err(BuildError::Environment(e)) => Err(grader(e)),
    }
}

/// The files taken from a submission (path in the workbook, bytes), and the names of the
/// files it changed that were ignored.
struct Taken {
    files: Vec<(String, Vec<u8>)>,
    ignored: Vec<String>,
}

/// The files of `arch` in `submission`, each vetted; `pristine` is the student edition they
/// will replace files of. An error is the verdict that refuses the submission.
fn collect(arch: &Arch, submission: &Path, pristine: &Path) -> Result<Taken, String> {
    let (top, flat) = layout(arch, submission)?;
    let mut files = Vec::new();
    for pattern in &arch.edits {
        let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
        let from = if flat { top.clone() } else { top.join(dir) };
        let crate_dir = dir.trim_end_matches("/src");
        if !flat {
            refuse_build_changes(&top, pristine, crate_dir)?;
        }
        let Ok(entries) = fs::read_dir(&from) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let file = entry.file_name().to_string_lossy().into_owned();
            if !glob(name, &file) {
                continue;
            }
            let shown = if flat {
                file.clone()
            } else {
                format!("{dir}/{file}")
            };
            if flat && file == "build.rs" {
                return Err(refusal(
                    &shown,
                    "a build script runs code while the submission is built",
                ));
            }
            let meta = fs::symlink_metadata(entry.path()).map_err(|e| format!("{shown}: {e}"))?;
            if meta.file_type().is_symlink() {
                return Err(refusal(
                    &shown,
                    "it is a symbolic link: submit the file itself",
                ));
            }
            if !meta.is_file() {
                continue;
            }
            if meta.len() > MAX_FILE {
                return Err(refusal(
                    &shown,
                    &format!("it holds more than {MAX_FILE} bytes"),
                ));
            }
            let bytes = fs::read(entry.path()).map_err(|e| format!("{shown}: {e}"))?;
            let text =
                String::from_utf8(bytes).map_err(|_| refusal(&shown, "it is not UTF-8 text"))?;
            if let Some((line, why)) = scan::reaches_outside(&text) {
                return Err(refusal(&format!("{shown}:{line}"), &why));
            }
            files.push((format!("{dir}/{file}"), text.into_bytes()));
        }
    }
    if files.is_empty() {
        return Err(format!(
            "nothing to grade: the submission has none of the files graded for {} ({}); \
             submit them laid out as in the workbook, or the files alone",
            arch.name,
            arch.edits.join(", ")
        ));
    }
    let ignored = if flat {
        Vec::new()
    } else {
        let taken: Vec<&str> = files.iter().map(|(rel, _)| rel.as_str()).collect();
        changed_elsewhere(&top, pristine, &taken)
    };
    Ok(Taken { files, ignored })
}

fn refusal(place: &str, why: &str) -> String {
    format!(
        "not built: {place}: {why}. A submission is built from its own files only; change \
         this and submit again"
    )
}

/// Where the submission's files are: its top, or its one directory, laid out as the
/// workbook (`false`); or its top holding the files alone (`true`).
fn layout(arch: &Arch, submission: &Path) -> Result<(PathBuf, bool), String> {
    if submission.join("exercises").is_dir() {
        return Ok((submission.to_path_buf(), false));
    }
    let dirs: Vec<PathBuf> = fs::read_dir(submission)
        .map_err(|e| format!("{}: {e}", submission.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("exercises").is_dir())
        .collect();
    if let [one] = dirs.as_slice() {
        return Ok((one.clone(), false));
    }
    if arch.edits.len() == 1 {
        return Ok((submission.to_path_buf(), true));
    }
    Err(format!(
        "not built: {} takes files from more than one crate ({}): submit them laid out as \
         in the workbook (exercises/...)",
        arch.name,
        arch.edits.join(", ")
    ))
}

/// Refuses a build script in `crate_dir`, or a `Cargo.toml` there that differs from the
/// workbook's: both change what building runs.
fn refuse_build_changes(top: &Path, pristine: &Path, crate_dir: &str) -> Result<(), String> {
    let build = format!("{crate_dir}/build.rs");
    if fs::symlink_metadata(top.join(&build)).is_ok() {
        return Err(refusal(
            &build,
            "a build script runs code while the submission is built",
        ));
    }
    let manifest = format!("{crate_dir}/Cargo.toml");
    let normal = |text: String| text.replace("\r\n", "\n").trim_end().to_string();
    if let Ok(theirs) = fs::read_to_string(top.join(&manifest)) {
        let ours = fs::read_to_string(pristine.join(&manifest)).unwrap_or_default();
        if normal(theirs) != normal(ours) {
            return Err(refusal(
                &manifest,
                "it differs from the workbook's; a submission may not change its \
                 dependencies, targets or build",
            ));
        }
    }
    Ok(())
}

/// The files of the submission, other than those `taken`, that exist in the workbook with
/// other contents: ignored, and named so that nobody wonders.
fn changed_elsewhere(top: &Path, pristine: &Path, taken: &[&str]) -> Vec<String> {
    let mut changed = Vec::new();
    let mut stack = vec![String::new()];
    let mut seen = 0;
    while let Some(rel) = stack.pop() {
        let Ok(entries) = fs::read_dir(top.join(&rel)) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_WALK {
                break;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                let cache = entry.path().join("CACHEDIR.TAG").exists();
                if !cache && name != ".git" && name != "target" {
                    stack.push(path);
                }
            } else if kind.is_file() && !taken.contains(&path.as_str()) {
                let ours = fs::read(pristine.join(&path));
                if ours.is_ok_and(|ours| fs::read(entry.path()).is_ok_and(|theirs| theirs != ours))
                {
                    changed.push(path);
                }
            }
        }
    }
    changed.sort();
    if changed.len() > IGNORED_SHOWN {
        let more = changed.len() - IGNORED_SHOWN;
        changed.truncate(IGNORED_SHOWN);
        changed.push(format!("and {more} more"));
    }
    changed
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
pub fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head)
                && (head.len()..=name.len())
                    .any(|at| name.is_char_boundary(at) && glob(tail, &name[at..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn a_star_matches_any_run() {
        assert!(glob("*.rs", "lib.rs"));
        assert!(glob("*.rs", ".rs"));
        assert!(!glob("*.rs", "lib.rs.orig"));
        assert!(glob("*", "kit"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("lib.rs", "main.rs"));
    }
}
