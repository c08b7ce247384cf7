//! Every untouched stub fails gracefully: each check fails within budget with a message
//! that points at the `todo!()` to write first, and nothing is left running. For the first
//! exercise, `cargo test -p exercise-iterative` itself is run, as a learner would.
//!
//! "Untouched" is checked, not assumed: `exercises/pristine.txt` holds a fingerprint of each
//! stub's sources. In a learner's clone, an exercise they have worked on no longer matches
//! and its test is skipped, saying so, so that the workbook's own `cargo test` keeps passing.
//! CI sets `WORKBOOK_STRICT_STUBS=1`, under which a mismatch fails instead: a stub changed
//! by its authors must have its fingerprint updated (the failure prints the new one).

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use workbook::cargo;
use workbook::contain::server::Program;
use workbook::contain::{shepherd, sweep as contain};
use workbook::learner::progress::{self, Progress};
use workbook::learner::stub;
use workbook::probe::procfs;
use workbook::rubric::{registry as arch, run};

/// What grading an untouched stub may take, build excluded (the bound).
const BUDGET: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    shepherd::run_if_requested();
    let mut args = Arguments::from_args();
    let strict = std::env::var_os("WORKBOOK_STRICT_STUBS").is_some();
    let mut trials: Vec<Trial> = Vec::new();
    for arch in arch::all() {
        let name = format!("stub::{}", arch.name);
        match pristine(arch.name) {
            Ok(()) => trials.push(Trial::test(name, move || stub_fails(&arch))),
            Err(why) if strict => trials.push(Trial::test(name, move || Err(why.into()))),
            Err(why) => {
                eprintln!("skipped {name}: {why}");
                trials.push(Trial::test(name, || Ok(())).with_ignored_flag(true));
            }
        }
    }
    let iterative = match pristine("iterative") {
        Err(why) if !strict => {
            eprintln!("skipped cargo-test-exercise-iterative: {why}");
            Trial::test("cargo-test-exercise-iterative", || Ok(())).with_ignored_flag(true)
        }
        _ => Trial::test("cargo-test-exercise-iterative", cargo_test_exercise),
    };
    // The stubs' gradings at once (each looks for its own servers' leftovers by their tags);
    // then `cargo test` as a learner runs it, alone, since it looks at every descendant.
    args.test_threads.get_or_insert(4);
    let first = libtest_mimic::run(&args, trials);
    args.test_threads = Some(1);
    let second = libtest_mimic::run(&args, vec![iterative]);
    if first.has_failed() || second.has_failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `exercises/ARCH` is the stub as shipped; if not, why not.
fn pristine(arch: &str) -> Result<(), String> {
    stub::pristine(&root(), arch)
}

fn stub_fails(arch: &arch::Arch) -> Result<(), Failed> {
    let exe = cargo::build(&root(), &arch.exercise_package())?;
    let begun = Instant::now();
    let report = run::grade(arch, &Program::new(exe), run::fresh_seed(), "");
    let took = begun.elapsed();
    if took > BUDGET {
        return Err(format!("grading the stub took {took:?}, over {BUDGET:?}").into());
    }
    for outcome in &report.outcomes {
        if outcome.passed {
            return Err(format!("the untouched stub passes `{}`", outcome.check.id).into());
        }
        if !outcome.message.contains("todo!()") {
            return Err(format!(
                "`{}` fails without pointing at the todo!(): {}",
                outcome.check.id, outcome.message
            )
            .into());
        }
    }
    contain::gone_within(&report.servers, Duration::from_secs(5)).map_err(Failed::from)
}

fn cargo_test_exercise() -> Result<(), Failed> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Build first, so the time below is the grading's, as a learner sees it on a second run.
    let built = Command::new(&cargo)
        .args(["test", "--no-run", "-q", "-p", "exercise-iterative"])
        .current_dir(root())
        .status()?;
    if !built.success() {
        return Err("cargo test --no-run -p exercise-iterative failed".into());
    }
    let begun = Instant::now();
    let record = tempfile::tempdir()?;
    let out = Command::new(&cargo)
        .args(["test", "-q", "-p", "exercise-iterative"])
        .current_dir(root())
        .env(progress::DIR_VAR, record.path())
        .output()?;
    let took = begun.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        return Err("cargo test -p exercise-iterative passed on the untouched stub".into());
    }
    if took > BUDGET {
        return Err(format!("cargo test -p exercise-iterative took {took:?}").into());
    }
    for needed in [
        "rubric for `iterative`",
        "score: 0/",
        "start with `one-line`",
        "todo!()",
    ] {
        if !stdout.contains(needed) {
            return Err(format!("the output lacks {needed:?}:\n{stdout}").into());
        }
    }
    if stdout.contains("RUST_BACKTRACE") || stdout.contains("stack backtrace") {
        return Err(format!("the output is a wall of panics:\n{stdout}").into());
    }
    // The grading counts as the learner's progress, as `workbook grade` does.
    let file = std::fs::read(record.path().join("progress.json")).unwrap_or_default();
    let recorded = serde_json::from_slice::<Progress>(&file)
        .ok()
        .and_then(|mut p| p.archs.remove("iterative"));
    match recorded {
        Some(r) if r.last == 0 && r.failed.first().map(String::as_str) == Some("one-line") => {}
        other => return Err(format!("progress recorded: {other:?}").into()),
    }
    nothing_left()
}

fn nothing_left() -> Result<(), Failed> {
    let me = std::process::id() as i32;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<_> = procfs::descendants(me)
            .into_iter()
            .filter(|p| !p.is_zombie())
            .chain(contain::strays())
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("processes left behind: {left:?}").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
