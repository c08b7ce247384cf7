//! Proves the grader: every known-buggy server (crates/buggy) is graded with its
//! architecture's full rubric, and exactly the checks aimed at its bug must fail, the first
//! of them with a message that names the bug. After each, nothing it started may remain.
//!
//! One test per server (libtest-mimic): `cargo test --test buggy -- fork-bomb` runs one.

#[path = "buggy/common.rs"]
mod common;
#[path = "buggy/epoll.rs"]
mod epoll;
#[path = "buggy/forking.rs"]
mod forking;
#[path = "buggy/hostile.rs"]
mod hostile;
#[path = "buggy/threaded.rs"]
mod threaded;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use workbook::cargo;
use workbook::contain::server::Program;
use workbook::contain::{shepherd, sweep as contain};
use workbook::rubric::{registry as arch, run};

/// A buggy server and the verdict it must get.
pub struct Case {
    /// The server's name in `buggy-servers`.
    pub bug: &'static str,
    /// The rubric it is graded with.
    pub arch: &'static str,
    /// The checks that must fail, no more and no fewer; the first is the one aimed at the
    /// bug. `&["*"]` means every check.
    pub fails: &'static [&'static str],
    /// Words the first failing check's message must contain.
    pub says: &'static str,
    /// Graded while no other grading runs: it loads the whole machine.
    pub alone: bool,
}

fn main() -> ExitCode {
    shepherd::run_if_requested();
    let args = Arguments::from_args();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let exe = match cargo::build(&root, "buggy-servers") {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let cases = [
        common::CASES,
        hostile::CASES,
        forking::CASES,
        threaded::CASES,
        epoll::CASES,
    ];
    let trial = |case: &'static Case| {
        let exe = exe.clone();
        Trial::test(format!("{}::{}", case.arch, case.bug), move || {
            prove(case, exe)
        })
    };
    let (alone, together): (Vec<&Case>, Vec<&Case>) =
        cases.into_iter().flatten().partition(|c| c.alone);
    let first = libtest_mimic::run(&args, together.into_iter().map(trial).collect());
    // Servers that load the whole machine (a fork bomb fills both cores) are graded on their
    // own, so that they cannot disturb the timing of another grading.
    let mut args = args;
    args.test_threads = Some(1);
    let second = libtest_mimic::run(&args, alone.into_iter().map(trial).collect());
    if first.has_failed() || second.has_failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn prove(case: &Case, exe: PathBuf) -> Result<(), Failed> {
    let arch = arch::find(case.arch).ok_or(format!("no architecture {:?}", case.arch))?;
    let program = Program {
        path: exe,
        args: vec![case.bug.into()],
    };
    let report = run::grade(&arch, &program, run::fresh_seed(), "");
    no_process_left(&report.servers)?;
    let failed: BTreeSet<&str> = report
        .outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.check.id)
        .collect();
    let expected: BTreeSet<&str> = if case.fails == ["*"] {
        arch.checks.iter().map(|c| c.id).collect()
    } else {
        case.fails.iter().copied().collect()
    };
    if failed != expected {
        return Err(format!(
            "expected exactly {expected:?} to fail, but {failed:?} failed\n{}",
            workbook::report::render(&report, workbook::report::Format::Human, false)
        )
        .into());
    }
    let aimed = expected_first(case, &arch);
    let outcome = report
        .outcomes
        .iter()
        .find(|o| o.check.id == aimed)
        .unwrap();
    if !outcome.message.contains(case.says) {
        return Err(format!(
            "`{aimed}` failed, but its message does not say {:?}:\n{}",
            case.says, outcome.message
        )
        .into());
    }
    Ok(())
}

fn expected_first(case: &Case, arch: &arch::Arch) -> &'static str {
    match case.fails {
        ["*"] => arch.checks[0].id,
        fails => fails[0],
    }
}

/// Nothing this grading started may be alive: no process carrying the tag of one of its
/// servers, anywhere on the machine. (Other trials run at the same time, so this process's
/// descendants are not a measure.)
fn no_process_left(tags: &[String]) -> Result<(), Failed> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = contain::alive(tags);
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("processes left behind: {left:?}").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
