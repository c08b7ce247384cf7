//! The architectures the workbook teaches, each with its chapter and its rubric.

use crate::rubric as checks;
use crate::rubric::check::Check;

/// One architecture: `exercises/NAME` (`exercise-NAME`), `solutions/NAME`
/// (`solution-NAME`), `book/src/NAME.md`, and the checks that grade it.
pub struct Arch {
    pub name: &'static str,
    pub title: &'static str,
    /// The check that proves the server is of this architecture (a child per connection,
    /// one thread for all, ...). Every check of the architecture's own after the shared ones
    /// is graded only once the gate passes: without it, they would reward a server for
    /// what another architecture gets for free (a forking check passes vacuously when no
    /// child is ever forked).
    pub gate: &'static Check,
    /// The whole rubric, grouped by category: within each, the shared checks, then the
    /// architecture's own.
    pub checks: Vec<&'static Check>,
    /// The files a learner writes for this architecture, as paths from the workspace root
    /// where `*` matches within one path segment: all that `workbook grade NAME
    /// --submission DIR` takes from a submission. `exercises/NAME/src/*.rs`, and the files of
    /// the exercises it [builds on](Arch::builds_on).
    pub edits: Vec<String>,
}

impl Arch {
    /// An architecture whose rubric is `checks`, grouped by category (stably, so in the
    /// order given within each): the order every front end runs and lists them in.
    fn new(
        name: &'static str,
        title: &'static str,
        gate: &'static Check,
        mut checks: Vec<&'static Check>,
    ) -> Arch {
        checks.sort_by_key(|c| c.category);
        Arch {
            name,
            title,
            gate,
            checks,
            edits: vec![format!("exercises/{name}/src/*.rs")],
        }
    }

    /// This architecture, whose exercise uses the learner's own `exercise-EARLIER` (its
    /// `Cargo.toml` depends on it): grading it takes that exercise's files too.
    fn builds_on(mut self, earlier: &str) -> Arch {
        self.edits.push(format!("exercises/{earlier}/src/*.rs"));
        self
    }

    pub fn exercise_package(&self) -> String {
        format!("exercise-{}", self.name)
    }

    pub fn solution_package(&self) -> String {
        format!("solution-{}", self.name)
    }

    pub fn chapter(&self) -> String {
        format!("book/src/{}.md", self.name)
    }

    /// The walk through the reference solution, for after passing.
    pub fn walkthrough(&self) -> String {
        format!("book/src/walkthroughs/{}.md", self.name)
    }

    pub fn max_score(&self) -> u32 {
        self.checks.iter().map(|c| c.points).sum()
    }

    /// This architecture with only the checks named `ids` (all of them if `ids` is empty);
    /// an error names an id it does not have.
    pub fn only(&self, ids: &[String]) -> Result<Arch, String> {
        if let Some(unknown) = ids
            .iter()
            .find(|id| !self.checks.iter().any(|c| c.id == *id))
        {
            return Err(format!(
                "{} has no check `{unknown}`; see `workbook rubric {}`",
                self.name, self.name
            ));
        }
        let wanted = |c: &&&Check| ids.is_empty() || ids.iter().any(|id| id == c.id);
        Ok(Arch {
            name: self.name,
            title: self.title,
            gate: self.gate,
            checks: self.checks.iter().filter(wanted).copied().collect(),
            edits: self.edits.clone(),
        })
    }

    /// The gate `check` needs to pass first: none for a shared check or the gate itself.
    pub fn gate_for(&self, check: &Check) -> Option<&'static Check> {
        let shared = checks::common::rubric().iter().any(|c| c.id == check.id);
        (!shared && check.id != self.gate.id).then_some(self.gate)
    }
}

/// Every architecture, in the book's order.
pub fn all() -> Vec<Arch> {
    vec![
        Arch::new(
            "iterative",
            "Iterative: one connection at a time",
            &checks::iterative::SINGLE_PROCESS,
            checks::iterative::rubric(),
        ),
        Arch::new(
            "forking",
            "Forking: a process per connection",
            &checks::forking::CHILD_PER_CONNECTION,
            checks::forking::rubric(),
        )
        .builds_on("iterative"),
        Arch::new(
            "threaded",
            "Threaded: a thread per connection",
            &checks::threaded::THREAD_PER_CONNECTION,
            checks::threaded::rubric(),
        )
        .builds_on("iterative"),
        Arch::new(
            "epoll",
            "Epoll: one thread, many connections",
            &checks::epoll::SINGLE_THREAD,
            checks::epoll::rubric(),
        ),
        Arch::new(
            "prefork",
            "Prefork: a master and a pool of worker processes",
            &checks::prefork::WORKER_POOL,
            checks::prefork::rubric(),
        )
        .builds_on("iterative"),
        Arch::new(
            "thread-pool",
            "Thread pool: N workers and a bounded queue",
            &checks::thread_pool::WORKER_THREADS,
            checks::thread_pool::rubric(),
        )
        .builds_on("iterative"),
        Arch::new(
            "offload",
            "Offload: an event loop with a worker pool",
            &checks::offload::LOOP_AND_WORKERS,
            checks::offload::rubric(),
        )
        .builds_on("epoll"),
        Arch::new(
            "multi-reactor",
            "Multi-reactor: an event loop per core",
            &checks::multi_reactor::LOOPS,
            checks::multi_reactor::rubric(),
        )
        .builds_on("epoll"),
        Arch::new(
            "async",
            "Async: a task per connection, M tasks on N threads",
            &checks::async_tasks::RUNTIME_THREADS,
            checks::async_tasks::rubric(),
        ),
    ]
}

/// The architecture called `name`.
pub fn find(name: &str) -> Option<Arch> {
    all().into_iter().find(|a| a.name == name)
}

/// The names of all architectures, for messages.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|a| a.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn check_ids_are_unique_and_documented() {
        for arch in all() {
            let mut seen = HashSet::new();
            for check in &arch.checks {
                assert!(
                    seen.insert(check.id),
                    "{}: duplicate {}",
                    arch.name,
                    check.id
                );
                assert!(check.points > 0, "{}", check.id);
                assert!(
                    !check.hint.is_empty() && !check.summary.is_empty(),
                    "{}",
                    check.id
                );
                let file = check.book.split('#').next().unwrap();
                let path = format!("{}/book/src/{file}", env!("CARGO_MANIFEST_DIR"));
                assert!(
                    std::path::Path::new(&path).exists(),
                    "{}: no {path}",
                    check.id
                );
            }
        }
    }
}
