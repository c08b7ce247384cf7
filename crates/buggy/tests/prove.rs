//! Proves the grader: every known-buggy server in `src/` is graded with its architecture's
//! rubric and must get the verdict its [`Bug`] states: exactly the checks it lists fail, the
//! first of them with a message that names the bug (and others, listed in an
//! [`buggy_servers::Also`], with theirs), and nothing it started is left running.
//!
//! One test per server (libtest-mimic): `cargo test -p buggy-servers -- fork-bomb` grades
//! one. One more, `coverage`, grades nothing: it checks that the table names real checks and
//! that every check of every architecture is the aimed one (the first listed) of some
//! server, so that each check is proven to catch a bug with a message that says what it is.
//!
//! # What is graded
//! A server is graded on the checks it must fail and, as a guard, on every correctness check
//! of its rubric, which it must pass unless it lists them. The other checks are left out,
//! and the proof holds without them:
//! - every check a server must fail is graded, the first must say the words it lists, and
//!   nothing of the server may be alive afterwards, as when whole rubrics were graded;
//! - that a left-out check passes a correct server is proven by the reference solutions'
//!   full-marks tests (`solutions/*/tests/grade.rs`), and each buggy server is a reference
//!   design with one part changed (`Lines`, `Forking`, `Flaws` in `src/`), so a left-out
//!   check could fail only through that part;
//! - that part could reach beyond its target through the echo itself, which every check
//!   relies on: the guard grades the echo, in well under a second when it is right.
//!
//! `BUGGY_FULL=1 cargo test -p buggy-servers` grades every check and so also asserts that
//! no other check fails: worth running after a check has changed.
//!
//! # Time
//! Gradings run [`AT_ONCE`] at a time, more than there are cores: a grading mostly waits
//! (for a reply that does not come, a deadline, a process to end). The longest start first;
//! servers that load the whole machine ([`Bug::alone`], named `alone::NAME`) are graded
//! afterwards, one at a time. On two cores this takes about 100 s and then 30 s, the longest
//! being the two servers that never answer (`hangs-in-accept`, `stops-itself`: every check
//! waits for them, about 70 s each); grading whole rubrics two at a time took 290 s. Under
//! `cargo nextest run` every server is a test process of its own, and `.config/nextest.toml`
//! does what the two phases do here: `alone::` tests run with nothing beside them.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use buggy_servers::{Bug, Fails};
use libtest_mimic::{Arguments, Failed, Trial};
// Everything this test uses of the grader.
use workbook::contain::server::Program;
use workbook::contain::{shepherd, sweep as contain};
use workbook::report::{self, Format};
use workbook::rubric::check::{Category, Check};
use workbook::rubric::registry::{self as arch, Arch};
use workbook::rubric::run;

/// Gradings at once, unless `--test-threads` says otherwise.
const AT_ONCE: usize = 12;

/// The start of the name of a server graded alone ([`Bug::alone`]).
const ALONE: &str = "alone::";

