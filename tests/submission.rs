//! `workbook grade ARCH --submission DIR` against the tampered submissions of issue 13: an
//! edited `tests/grade.rs` is ignored, a `#[path]` to a solution, an `include_str!`, a
//! build script, a changed `Cargo.toml` and a symbolic link are refused with a verdict
//! instead of a build, an untouched stub fails, and the reference solution's files get
//! full marks, for one crate and for an exercise that builds on another.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::Value;

/// Gradings that run servers, one at a time: their timing checks must not share the cores.
static GRADING: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A submission laid out as the workbook, with the files `(path, text)`.
fn submission(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let to = dir.path().join(path);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::write(to, text).unwrap();
    }
    dir
}

fn source(path: &str) -> String {
    fs::read_to_string(root().join(path)).unwrap()
}

/// Grades `dir` for `arch` in JSON: the report, the grader's standard error, its exit code.
fn grade(arch: &str, dir: &Path) -> (Value, String, i32) {
    let out = cargo_bin_cmd!("workbook")
        .args(["grade", arch, "--format", "json", "--submission"])
        .arg(dir)
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}); stderr:\n{stderr}"));
    (report, stderr, out.status.code().unwrap_or(-1))
}

/// Asserts that the submission was refused: no points, every check saying `why`.
fn refused(dir: &Path, why: &str) {
    let (report, stderr, code) = grade("iterative", dir);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(report["score"], 0, "{report:#}");
    for check in report["checks"].as_array().unwrap() {
        let message = check["message"].as_str().unwrap();
        assert!(message.starts_with("not built: "), "{message}");
        assert!(message.contains(why), "{message} lacks {why:?}");
    }
}

const LIB: &str = "exercises/iterative/src/lib.rs";

#[test]
fn a_path_to_a_solution_is_refused() {
    let solution = root().join("solutions/iterative/src/lib.rs");
    let lib = format!(
        "#[path = {:?}]\nmod solved;\npub use solved::*;\n",
        solution
    );
    refused(submission(&[(LIB, &lib)]).path(), "lib.rs:1: `#[path]`");
}

#[test]
fn a_file_read_at_build_time_is_refused() {
    let lib = format!(
        "{}\nconst _S: &str = include_str!(\"../../../solutions/iterative/src/lib.rs\");\n",
        source(LIB)
    );
    refused(
        submission(&[(LIB, &lib)]).path(),
        "`include_str!` reads a file",
    );
}

#[test]
fn a_build_script_is_refused() {
    let build = "fn main() { println!(\"cargo:warning={}\", std::fs::read_to_string(\"/etc/hostname\").unwrap()); }";
    let dir = submission(&[(LIB, &source(LIB)), ("exercises/iterative/build.rs", build)]);
    refused(dir.path(), "exercises/iterative/build.rs: a build script");
}

#[test]
fn a_changed_manifest_is_refused() {
    let manifest = source("exercises/iterative/Cargo.toml").replace(
        "[dependencies]",
        "[dependencies]\nsolution-iterative.workspace = true",
    );
    let dir = submission(&[
        (LIB, &source(LIB)),
        ("exercises/iterative/Cargo.toml", &manifest),
    ]);
    refused(
        dir.path(),
        "exercises/iterative/Cargo.toml: it differs from the workbook's",
    );
}

#[test]
fn a_symbolic_link_is_refused() {
    let dir = submission(&[]);
    fs::create_dir_all(dir.path().join("exercises/iterative/src")).unwrap();
    std::os::unix::fs::symlink(
        root().join("solutions/iterative/src/lib.rs"),
        dir.path().join(LIB),
    )
    .unwrap();
    refused(dir.path(), "it is a symbolic link");
}

#[test]
fn code_that_does_not_compile_gets_the_compilers_messages() {
    let dir = submission(&[(LIB, "pub fn serve( {\n")]);
    let (report, stderr, code) = grade("iterative", dir.path());
    assert_eq!((code, report["score"].as_u64()), (1, Some(0)), "{stderr}");
    let message = report["checks"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the submission did not build:"),
        "{message}"
    );
    assert!(message.contains("error"), "{message}");
}

#[test]
fn an_untouched_stub_fails_and_an_edited_grade_rs_is_ignored() {
    // The tampering: a grade.rs that reports success without grading anything.
    let grade_rs = "fn main() { println!(\"score: 115/115\"); }\n";
    let dir = submission(&[
        (LIB, &source(LIB)),
        (
            "exercises/iterative/src/main.rs",
            &source("exercises/iterative/src/main.rs"),
        ),
        ("exercises/iterative/tests/grade.rs", grade_rs),
        ("notes/todo.txt", "not part of the workbook, not listed"),
    ]);
    let _alone = GRADING.lock().unwrap_or_else(|e| e.into_inner());
    let (report, stderr, code) = grade("iterative", dir.path());
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(report["score"], 0, "{report:#}");
    assert!(
        stderr.contains("ignored (not among the files graded for iterative")
            && stderr.contains("exercises/iterative/tests/grade.rs")
            && !stderr.contains("notes/todo.txt"),
        "{stderr}"
    );
    if nix::unistd::Uid::effective().is_root() {
        assert!(stderr.contains("built as uid 65534"), "{stderr}");
    } else {
        assert!(
            stderr.contains("not root: the submission was built as you"),
            "{stderr}"
        );
    }
    for check in report["checks"].as_array().unwrap() {
        assert!(
            check["message"].as_str().unwrap().contains("todo!()"),
            "{check}"
        );
    }
}

/// Grades the reference solution's files of `arch` as a submission of `files`: full marks.
fn full_marks(arch: &str, files: &[(&str, String)]) {
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let dir = submission(&files);
    let _alone = GRADING.lock().unwrap_or_else(|e| e.into_inner());
    let (report, stderr, code) = grade(arch, dir.path());
    assert_eq!(report["score"], report["max_score"], "{report:#}\n{stderr}");
    assert_eq!(code, 0);
}

#[test]
fn the_reference_solution_as_a_submission_gets_full_marks() {
    full_marks(
        "iterative",
        &[(LIB, source("solutions/iterative/src/lib.rs"))],
    );
}

#[test]
fn an_exercise_that_builds_on_another_is_graded_with_both() {
    // The threaded solution, as a student writes it: on their own iterative crate.
    let threaded = source("solutions/threaded/src/lib.rs")
        .replace("solution_iterative::", "exercise_iterative::");
    full_marks(
        "threaded",
        &[
            (LIB, source("solutions/iterative/src/lib.rs")),
            ("exercises/threaded/src/lib.rs", threaded),
        ],
    );
}
