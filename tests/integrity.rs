//! Servers that try to earn marks they have not (crates/buggy/src/integrity.rs): each is
//! graded and must get no mark for what it fakes, with a verdict that says what it did, and
//! leave nothing behind.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin_cmd;
use libtest_mimic::{Arguments, Trial};
use workbook::contain::server::Program;
use workbook::contain::{shepherd, sweep};
use workbook::report::{Outcome, Report};
use workbook::rubric::check::{Category, RunMemo};
use workbook::rubric::{common, registry, run};

fn main() -> std::process::ExitCode {
    // The grader re-executes this binary as each server's shepherd.
    shepherd::run_if_requested();
    // Work hidden outside the probed process, and decoys: the gate fails and nothing of the
    // architecture's own counts.
    let gated_cases = GATED.iter().map(|&(arch, bug, gate, says)| {
        Trial::test(format!("gated::{arch}::{bug}"), move || {
            gated(&grade(arch, &[bug]), gate, says);
            Ok(())
        })
    });
    let mut trials: Vec<Trial> = gated_cases.collect();
    trials.extend([
        Trial::test("a_borrowed_port_is_refused_and_never_connected_to", || {
            a_borrowed_port_is_refused_and_never_connected_to();
            Ok(())
        }),
        Trial::test("an_address_off_loopback_is_refused", || {
            an_address_off_loopback_is_refused();
            Ok(())
        }),
        Trial::test("canned_replies_fail_every_correctness_check", || {
            canned_replies_fail_every_correctness_check();
            Ok(())
        }),
        Trial::test(
            "a_flood_of_replies_does_not_fill_the_graders_memory",
            || {
                a_flood_of_replies_does_not_fill_the_graders_memory();
                Ok(())
            },
        ),
        Trial::test("escape_codes_in_stderr_never_reach_the_terminal", || {
            escape_codes_in_stderr_never_reach_the_terminal();
            Ok(())
        }),
        Trial::test(
            "announcing_late_as_the_contract_allows_costs_nothing",
            || {
                announcing_late_as_the_contract_allows_costs_nothing();
                Ok(())
            },
        ),
    ]);
    // Gradings mostly wait: several at once, as tests/prove.rs in crates/buggy does.
    let mut args = Arguments::from_args();
    args.test_threads.get_or_insert(4);
    libtest_mimic::run(&args, trials).exit_code()
}

/// `(architecture, buggy server, gate that must fail, what its verdict must say)`.
const GATED: &[(&str, &str, &str, &str)] = &[
    ("epoll", "clone-sibling", "single-thread", "2 processes"),
    (
        "iterative",
        "clone-sibling",
        "single-process",
        "2 processes",
    ),
    (
        "forking",
        "threaded-decoys",
        "child-per-connection",
        "main process had 21 threads",
    ),
    (
        "forking",
        "polled-decoys",
        "child-per-connection",
        "seen waiting to read its connection",
    ),
    (
        "forking",
        "threaded-as-forking",
        "child-per-connection",
        "0 child process",
    ),
];

fn buggy() -> PathBuf {
    workbook::cargo::build(&PathBuf::from(env!("CARGO_MANIFEST_DIR")), "buggy-servers").unwrap()
}

fn grade(arch: &str, args: &[&str]) -> Report {
    let program = Program {
        path: buggy(),
        args: args.iter().map(Into::into).collect(),
    };
    let report = run::grade(&registry::find(arch).unwrap(), &program, 1, "");
    nothing_left(&report.servers);
    report
}

fn nothing_left(tags: &[String]) {
    sweep::gone_within(tags, Duration::from_secs(5)).unwrap();
}

fn outcome<'a>(report: &'a Report, id: &str) -> &'a Outcome {
    report.outcomes.iter().find(|o| o.check.id == id).unwrap()
}