fn main() -> ExitCode {
    // The grader runs each server under a shepherd, a copy of this very program.
    shepherd::run_if_requested();
    let mut args = Arguments::from_args();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_buggy-servers"));
    let trial = |bug: &'static Bug| {
        let exe = exe.clone();
        // `alone::` tells cargo-nextest too (`.config/nextest.toml`), which runs each test in
        // a process of its own: the phases below do not apply there.
        let name = match bug.alone {
            true => format!("{ALONE}{}", bug.name),
            false => bug.name.to_string(),
        };
        Trial::test(name, move || prove(bug, exe)).with_kind(bug.arch)
    };
    // Servers proven elsewhere (tests/integrity.rs) are not graded here.
    let (alone, mut together): (Vec<&Bug>, Vec<&Bug>) = buggy_servers::all()
        .filter(|b| !matches!(b.fails, Fails::Elsewhere(_)))
        .partition(|b| b.alone);
    // The longest first, so that none is left to run by itself at the end: a failing check
    // takes seconds, a passing one milliseconds.
    together.sort_by_key(|bug| std::cmp::Reverse(expected_failures(bug).map_or(0, |f| f.len())));
    let mut trials = vec![Trial::test("coverage", coverage).with_kind("table")];
    trials.extend(together.into_iter().map(trial));
    args.test_threads.get_or_insert(AT_ONCE);
    let first = libtest_mimic::run(&args, trials);
    // Servers that load the whole machine are graded on their own, so that they cannot
    // disturb the timing of another grading.
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
    let expected = expected_failures(bug)?;
    let sometimes: Vec<_> = buggy_servers::sometimes()
        .filter(|s| s.bug == bug.name)
        .collect();
    let program = Program {
        path: exe,
        args: vec![bug.name.into()],
    };
    let graded: Vec<&str> = arch
        .checks
        .iter()
        .filter(|c| {
            full()
                || matches!(bug.fails, Fails::Nothing)
                || c.category == Category::Correctness
                || expected.contains(c.id)
                || sometimes.iter().any(|s| s.check == c.id)
        })
        .map(|c| c.id)
        .collect();
    let graded: Vec<String> = graded.into_iter().map(String::from).collect();
    let only = arch.only(&graded)?;
    let report = run::grade(&only, &program, run::fresh_seed(), "");
    // Killed at once, but the kernel ends a pid namespace's processes one at a time: a fork
    // bomb's thousand took more than 5 s once, right after a phase of twelve gradings.
    contain::gone_within(&report.servers, Duration::from_secs(10))?;
    let failed = report.failed();
    let may: BTreeSet<&str> = sometimes.iter().map(|s| s.check).collect();
    if !expected.is_subset(&failed) || !failed.is_subset(&expected.union(&may).copied().collect()) {
        return Err(format!(
            "expected exactly {expected:?} to fail{} (graded: {}), but {failed:?} failed\n{}",
            if may.is_empty() {
                String::new()
            } else {
                format!(", and perhaps {may:?}")
            },
            if full() {
                "every check"
            } else {
                "those and the correctness checks"
            },
            report::render(&report, Format::Human, false)
        )
        .into());
    }
    if matches!(bug.fails, Fails::Nothing) {
        return Ok(()); // full marks, as it had to
    }
    let first = first_failure(bug, &arch);
    let others = buggy_servers::also()
        .filter(|a| a.bug == bug.name)
        .map(|a| (a.check, a.says));
    let failed_sometimes = sometimes
        .iter()
        .filter(|s| failed.contains(s.check))
        .map(|s| (s.check, s.says));
    for (check, says) in std::iter::once((first, bug.says))
        .chain(others)
        .chain(failed_sometimes)
    {
        let outcome = report
            .outcomes
            .iter()
            .find(|o| o.check.id == check)
            .ok_or(format!("`{check}` was not graded"))?;
        // The verdict with the cause the grader found, if it found one.
        let said = outcome.verdict();
        if !said.contains(says) {
            return Err(format!(
                "`{check}` failed, but its message does not say {says:?}:\n{said}"
            )
            .into());
        }
    }
    Ok(())
}

/// The checks `bug` must fail.
fn expected_failures(bug: &Bug) -> Result<BTreeSet<&'static str>, String> {
    let arch = arch::find(bug.arch).ok_or(format!("no architecture {:?}", bug.arch))?;
    Ok(match bug.fails {
        Fails::Exactly(ids) => ids.iter().copied().collect(),
        Fails::Every => arch.checks.iter().map(|c| c.id).collect(),
        Fails::Own(_) => {
            let shared: Vec<&str> = workbook::rubric::common::rubric()
                .iter()
                .map(|c| c.id)
                .collect();
            arch.checks
                .iter()
                .map(|c| c.id)
                .filter(|id| !shared.contains(id))
                .collect()
        }
        Fails::Nothing => BTreeSet::new(),
        Fails::Elsewhere(test) => return Err(format!("proven by {test}")),
    })
}

/// Whether to grade every check of the rubric (`BUGGY_FULL=1`), not only those that prove.
fn full() -> bool {
    std::env::var_os("BUGGY_FULL").is_some_and(|v| v == "1")
}

/// The check whose message must say `bug.says`.
fn first_failure(bug: &Bug, arch: &Arch) -> &'static str {
    match bug.fails {
        Fails::Exactly(ids) => ids[0],
        Fails::Own(aimed) => aimed,
        Fails::Every | Fails::Nothing | Fails::Elsewhere(_) => arch.checks[0].id,
    }
}

