//! `workbook export DIR`, as an instructor runs it and a student then uses it: the edition
//! holds no solution (no file of `solutions/`, no walkthrough, no run of a solution's own
//! lines in any file), its book has no walkthrough entries and builds, and `cargo test -p
//! exercise-iterative` runs in it offline and fails tidily on the untouched stub.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;
use workbook::rubric::registry;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir`, from `dir`, without cargo's target directories.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in fs::read_dir(dir.join(&rel)).unwrap().flatten() {
            let path = rel.join(entry.file_name());
            if entry.path().is_dir() {
                if !entry.path().join("CACHEDIR.TAG").exists() && entry.file_name() != "target" {
                    stack.push(path);
                }
            } else {
                out.push(path.to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// Four lines in a row, trimmed, of at least 12 characters and not comments: a solution's
/// run of them found elsewhere is its code, copied.
fn runs(text: &str, given: &HashSet<String>) -> Vec<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.len() >= 12 && !l.starts_with("//") && !given.contains(*l))
        .collect();
    lines.windows(4).map(|w| w.join("\n")).collect()
}

/// The runs of every solution's own code (the lines the stubs and the kit give aside).
fn solution_runs() -> HashSet<String> {
    let given: HashSet<String> = files(&root())
        .iter()
        .filter(|f| f.starts_with("exercises/") || f.starts_with("crates/kit/"))
        .filter_map(|f| fs::read_to_string(root().join(f)).ok())
        .flat_map(|t| t.lines().map(|l| l.trim().to_string()).collect::<Vec<_>>())
        .collect();
    files(&root().join("solutions"))
        .iter()
        .filter(|f| f.ends_with(".rs"))
        .flat_map(|f| {
            runs(
                &fs::read_to_string(root().join("solutions").join(f)).unwrap(),
                &given,
            )
        })
        .collect()
}

/// Where this test keeps its edition and that edition's target directory, beside the
/// workbook's own: at the same path every run, so that cargo rebuilds only what changed.
fn scratch() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("student-edition")
}

fn export() -> PathBuf {
    let dir = scratch().join("edition");
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap();
    }
    cargo_bin_cmd!("workbook")
        .arg("export")
        .arg(&dir)
        .current_dir(root())
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "solutions: the reference solutions",
        ));
    dir
}

#[test]
fn the_student_edition_holds_no_solution() {
    let dir = export();
    let solutions = solution_runs();
    // The detector must see what it looks for: a solution's own file is full of its runs.
    let own = fs::read_to_string(root().join("solutions/iterative/src/lib.rs")).unwrap();
    assert!(runs(&own, &HashSet::new())
        .iter()
        .any(|r| solutions.contains(r)));
    for file in files(&dir) {
        assert!(
            !file.starts_with("solutions/") && !file.contains("walkthroughs/"),
            "{file} is in the student edition"
        );
        let Ok(text) = fs::read_to_string(dir.join(&file)) else {
            continue;
        };
        if let Some(run) = runs(&text, &HashSet::new())
            .iter()
            .find(|r| solutions.contains(*r))
        {
            panic!("{file} holds a solution's code:\n{run}");
        }
        for package in registry::all().iter().map(|a| a.solution_package()) {
            let dependency = format!("{package} =");
            let dotted = format!("{package}.workspace");
            if file.ends_with("Cargo.toml") {
                assert!(
                    !text.contains(&dependency) && !text.contains(&dotted),
                    "{file} depends on {package}"
                );
            }
        }
    }
    assert!(!dir.join("crates/buggy").exists() && !dir.join("tests").exists());

    let summary = fs::read_to_string(dir.join("book/src/SUMMARY.md")).unwrap();
    assert!(!summary.contains("walkthroughs/") && !summary.contains("# Walkthroughs"));
    for arch in registry::all() {
        assert!(
            summary.contains(&format!("]({}.md)", arch.name)),
            "{summary}"
        );
        assert!(dir.join(arch.chapter()).is_file());
    }
    let readme = fs::read_to_string(dir.join("README.md")).unwrap();
    let workflow = fs::read_to_string(dir.join(".github/workflows/classroom.yml")).unwrap();
    for arch in registry::all() {
        assert!(readme.contains(&format!("`exercises/{}/src/*.rs`", arch.name)));
        let step = format!("grade {} --submission . --format classroom", arch.name);
        assert!(workflow.contains(&step), "{workflow}");
        for script in ["setup.sh", "run_autograder"] {
            let path = dir
                .join("classroom/gradescope")
                .join(arch.name)
                .join(script);
            assert!(path.is_file(), "{}", path.display());
        }
    }

    // The grader of the edition says plainly that it has no solutions.
    cargo_bin_cmd!("workbook")
        .args(["grade", "iterative", "--solution"])
        .current_dir(&dir)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "is the student edition of the workbook",
        ));
    // The book builds, where mdBook is installed (CI installs it).
    if Command::new("mdbook").arg("--version").output().is_ok() {
        let built = Command::new("mdbook")
            .arg("build")
            .arg(dir.join("book"))
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
    } else {
        eprintln!("mdbook is not installed: the edition's book was not built");
    }
    cargo_test_fails_tidily(&dir);
}

/// `cargo test -p exercise-iterative` in the edition, offline, as a student runs it first.
fn cargo_test_fails_tidily(dir: &Path) {
    let target = scratch().join("target");
    seed(&target);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "-q", "--offline", "-p", "exercise-iterative"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the untouched stub passed:\n{stdout}"
    );
    for needed in ["rubric for `iterative`", "score: 0/", "todo!()"] {
        assert!(
            stdout.contains(needed),
            "no {needed:?} in:\n{stdout}\n{stderr}"
        );
    }
    assert!(!stdout.contains("stack backtrace"), "{stdout}");
}

/// Gives an edition's target directory that does not exist yet what the workbook's own build
/// has compiled, so that the edition's first build compiles only its own crates. Cargo still
/// decides what is fresh: the crates.io dependencies built with the same versions and
/// features are, and anything else is built under another name (a crate's file names hash
/// its path, features and versions). The compiled crates are hard links (rustc replaces an
/// output rather than writing into it); the small files cargo itself rewrites in place
/// (fingerprints, build scripts' output) are copies.
fn seed(target: &Path) {
    let debug = target.join("debug");
    if debug.exists() {
        return;
    }
    let ours = scratch().parent().unwrap().join("debug");
    copy_tree(&ours.join("deps"), &debug.join("deps"), true);
    for dir in ["build", ".fingerprint"] {
        copy_tree(&ours.join(dir), &debug.join(dir), false);
    }
}

/// Copies the tree `from` to `to`, with the files' times, each file as a hard link if
/// `link` (a copy where a link fails).
fn copy_tree(from: &Path, to: &Path, link: bool) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).into_iter().flatten().flatten() {
        let (source, dest) = (entry.path(), to.join(entry.file_name()));
        match entry.file_type() {
            Ok(t) if t.is_dir() => copy_tree(&source, &dest, link),
            Ok(t) if t.is_file() && link && fs::hard_link(&source, &dest).is_ok() => {}
            Ok(t) if t.is_file() => {
                fs::copy(&source, &dest).unwrap();
                // Cargo compares times: a copy must look as old as what it copies.
                let modified = entry.metadata().and_then(|m| m.modified()).unwrap();
                let file = fs::File::options().write(true).open(&dest).unwrap();
                file.set_modified(modified).unwrap();
            }
            _ => {}
        }
    }
}

#[test]
fn export_refuses_a_directory_that_is_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    cargo_bin_cmd!("workbook")
        .arg("export")
        .arg(dir.path())
        .current_dir(root())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("exists and is not empty"));
    assert_eq!(
        fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "mine"
    );
}
