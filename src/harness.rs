//! `cargo test -p exercise-ARCH`: the rubric as a test suite (libtest-mimic), one test per
//! check, so that filters, `--list` and `--exact` work as usual; then the rubric's total.
//!
//! Checks run one at a time unless `--test-threads` says otherwise: several measure timing
//! or resources and would disturb each other.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use libtest_mimic::{Arguments, Failed, Trial};

use crate::contain::server::Program;
use crate::contain::{shepherd, sweep};
use crate::report::{failure_text, Report};
use crate::rubric::check::RunMemo;
use crate::rubric::{registry as arch, run};

/// The environment variable that sets the seed of a `cargo test` grading (the CLI takes
/// `--seed N`): `WORKBOOK_SEED=N cargo test -p exercise-ARCH` replays a run.
pub const SEED_VAR: &str = "WORKBOOK_SEED";

/// The `main` of a crate's `tests/grade.rs`: grades `exe` against the rubric of `arch`.
pub fn main(arch_name: &str, exe: &str) -> ExitCode {
    shepherd::run_if_requested();
    let Some(arch) = arch::find(arch_name).map(Arc::new) else {
        eprintln!("workbook: unknown architecture {arch_name:?}");
        return ExitCode::from(2);
    };
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(1);
    }
    sweep::init();
    let program = Program::new(exe);
    let seed = match std::env::var(SEED_VAR) {
        Err(_) => run::fresh_seed(),
        Ok(text) => match text.parse() {
            Ok(seed) => seed,
            Err(_) => {
                eprintln!("workbook: {SEED_VAR}={text:?} is not a number");
                return ExitCode::from(2);
            }
        },
    };
    let memo = Arc::new(RunMemo::new(seed));
    let package =
        std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| format!("exercise-{}", arch.name));
    let replay = Arc::new(format!(
        "{SEED_VAR}={seed} cargo test -p {package} -- {{check}} --exact"
    ));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let begun = Instant::now();
    let trials = arch
        .checks
        .iter()
        .map(|&check| {
            let (program, memo, outcomes) = (program.clone(), memo.clone(), outcomes.clone());
            let (arch, replay) = (arch.clone(), replay.clone());
            Trial::test(check.id, move || {
                let outcome = run::run_graded(&arch, check, &program, &memo);
                let result = if outcome.passed {
                    Ok(())
                } else {
                    Err(Failed::from(failure_text(&outcome, &replay)))
                };
                outcomes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(outcome);
                result
            })
            .with_kind(check.category.name())
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    if !args.list {
        let mut outcomes = std::mem::take(&mut *outcomes.lock().unwrap_or_else(|e| e.into_inner()));
        // Back in rubric order, whatever order the trials ran in.
        outcomes.sort_by_key(|o| arch.checks.iter().position(|c| c.id == o.check.id));
        if !outcomes.is_empty() {
            let report = Report {
                arch: arch.name.to_string(),
                program: program.display(),
                seed,
                replay: replay.to_string(),
                outcomes,
                duration: begun.elapsed(),
                servers: memo.tags(),
            };
            println!("{}", summary(&report));
            // Progress counts whole gradings of the learner's own exercise only.
            let whole = report.outcomes.len() == arch.checks.len();
            if whole && package == arch.exercise_package() {
                crate::learner::progress::record(&crate::cargo::workspace_root(), &report);
            }
        }
    }
    conclusion.exit_code()
}

/// The short rubric printed after the test results: points per check and the total.
fn summary(report: &Report) -> String {
    let mut out = format!("rubric for `{}`:\n", report.arch);
    let width = report
        .outcomes
        .iter()
        .map(|o| o.check.id.len())
        .max()
        .unwrap_or(0);
    for o in &report.outcomes {
        out.push_str(&format!(
            "  {} {:<width$} {:>2}/{}\n",
            if o.passed { "pass" } else { "FAIL" },
            o.check.id,
            o.points(),
            o.check.points
        ));
    }
    let verdict = if report.full_marks() {
        "full marks".to_string()
    } else {
        let first = report
            .outcomes
            .iter()
            .find(|o| !o.passed)
            .map(|o| o.check.id);
        format!("start with `{}`", first.unwrap_or_default())
    };
    out.push_str(&format!(
        "score: {}/{} ({verdict}; seed {}: {SEED_VAR}={} replays this run)",
        report.score(),
        report.max_score(),
        report.seed,
        report.seed
    ));
    out
}