/// Fails unless `gate` failed saying `says`, and every check of the architecture's own
/// behind it was not graded: the server gets the shared checks' points at most.
fn gated(report: &Report, gate: &str, says: &str) {
    let gate = outcome(report, gate);
    assert!(
        !gate.passed && gate.message.contains(says),
        "{}",
        gate.message
    );
    let shared: Vec<&str> = common::rubric().iter().map(|c| c.id).collect();
    for o in &report.outcomes {
        if !shared.contains(&o.check.id) && o.check.id != gate.check.id {
            assert!(
                !o.passed && o.message.starts_with("not counted"),
                "{}: {}",
                o.check.id,
                o.message
            );
        }
    }
    let most: u32 = common::rubric().iter().map(|c| c.points).sum();
    assert!(report.score() <= most, "{}", report.score());
}

fn a_borrowed_port_is_refused_and_never_connected_to() {
    // A real echo server, outside the graded program's tree: serving its clients would earn
    // the marks, if the grader connected to it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::Relaxed);
            std::thread::spawn(move || {
                let mut line = Vec::new();
                let mut reader = BufReader::new(&stream);
                while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                    let _ = (&stream).write_all(&line);
                    line.clear();
                }
            });
        }
    });
    let report = grade("iterative", &["borrowed-port", &port]);
    assert_eq!(report.score(), 0);
    for o in &report.outcomes {
        assert!(
            o.message.contains("no process the server started holds it"),
            "{}",
            o.message
        );
    }
    assert_eq!(
        connections.load(Ordering::Relaxed),
        0,
        "the grader connected"
    );
}

fn an_address_off_loopback_is_refused() {
    let report = grade("iterative", &["off-loopback"]);
    assert_eq!(report.score(), 0);
    let first = &report.outcomes[0];
    assert!(
        first.message.contains("10.20.30.40:80"),
        "{}",
        first.message
    );
    assert!(
        first.message.contains("connects only to 127.0.0.1"),
        "{}",
        first.message
    );
}

fn canned_replies_fail_every_correctness_check() {
    let arch = registry::find("iterative").unwrap();
    let program = Program {
        path: buggy(),
        args: vec!["canned-replies".into()],
    };
    let memo = Arc::new(RunMemo::new(1));
    let correctness = arch
        .checks
        .iter()
        .filter(|c| c.category == Category::Correctness);
    for &check in correctness {
        let outcome = run::run_graded(&arch, check, &program, &memo);
        assert!(!outcome.passed, "{} passed on canned replies", check.id);
    }
    nothing_left(&memo.tags());
}

/// Polls the grader's peak resident memory (VmHWM) until it exits; returns the last seen.
fn peak_rss_kib(mut child: std::process::Child, within: Duration) -> u64 {
    let deadline = Instant::now() + within;
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the grader did not finish");
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()));
        if let Some(kib) = status.ok().and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        }) {
            peak = kib;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    peak
}

fn a_flood_of_replies_does_not_fill_the_graders_memory() {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_workbook"))
        .args(["grade", "iterative", "--format", "json", "--"])
        .arg(buggy())
        .arg("flood-replies")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let peak = peak_rss_kib(child, Duration::from_secs(300));
    assert!(peak < 64 * 1024, "the grader's peak RSS was {peak} KiB");
}

fn escape_codes_in_stderr_never_reach_the_terminal() {
    let out = cargo_bin_cmd!("workbook")
        .args(["grade", "iterative", "--color", "never", "--"])
        .arg(buggy())
        .arg("forged-score")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\x1b'), "{text}");
    assert!(
        text.contains("\\u{1b}[2J"),
        "the escape is shown escaped: {text}"
    );
    assert!(text.contains("Score: 0/115"), "{text}");
}

fn announcing_late_as_the_contract_allows_costs_nothing() {
    // sigterm starts the server twice: 18 s of announcing, within its 20 s limit only
    // because announcing does not count.
    let arch = registry::find("iterative").unwrap();
    let sigterm = arch.checks.iter().find(|c| c.id == "sigterm").unwrap();
    let program = Program {
        path: buggy(),
        args: vec!["slow-announce".into()],
    };
    let memo = Arc::new(RunMemo::new(1));
    let outcome = run::run_graded(&arch, sigterm, &program, &memo);
    assert!(outcome.passed, "{}", outcome.message);
    nothing_left(&memo.tags());
}
