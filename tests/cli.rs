//! The `workbook` command line as a user meets it: bad input gets a clear message and exit
//! status 2; the reference solution scores full marks in JSON; a server written in C is
//! graded like any other; the human rubric of a buggy server is pinned by a snapshot.

use std::path::PathBuf;
use std::process::Command;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn no_command_shows_usage() {
    cargo_bin_cmd!("workbook")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Usage: workbook"));
}

#[test]
fn unknown_architecture_is_named() {
    cargo_bin_cmd!("workbook")
        .args(["grade", "nosuch"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown architecture"))
        .stderr(predicate::str::contains("iterative"));
}

#[test]
fn unknown_flag_is_refused() {
    cargo_bin_cmd!("workbook")
        .args(["grade", "iterative", "--colour"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--colour"));
}

#[test]
fn missing_program_is_named() {
    cargo_bin_cmd!("workbook")
        .args(["grade", "iterative", "--", "./no/such/server"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no such program"));
}

#[test]
fn list_shows_every_architecture() {
    let out = cargo_bin_cmd!("workbook")
        .arg("list")
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for arch in workbook::rubric::registry::names() {
        assert!(text.contains(arch), "{arch} missing from:\n{text}");
    }
}

#[test]
fn rubric_is_data() {
    let out = cargo_bin_cmd!("workbook")
        .args(["rubric", "iterative", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let rubric: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = rubric["checks"].as_array().unwrap();
    let sum: u64 = checks.iter().map(|c| c["points"].as_u64().unwrap()).sum();
    assert_eq!(rubric["max_score"].as_u64(), Some(sum));
    for check in checks {
        for field in ["id", "category", "summary", "hint", "book"] {
            assert!(
                check[field].as_str().is_some_and(|s| !s.is_empty()),
                "{check}"
            );
        }
    }
}

#[test]
fn solution_gets_full_marks_in_json() {
    let out = cargo_bin_cmd!("workbook")
        .args(["grade", "iterative", "--solution", "--format", "json"])
        .current_dir(root())
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(report["score"], report["max_score"], "{report:#}");
    assert_eq!(report["arch"], "iterative");
    assert!(out.status.success());
    for check in report["checks"].as_array().unwrap() {
        assert_eq!(check["passed"], true, "{check}");
        assert!(check["duration_ms"].is_u64());
    }
}

#[test]
fn a_server_written_in_c_is_graded() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("echo");
    let status = Command::new("cc")
        .args(["-O2", "-Wall", "-o"])
        .arg(&exe)
        .arg(root().join("tests/fixtures/echo.c"))
        .status()
        .expect("a C compiler (cc) is needed for this test");
    assert!(status.success());
    cargo_bin_cmd!("workbook")
        .args(["grade", "iterative", "--format", "gradescope", "--"])
        .arg(&exe)
        .assert()
        .success()
        .stdout(predicate::str::contains("\"status\": \"passed\""))
        .stdout(predicate::str::contains("\"status\": \"failed\"").not());
}

#[test]
fn human_rubric_of_a_buggy_server() {
    let (stdout, buggy) = grade_unflushed_at_eof(&["--color", "never"]);
    let text = String::from_utf8(stdout).unwrap();
    let path = buggy.to_string_lossy().into_owned();
    insta::with_settings!({filters => vec![
        (regex_escape(&path).as_str(), "[buggy-servers]"),
        (r"\(\d+(\.\d+)? m?s\)", "([duration])"),
        (r"\(\d+(\.\d+)? m?s;", "([duration];"),
    ]}, {
        insta::assert_snapshot!(text);
    });
}

/// Grades the buggy server `unflushed-at-eof` (it fails `half-close` alone) as iterative,
/// with `options` before the `--`. Asserts that the grader exits with 1 (not full marks);
/// returns its stdout and the buggy server's path.
fn grade_unflushed_at_eof(options: &[&str]) -> (Vec<u8>, PathBuf) {
    let buggy = workbook::cargo::build(&root(), "buggy-servers").unwrap();
    let out = cargo_bin_cmd!("workbook")
        // A fixed seed: the snapshot shows the random lines the checks sent.
        .args(["grade", "iterative", "--seed", "1"])
        .args(options)
        .arg("--")
        .arg(&buggy)
        .arg("unflushed-at-eof")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "not full marks: exit status 1");
    (out.stdout, buggy)
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[test]
fn classroom_result_gives_points_per_check() {
    let (stdout, _) = grade_unflushed_at_eof(&["--format", "classroom"]);
    let result: Value = serde_json::from_slice(&stdout).expect("stdout is JSON");
    assert_eq!(result["version"], 1);
    assert_eq!(result["status"], "fail");
    let max = workbook::rubric::registry::find("iterative")
        .unwrap()
        .max_score();
    assert_eq!(result["max_score"], max);
    let tests = result["tests"].as_array().unwrap();
    let failed: Vec<&Value> = tests.iter().filter(|t| t["status"] == "fail").collect();
    assert_eq!(failed.len(), 1, "only half-close fails: {result:#}");
    assert!(failed[0]["name"]
        .as_str()
        .unwrap()
        .starts_with("half-close: "));
    assert_eq!(failed[0]["score"], 0);
    assert!(failed[0]["message"]
        .as_str()
        .unwrap()
        .contains("read: book/src/contract.md#the-end-of-a-connection"));
    let score: u64 = tests.iter().map(|t| t["score"].as_u64().unwrap()).sum();
    assert_eq!(score, u64::from(max) - 10, "half-close is worth 10");
}

/// As root, the grader runs a server under a uid of its own, so that `RLIMIT_NPROC` binds
/// (`fork-failure` relies on it). A binary in a directory that uid cannot search (a fresh
/// `mktemp -d` is mode 0700) must still run under it, not fall back to root and be killed by
/// the watchdog's cap instead of seeing `fork` fail.
#[test]
fn a_binary_in_a_private_directory_gets_full_marks() {
    let solution = workbook::cargo::build(&root(), "solution-forking").unwrap();
    let private = tempfile::tempdir().unwrap();
    let owner_only = std::os::unix::fs::PermissionsExt::from_mode(0o700);
    std::fs::set_permissions(private.path(), owner_only).unwrap();
    let copy = private.path().join("solution-forking");
    std::fs::copy(&solution, &copy).unwrap();
    let out = cargo_bin_cmd!("workbook")
        .args(["grade", "forking", "--format", "json", "--"])
        .arg(&copy)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(report["score"], report["max_score"], "{report:#}");
}

#[test]
fn one_check_can_be_run_again_and_an_unknown_one_is_refused() {
    let buggy = workbook::cargo::build(&root(), "buggy-servers").unwrap();
    let out = cargo_bin_cmd!("workbook")
        .args(["grade", "iterative", "--seed", "7", "--check", "half-close"])
        .args(["--format", "json", "--"])
        .arg(&buggy)
        .arg("unflushed-at-eof")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1, "{report:#}");
    assert_eq!(checks[0]["id"], "half-close");
    let again = checks[0]["again"].as_str().unwrap();
    assert!(
        again.starts_with("cargo run -q -- grade iterative --seed 7 --check half-close -- "),
        "{again}"
    );
    cargo_bin_cmd!("workbook")
        .args(["grade", "iterative", "--check", "no-such-check"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "iterative has no check `no-such-check`",
        ));
}

/// JUnit XML, read back with an XML parser: one `<testcase>` per check, the counts in the
/// suite's attributes agree with them, and only `half-close` has a `<failure>`, which says
/// what its verdict says. The whole document is pinned by a snapshot.
#[test]
fn junit_xml_has_a_testcase_per_check() {
    use quick_xml::events::Event;
    use quick_xml::XmlVersion;

    let (stdout, buggy) = grade_unflushed_at_eof(&["--format", "junit"]);
    let text = String::from_utf8(stdout).unwrap();
    let mut reader = quick_xml::Reader::from_str(&text);
    let (mut cases, mut failed, mut suite_tests, mut suite_failures) = (0, Vec::new(), 0, 0);
    let mut case = String::new();
    let attr = |e: &quick_xml::events::BytesStart, name: &str| -> String {
        e.try_get_attribute(name)
            .unwrap()
            .map(|a| {
                a.normalized_value(XmlVersion::Explicit1_0)
                    .unwrap()
                    .into_owned()
            })
            .unwrap_or_default()
    };
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) => match e.name().0 {
                "testsuite" => {
                    suite_tests = attr(&e, "tests").parse().unwrap();
                    suite_failures = attr(&e, "failures").parse().unwrap();
                }
                "testcase" => {
                    cases += 1;
                    case = attr(&e, "name");
                    assert!(attr(&e, "classname").starts_with("iterative."), "{case}");
                }
                "failure" => failed.push((case.clone(), attr(&e, "message"))),
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    let checks = workbook::rubric::registry::find("iterative")
        .unwrap()
        .checks
        .len();
    assert_eq!((cases, suite_tests), (checks, checks));
    assert_eq!(suite_failures, 1);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "half-close");
    assert!(failed[0].1.starts_with("sent "), "{failed:?}");

    let path = buggy.to_string_lossy().into_owned();
    insta::with_settings!({filters => vec![
        (regex_escape(&path).as_str(), "[buggy-servers]"),
        (r#"time="\d+\.\d+""#, r#"time="[seconds]""#),
    ]}, {
        insta::assert_snapshot!(text);
    });
}
