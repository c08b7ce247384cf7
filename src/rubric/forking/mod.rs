//! The forking server's own checks: a child process per connection, each process closing the
//! descriptors it does not own, every ended child reaped (also when many end at once), and a
//! parent that survives its children's deaths, the signals they send, a refused fork and
//! running out of descriptors. Book: `book/src/forking.md`.
//!
//! Processes are told apart by pid *and* start time: once a process is reaped its pid may be
//! reused, and these checks fork hundreds.

mod causes;
mod children;
mod failures;
mod zombies;

pub use children::{CHILDREN_EXIT, CHILD_PER_CONNECTION, PARENT_CLOSES, STALLED_CLIENT};
pub use failures::{BOUNDED_PROCESSES, CRASH_ISOLATION, EMFILE, FORK_FAILURE};
pub use zombies::{NO_ZOMBIES, SIGCHLD_IN_ACCEPT};

use std::time::Duration;

use crate::contain::server::Server;
use crate::drive::client::Client;
use crate::probe::procfs::Proc;
use crate::probe::settle::poll;
use crate::rubric::check::Check;
use crate::rubric::common;
use crate::verdict::Outcome;

const LIMIT: Duration = Duration::from_secs(20);

/// Clients kept connected and idle when children are counted.
const IDLE: usize = 20;

/// How long a child may stay a zombie.
const ZOMBIE_GRACE: Duration = Duration::from_secs(1);

/// How long a child may outlive its connection, or stay unreaped after the grader killed it.
/// An exit takes well under a millisecond; this leaves room for a machine busy with other work.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// The forking rubric: the shared checks, then this architecture's.
pub fn rubric() -> Vec<&'static Check> {
    let mut checks = common::rubric();
    checks.extend([
        &CHILD_PER_CONNECTION,
        &STALLED_CLIENT,
        &PARENT_CLOSES,
        &CHILDREN_EXIT,
        &NO_ZOMBIES,
        &SIGCHLD_IN_ACCEPT,
        &CRASH_ISOLATION,
        &BOUNDED_PROCESSES,
        &FORK_FAILURE,
        &EMFILE,
    ]);
    checks
}

/// How a client leaves, in `children-exit`.
type Leave = fn(Client) -> Outcome;

/// The server's processes besides its main one that have not ended.
pub(crate) fn live_children(server: &Server) -> Vec<Proc> {
    server
        .tree()
        .into_iter()
        .filter(|p| p.pid != server.pid() && !p.is_zombie())
        .collect()
}

/// Whether `a` and `b` are the same process: same pid, same start time.
fn same(a: &Proc, b: &Proc) -> bool {
    a.pid == b.pid && a.start == b.start
}

/// The processes of `now` that are not in `before`.
fn new_since(now: &[Proc], before: &[Proc]) -> Vec<Proc> {
    now.iter()
        .filter(|p| !before.iter().any(|b| same(p, b)))
        .cloned()
        .collect()
}

/// Waits up to `within` for each of `procs` to end (to be a zombie, or gone); returns those
/// still running then.
fn still_running(server: &Server, procs: &[Proc], within: Duration) -> Vec<Proc> {
    let running = || {
        let live = live_children(server);
        procs
            .iter()
            .filter(|p| live.iter().any(|l| same(l, p)))
            .cloned()
            .collect::<Vec<_>>()
    };
    poll(within, || Some(running()).filter(Vec::is_empty)).unwrap_or_else(running)
}

/// "clients 1, 2 and 5".
fn names(numbers: &[usize]) -> String {
    let list: Vec<String> = numbers.iter().map(usize::to_string).collect();
    match list.split_last() {
        Some((last, [])) => format!("client {last}"),
        Some((last, rest)) => format!("clients {} and {last}", rest.join(", ")),
        None => "none".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_clients() {
        assert_eq!(names(&[3]), "client 3");
        assert_eq!(names(&[1, 2, 5]), "clients 1, 2 and 5");
    }
}
