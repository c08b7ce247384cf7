//! Running a rubric: each check in its own thread with a time limit, one after another, every
//! server it started killed when it ends.
//!
//! Checks run one at a time because several measure timing or resources: two at once would
//! disturb each other on a 2-core machine. Neither a check's limit nor the run's budget
//! counts the time servers spend announcing, which the contract allows (up to 10 s each):
//! a server is never failed for using what the contract allows.

use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::contain::server::Program;
use crate::drive::client::secs;
use crate::report::{Outcome, Report};
use crate::rubric::check::{Check, Ctx, RunMemo};
use crate::rubric::registry::Arch;
use crate::verdict::{Kind, Verdict};

/// The most a whole grading run may take, announcing aside: past it, the remaining checks
/// fail unrun. Each check has its own limit as well; this bounds a server that is slow at
/// every one.
pub const RUN_BUDGET: Duration = Duration::from_secs(150);

/// A seed for a run nobody asked to replay.
pub fn fresh_seed() -> u64 {
    use std::hash::BuildHasher;
    // std seeds each RandomState from the operating system's randomness.
    std::collections::hash_map::RandomState::new().hash_one(0u64) % 1_000_000_000
}

/// Grades `program` against every check of `arch`, with random data from `seed`; `replay`
/// is the command that re-runs one check (see [`Report::replay`]).
pub fn grade(arch: &Arch, program: &Program, seed: u64, replay: &str) -> Report {
    grade_each(arch, program, seed, replay, |_| {})
}

/// [`grade`], calling `done` with each check's outcome as soon as it is known.
pub fn grade_each(
    arch: &Arch,
    program: &Program,
    seed: u64,
    replay: &str,
    mut done: impl FnMut(&Outcome),
) -> Report {
    crate::contain::sweep::init();
    let memo = Arc::new(RunMemo::new(seed));
    let outcomes = arch
        .checks
        .iter()
        .map(|check| {
            let outcome = run_graded(arch, check, program, &memo);
            done(&outcome);
            outcome
        })
        .collect();
    Report {
        arch: arch.name.to_string(),
        program: program.display(),
        seed,
        replay: replay.to_string(),
        outcomes,
        duration: memo.elapsed(),
        servers: memo.tags(),
    }
}

/// Runs `check` as a rubric of `arch` runs it: not at all past the run's budget, and only
/// once its architecture's gate has passed.
pub fn run_graded(
    arch: &Arch,
    check: &'static Check,
    program: &Program,
    memo: &Arc<RunMemo>,
) -> Outcome {
    if memo.busy() > RUN_BUDGET {
        let why = format!(
            "not run: the grading run used up its time budget of {}",
            secs(RUN_BUDGET)
        );
        return Outcome::of(check, Err(Verdict::of(Kind::Budget, why)), Duration::ZERO);
    }
    if let Some(gate) = arch.gate_for(check) {
        let passed = memo.gate(gate, || run_check(gate, program, memo).result());
        if let Err(verdict) = passed {
            if verdict.kind == Kind::Todo {
                // A stub: this check would stop at the same todo!().
                return Outcome::of(check, Err(verdict), Duration::ZERO);
            }
            // Still run, so the verdict says what this check found, but never counted: the
            // check grades an architecture the server was found not to be.
            let own = run_check(check, program, memo);
            let gated = format!(
                "`{}` failed ({}), and this check counts only for a server of that \
                 architecture; make `{}` pass first",
                gate.id,
                verdict.message.lines().next().unwrap_or_default(),
                gate.id
            );
            let result = match own.result() {
                Ok(()) => Err(Verdict::of(
                    Kind::Gated,
                    format!("not counted, though it passed: {gated}"),
                )),
                Err(found) => Err(found.context(format!("not counted: {gated}. And"))),
            };
            return Outcome::of(check, result, own.duration);
        }
    }
    if check.id == arch.gate.id {
        // Recorded for the checks behind it; run at most once.
        let mut ran = None;
        let result = memo.gate(check, || {
            let outcome = run_check(check, program, memo);
            let result = outcome.result();
            ran = Some(outcome);
            result
        });
        return ran.unwrap_or_else(|| Outcome::of(check, result, Duration::ZERO));
    }
    run_check(check, program, memo)
}

/// Runs one check within its time limit (plus the time its servers took to announce).
pub fn run_check(check: &'static Check, program: &Program, memo: &Arc<RunMemo>) -> Outcome {
    let begun = Instant::now();
    let ctx = Arc::new(Ctx::new(program.clone(), memo.clone(), check.id));
    let (tx, rx) = mpsc::channel();
    let worker = ctx.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("check-{}", check.id))
        .spawn(move || {
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| (check.run)(&worker)));
            let _ = tx.send(result);
        });
    let result = match spawned {
        Err(e) => Err(Verdict::of(
            Kind::Grader,
            format!("the grader could not start a thread: {e}"),
        )),
        Ok(_) => loop {
            let allowed = check.limit + ctx.announcing();
            let left = allowed.saturating_sub(begun.elapsed());
            if left.is_zero() {
                break Err(Verdict::of(
                    Kind::TimedOut,
                    format!(
                        "the check did not finish within its time limit of {}",
                        secs(check.limit)
                    ),
                ));
            }
            // In slices: the time allowed grows while a server announces.
            match rx.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(Ok(result)) => break result,
                Ok(Err(panic)) => {
                    break Err(Verdict::of(
                        Kind::Grader,
                        format!(
                            "the grader itself failed during this check ({}); please report it",
                            panic_text(&panic)
                        ),
                    ))
                }
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break Err(Verdict::of(Kind::Grader, "the check's thread vanished"))
                }
            }
        },
    };
    let result = result.map_err(|v| ctx.explain(v));
    ctx.stop_all();
    let most = check.limit + ctx.announcing() + Duration::from_secs(1);
    Outcome::of(check, result, begun.elapsed().min(most))
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}
