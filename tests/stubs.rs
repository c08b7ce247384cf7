//! Every untouched stub fails gracefully: each check fails within budget with a message
//! that points at the `todo!()` to write first, and nothing is left running. For the first
//! exercise, `cargo test -p exercise-iterative` itself is run, as a learner would.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use workbook::cargo;
use workbook::contain::server::Program;
use workbook::contain::{shepherd, sweep as contain};
use workbook::probe::procfs;
use workbook::rubric::{registry as arch, run};

/// What grading an untouched stub may take, build excluded (the bound).
const BUDGET: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    shepherd::run_if_requested();
    let mut args = Arguments::from_args();
    // One at a time: `nothing_left` looks at all of this process's descendants.
    args.test_threads = Some(1);
    let mut trials: Vec<Trial> = arch::all()
        .into_iter()
        .map(|arch| Trial::test(format!("stub::{}", arch.name), move || stub_fails(&arch)))
        .collect();
    trials.push(Trial::test(
        "cargo-test-exercise-iterative",
        cargo_test_exercise,
    ));
    libtest_mimic::run(&args, trials).exit_code()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stub_fails(arch: &arch::Arch) -> Result<(), Failed> {
    let exe = cargo::build(&root(), &arch.exercise_package())?;
    let begun = Instant::now();
    let report = run::grade(arch, &Program::new(exe), run::fresh_seed());
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
    nothing_left()
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
    let out = Command::new(&cargo)
        .args(["test", "-q", "-p", "exercise-iterative"])
        .current_dir(root())
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
