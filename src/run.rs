//! Running a rubric: each check in its own thread with a time limit, one after another, every
//! server it started killed when it ends.
//!
//! Checks run one at a time because several measure timing or resources: two at once would
//! disturb each other on a 2-core machine.

use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::arch::Arch;
use crate::check::{Check, Ctx, RunMemo, Verdict};
use crate::client::secs;
use crate::report::{Outcome, Report};
use crate::server::Program;

/// The most a whole grading run may take: past it, the remaining checks fail unrun. Each
/// check has its own limit as well; this bounds a server that is slow at every one.
pub const RUN_BUDGET: Duration = Duration::from_secs(150);

/// Grades `program` against every check of `arch`.
pub fn grade(arch: &Arch, program: &Program) -> Report {
    let all: Vec<&str> = arch.checks.iter().map(|check| check.id).collect();
    grade_only(arch, program, &all)
}

/// Grades `program` against the checks of `arch` whose ids are in `ids`, in rubric order
/// (the known-buggy servers' test grades each server on the checks its expectation names).
pub fn grade_only(arch: &Arch, program: &Program, ids: &[&str]) -> Report {
    crate::contain::init();
    let begun = Instant::now();
    let memo = Arc::new(RunMemo::default());
    let outcomes = arch
        .checks
        .iter()
        .filter(|check| ids.contains(&check.id))
        .map(|check| {
            if begun.elapsed() > RUN_BUDGET {
                Outcome {
                    check,
                    passed: false,
                    message: format!(
                        "not run: the grading run used up its time budget of {}",
                        secs(RUN_BUDGET)
                    ),
                    duration: Duration::ZERO,
                }
            } else {
                run_check(check, program, &memo)
            }
        })
        .collect();
    Report {
        arch: arch.name.to_string(),
        program: program.display(),
        outcomes,
        duration: begun.elapsed(),
        servers: memo.tags(),
    }
}

/// Runs one check within its time limit.
pub fn run_check(check: &'static Check, program: &Program, memo: &Arc<RunMemo>) -> Outcome {
    let begun = Instant::now();
    let ctx = Arc::new(Ctx::new(program.clone(), memo.clone()));
    let (tx, rx) = mpsc::channel();
    let worker = ctx.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("check-{}", check.id))
        .spawn(move || {
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| (check.run)(&worker)));
            let _ = tx.send(result);
        });
    let result = match spawned {
        Err(e) => Err(Verdict::new(format!(
            "the grader could not start a thread: {e}"
        ))),
        Ok(_) => match rx.recv_timeout(check.limit) {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => Err(Verdict::new(format!(
                "the grader itself failed during this check ({}); please report it",
                panic_text(&panic)
            ))),
            Err(_) => Err(Verdict::new(format!(
                "the check did not finish within its time limit of {}",
                secs(check.limit)
            ))),
        },
    };
    let result = result.map_err(|v| ctx.explain(v));
    ctx.stop_all();
    Outcome {
        check,
        passed: result.is_ok(),
        message: result.err().map(|v| v.message).unwrap_or_default(),
        duration: begun.elapsed().min(check.limit + Duration::from_secs(1)),
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}
