//! `workbook gradescope ARCH DIR`, run as Gradescope runs it: `run_autograder` in a
//! directory laid out as `/autograder` is (`source/` the unpacked zip, `submission/` the
//! student's files, `results/`), for a correct and a buggy submission, with the score read
//! from `results/results.json`.
//!
//! `setup.sh` installs Rust and builds the grader, which needs the network: here the grader
//! it would build is the one under test, put where `setup.sh` puts it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::Value;
use workbook::rubric::registry;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An `/autograder` for `iterative`, with the upload `lib.rs` (as a student uploads it, the
/// file alone) graded; returns `results/results.json`.
fn autograde(lib: &str) -> Value {
    let autograder = tempfile::tempdir().unwrap();
    let (source, submission) = (
        autograder.path().join("source"),
        autograder.path().join("submission"),
    );
    cargo_bin_cmd!("workbook")
        .args(["gradescope", "iterative"])
        .arg(&source)
        .current_dir(root())
        .assert()
        .success();
    for script in ["setup.sh", "run_autograder"] {
        assert!(
            source.join(script).is_file(),
            "no {script} at the zip's root"
        );
    }
    assert!(!source.join("workbook/solutions").exists());
    // What setup.sh builds; Gradescope copies run_autograder to /autograder and runs it.
    let release = source.join("workbook/target/release");
    fs::create_dir_all(&release).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_workbook"), release.join("workbook")).unwrap();
    fs::copy(
        source.join("run_autograder"),
        autograder.path().join("run_autograder"),
    )
    .unwrap();
    fs::create_dir_all(&submission).unwrap();
    fs::write(submission.join("lib.rs"), lib).unwrap();
    let out = Command::new(autograder.path().join("run_autograder"))
        .current_dir(Path::new("/"))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "run_autograder failed:\n{log}");
    let results = fs::read(autograder.path().join("results/results.json")).unwrap();
    serde_json::from_slice(&results).unwrap_or_else(|e| panic!("results.json: {e}\n{log}"))
}

fn max_score() -> u64 {
    registry::find("iterative").unwrap().max_score().into()
}

#[test]
fn a_correct_and_a_buggy_submission_get_their_scores() {
    let solution = fs::read_to_string(root().join("solutions/iterative/src/lib.rs")).unwrap();
    let results = autograde(&solution);
    assert_eq!(results["score"].as_u64(), Some(max_score()), "{results:#}");
    let tests = results["tests"].as_array().unwrap();
    assert!(tests.iter().all(|t| t["status"] == "passed"), "{results:#}");

    // The same server, but it closes at once on an over-long line without saying so.
    let buggy = solution.replace("writer.write_all(TOO_LONG)?;", "");
    assert_ne!(buggy, solution, "the bug must be in the file");
    let results = autograde(&buggy);
    let score = results["score"].as_u64().unwrap();
    assert!(score > 0 && score < max_score(), "{results:#}");
    let too_long = tests_named(&results, "too-long");
    assert_eq!(too_long["status"], "failed", "{results:#}");
    assert_eq!(too_long["score"], 0);
}

fn tests_named<'a>(results: &'a Value, id: &str) -> &'a Value {
    results["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            t["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!("{id} ")))
        })
        .unwrap_or_else(|| panic!("no test {id} in {results:#}"))
}

#[test]
fn a_refused_submission_gets_a_verdict_in_results_json() {
    let results = autograde("include!(\"/autograder/source/workbook/src/lib.rs\");\n");
    assert_eq!(results["score"], 0, "{results:#}");
    let output = results["tests"][0]["output"].as_str().unwrap();
    assert!(
        output.contains("not built: lib.rs:1: `include!`"),
        "{output}"
    );
}
