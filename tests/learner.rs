//! The learner's tools, run as a learner runs them: `workbook hint`, `reset`, `list` in a
//! small workspace of their own (a temporary directory laid out like the workbook, with a
//! git history), and `workbook watch` on the real exercise, which it grades again when a
//! file is saved.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use predicates::prelude::*;
use workbook::learner::progress::{self, Progress, Record};
use workbook::learner::stub;

const STUB: &str = "exercises/iterative/src";

/// A workspace with the iterative stub, committed as shipped.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let real = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(root.join(STUB)).unwrap();
    std::fs::write(root.join("Cargo.toml"), "").unwrap();
    for name in ["lib.rs", "main.rs"] {
        std::fs::copy(real.join(STUB).join(name), root.join(STUB).join(name)).unwrap();
    }
    let shipped = stub::fingerprint(&stub::current(root, "iterative"));
    std::fs::write(
        root.join("exercises/pristine.txt"),
        format!("iterative {shipped:016x}\n"),
    )
    .unwrap();
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "shipped",
        ],
    ] {
        assert!(Command::new("git")
            .args(args)
            .current_dir(root)
            .status()
            .unwrap()
            .success());
    }
    dir
}

fn workbook(root: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("workbook").unwrap();
    cmd.current_dir(root).env_remove(progress::DIR_VAR);
    cmd
}

fn failed(root: &Path, checks: &[&str]) {
    let mut progress = Progress::default();
    progress.archs.insert(
        "iterative".into(),
        Record {
            best: 40,
            last: 30,
            max_score: workbook::rubric::registry::find("iterative")
                .unwrap()
                .max_score(),
            failed: checks.iter().map(|c| c.to_string()).collect(),
            hints: Default::default(),
        },
    );
    std::fs::create_dir_all(root.join(".workbook")).unwrap();
    std::fs::write(
        root.join(".workbook/progress.json"),
        serde_json::to_string(&progress).unwrap(),
    )
    .unwrap();
}

#[test]
fn hint_gives_the_hint_then_where_to_look() {
    let ws = workspace();
    let root = ws.path();
    workbook(root)
        .args(["hint", "iterative"])
        .assert()
        .success()
        .stdout(predicate::str::contains("not graded yet").and(predicate::str::contains("hint: ")));
    failed(root, &["half-close", "reset"]);
    workbook(root)
        .args(["hint", "iterative"])
        .assert()
        .success()
        .stdout(
            predicate::str::starts_with("half-close: ")
                .and(predicate::str::contains("read: book/src/"))
                .and(predicate::str::contains("ask again"))
                .and(predicate::str::contains("where to look").not()),
        );
    workbook(root)
        .args(["hint", "iterative"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("where to look:")
                .and(predicate::str::contains("exercises/iterative/src/lib.rs:"))
                .and(predicate::str::contains("pub fn handle_connection"))
                .and(predicate::str::contains("// TODO: at EOF")),
        );
    workbook(root)
        .args(["hint", "iterative", "no-such-check"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no check `no-such-check`"));
}

#[test]
fn list_shows_best_last_and_what_is_next() {
    let ws = workspace();
    failed(ws.path(), &["half-close"]);
    workbook(ws.path()).arg("list").assert().success().stdout(
        predicate::str::is_match(r"iterative .* 40/\d+ +30/\d+")
            .unwrap()
            .and(predicate::str::contains("next: iterative")),
    );
}

#[test]
fn reset_asks_keeps_your_files_and_restores_the_stub() {
    let ws = workspace();
    let root = ws.path();
    let lib = root.join(STUB).join("lib.rs");
    let shipped = std::fs::read(&lib).unwrap();
    std::fs::write(&lib, "pub fn serve() {} // my work\n").unwrap();
    std::fs::write(root.join(STUB).join("extra.rs"), "// mine too\n").unwrap();
    workbook(root)
        .args(["reset", "iterative"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("replacing: extra.rs, lib.rs"))
        .stderr(predicate::str::contains("--yes"));
    assert_eq!(
        std::fs::read_to_string(&lib).unwrap(),
        "pub fn serve() {} // my work\n"
    );
    workbook(root)
        .args(["reset", "iterative", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "your versions are in .workbook/backups/iterative-",
        ));
    assert_eq!(std::fs::read(&lib).unwrap(), shipped);
    assert!(!root.join(STUB).join("extra.rs").exists());
    assert!(stub::pristine(root, "iterative").is_ok());
    let backups: Vec<_> = std::fs::read_dir(root.join(".workbook/backups"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(backups.len(), 1);
    let kept = backups[0].path();
    assert_eq!(
        std::fs::read_to_string(kept.join("lib.rs")).unwrap(),
        "pub fn serve() {} // my work\n"
    );
    assert!(kept.join("extra.rs").is_file());
    workbook(root)
        .args(["reset", "iterative", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("already the stub as shipped"));
}

#[test]
fn reset_without_history_says_why() {
    let ws = workspace();
    std::fs::remove_dir_all(ws.path().join(".git")).unwrap();
    std::fs::write(ws.path().join(STUB).join("lib.rs"), "// changed\n").unwrap();
    workbook(ws.path())
        .args(["reset", "iterative", "--yes"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("git"));
}

/// `workbook watch` grades the real exercise at once and again after a save; a save here
/// writes the file's own bytes back, so the exercise is left as it was.
#[test]
fn watch_grades_again_when_a_file_is_saved() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let record = tempfile::tempdir().unwrap();
    let mut child = Command::cargo_bin("workbook")
        .unwrap()
        .args(["watch", "iterative"])
        .current_dir(root)
        .env(progress::DIR_VAR, record.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Until a `score:` line: the first grading includes a build.
    let score = |within: Duration| -> Result<String, String> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with("score: ") => return Ok(line),
                Ok(line) => seen.push(line),
                Err(_) => return Err(seen.join("\n")),
            }
        }
    };
    let first = score(Duration::from_secs(300));
    let lib = root.join(STUB).join("lib.rs");
    let bytes = std::fs::read(&lib).unwrap();
    std::fs::write(&lib, &bytes).unwrap();
    let second = score(Duration::from_secs(120));
    let _ = child.kill();
    let _ = child.wait();
    let first = first.expect("a first grading");
    let second = second.expect("a grading after the save");
    assert_eq!(first, second, "the same files get the same score");
    let file = std::fs::read(record.path().join("progress.json")).unwrap();
    let progress: Progress = serde_json::from_slice(&file).unwrap();
    assert!(progress.archs.contains_key("iterative"));
}
