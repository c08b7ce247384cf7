//! Proves the grader: every known-buggy server in `src/` is graded with its architecture's
//! rubric and must get the verdict its [`Bug`] states: exactly the checks it lists fail, the
//! first of them with a message that names the bug, and nothing it started is left running.
//!
//! One test per server (libtest-mimic): `cargo test -p buggy-servers -- fork-bomb` grades
//! one.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use buggy_servers::{Bug, Fails};
use libtest_mimic::{Arguments, Failed, Trial};
// Everything this test uses of the grader.
use workbook::arch::{self, Arch};
use workbook::server::Program;
use workbook::{contain, run, shepherd};

fn main() -> ExitCode {
    // The grader runs each server under a shepherd, a copy of this very program.
    shepherd::run_if_requested();
    let args = Arguments::from_args();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_buggy-servers"));
    let trial = |bug: &'static Bug| {
        let exe = exe.clone();
        Trial::test(bug.name, move || prove(bug, exe)).with_kind(bug.arch)
    };
    let (alone, together): (Vec<&Bug>, Vec<&Bug>) = buggy_servers::all().partition(|b| b.alone);
    let first = libtest_mimic::run(&args, together.into_iter().map(trial).collect());
    // Servers that load the whole machine are graded on their own, so that they cannot
    // disturb the timing of another grading.
    let mut args = args;
    args.test_threads = Some(1);
    let second = libtest_mimic::run(&args, alone.into_iter().map(trial).collect());
    if first.has_failed() || second.has_failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Grades `bug` and compares the verdict with its expectation.
fn prove(bug: &Bug, exe: PathBuf) -> Result<(), Failed> {
    let arch = arch::find(bug.arch).ok_or(format!("no architecture {:?}", bug.arch))?;
    let program = Program {
        path: exe,
        args: vec![bug.name.into()],
    };
    let report = run::grade(&arch, &program);
    no_process_left(&report.servers)?;
    let failed: BTreeSet<&str> = report
        .outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.check.id)
        .collect();
    let expected: BTreeSet<&str> = match bug.fails {
        Fails::Exactly(ids) => ids.iter().copied().collect(),
        Fails::Every => arch.checks.iter().map(|c| c.id).collect(),
    };
    if failed != expected {
        return Err(format!(
            "expected exactly {expected:?} to fail, but {failed:?} failed\n{}",
            report.render(false)
        )
        .into());
    }
    let first = first_failure(bug, &arch);
    let outcome = report
        .outcomes
        .iter()
        .find(|o| o.check.id == first)
        .ok_or(format!("`{first}` was not graded"))?;
    if !outcome.message.contains(bug.says) {
        return Err(format!(
            "`{first}` failed, but its message does not say {:?}:\n{}",
            bug.says, outcome.message
        )
        .into());
    }
    Ok(())
}

/// The check whose message must say `bug.says`.
fn first_failure(bug: &Bug, arch: &Arch) -> &'static str {
    match bug.fails {
        Fails::Exactly(ids) => ids[0],
        Fails::Every => arch.checks[0].id,
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