/// Checks that no buggy server can be aimed at, each with the reason: `(architecture, check,
/// why)`. Listing one here is a last resort; `coverage` fails when a listed check gets a
/// server after all.
const UNCOVERABLE: &[(&str, &str, &str)] = &[];

/// The table names real architectures and checks, and every check of every architecture is
/// the aimed one (the first of [`Fails::Exactly`]) of at least one server. A check shared by
/// several architectures is one check: a server graded with any of them covers it.
fn coverage() -> Result<(), Failed> {
    let archs = arch::all();
    let mut problems = Vec::new();
    let mut aimed: Vec<&'static Check> = Vec::new();
    let mut names = BTreeSet::new();
    for bug in buggy_servers::all() {
        if !names.insert(bug.name) {
            problems.push(format!("two servers are called {:?}", bug.name));
        }
        let Some(arch) = archs.iter().find(|a| a.name == bug.arch) else {
            problems.push(format!("{}: no architecture {:?}", bug.name, bug.arch));
            continue;
        };
        let ids: &[&str] = match &bug.fails {
            Fails::Exactly([]) => {
                problems.push(format!("{}: an empty list of failing checks", bug.name));
                continue;
            }
            Fails::Exactly(ids) => ids,
            Fails::Own(aimed) => std::slice::from_ref(aimed),
            Fails::Every | Fails::Nothing | Fails::Elsewhere(_) => continue,
        };
        for (i, id) in ids.iter().enumerate() {
            if !arch.checks.iter().any(|c| c.id == *id) {
                problems.push(format!(
                    "{}: the {} rubric has no check {id:?}",
                    bug.name, arch.name
                ));
            }
            if ids[..i].contains(id) {
                problems.push(format!("{}: {id:?} is listed twice", bug.name));
            }
        }
        aimed.extend(arch.checks.iter().find(|c| c.id == ids[0]));
    }
    // What other failing checks must say is about checks the server must fail.
    for also in buggy_servers::also() {
        let fails = buggy_servers::find(also.bug).map(|bug| match bug.fails {
            Fails::Exactly(ids) => ids.contains(&also.check),
            Fails::Own(_) => true,
            Fails::Every | Fails::Nothing | Fails::Elsewhere(_) => false,
        });
        if fails != Some(true) {
            problems.push(format!(
                "what {:?} must say in `{}` is listed, but no such server fails that check",
                also.bug, also.check
            ));
        }
    }
    // A check that may fail is not one the server must fail.
    for maybe in buggy_servers::sometimes() {
        let listed = buggy_servers::find(maybe.bug).map(|bug| match bug.fails {
            Fails::Exactly(ids) => !ids.contains(&maybe.check),
            _ => false,
        });
        if listed != Some(true) {
            problems.push(format!(
                "{:?} is listed as one that may fail `{}`: it must be a server whose exact \
                 list of checks to fail does not already hold `{}`",
                maybe.bug, maybe.check, maybe.check
            ));
        }
    }
    // Each check not aimed at, with the architectures whose rubric has it.
    let mut uncovered: Vec<(&Check, Vec<&str>)> = Vec::new();
    for arch in &archs {
        for &check in &arch.checks {
            if aimed.iter().any(|a| std::ptr::eq(*a, check)) {
                continue;
            }
            match uncovered.iter_mut().find(|(c, _)| std::ptr::eq(*c, check)) {
                Some((_, in_archs)) => in_archs.push(arch.name),
                None => uncovered.push((check, vec![arch.name])),
            }
        }
    }
    let excused = |check: &Check, in_archs: &[&str]| {
        UNCOVERABLE
            .iter()
            .any(|(a, id, _)| *id == check.id && in_archs.contains(a))
    };
    let missing: Vec<String> = uncovered
        .iter()
        .filter(|(check, in_archs)| !excused(check, in_archs))
        .map(|(check, in_archs)| format!("\n    {} ({})", check.id, in_archs.join(", ")))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "no buggy server is aimed at (lists first) these checks:{}",
            missing.concat()
        ));
    }
    for (a, id, _) in UNCOVERABLE {
        if !uncovered
            .iter()
            .any(|(check, in_archs)| check.id == *id && in_archs.contains(a))
        {
            problems.push(format!(
                "{a}::{id} is listed as uncoverable, but a server is aimed at it (or there is \
                 no such check): remove it from UNCOVERABLE"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}
