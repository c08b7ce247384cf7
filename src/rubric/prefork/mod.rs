//! The prefork server's own checks: a master and a fixed pool of worker processes forked
//! before any client, each worker accepting on the shared listener and serving one
//! connection at a time; clients beyond the pool waiting in the backlog; a master that never
//! serves, replaces a dead worker and ends them all when it is told to stop. Book:
//! `book/src/prefork.md`.
//!
//! The checks that count workers start the server with `--workers 3` (contract: "Options"),
//! so that the pool's size is the grader's choice, not the server's: [`start_pool`].
//! A worker is any process of the server but its main one (the master), as in the forking
//! rubric, whose process helpers these checks share: processes are told apart by pid and
//! start time, and who serves a client by who holds its socket.

mod pool;
mod queue;
mod supervise;

pub use pool::{FIXED_POOL, NO_FORK_PER_CONNECTION, WORKER_POOL};
pub use queue::{BUSY_POOL_QUEUES, MASTER_NEVER_SERVES};
pub use supervise::{KILLED_WORKER, SIGTERM_ENDS_WORKERS};

use std::sync::Arc;
use std::time::Duration;

use crate::contain::server::Server;
use crate::drive::client::{secs, Client};
use crate::probe::procfs::Proc;
use crate::probe::settle::poll;
use crate::rubric::check::{Check, Ctx};
use crate::rubric::common;
use crate::rubric::forking::{live_children, Sockets};
use crate::verdict::Verdict;

const LIMIT: Duration = Duration::from_secs(20);

/// The pool's size in every check that starts the server with `--workers`.
const WORKERS: usize = 3;

/// How long a master may take to fork its workers once it has announced.
const FORKING: Duration = Duration::from_secs(3);

/// The prefork rubric: the shared checks, then this architecture's.
pub fn rubric() -> Vec<&'static Check> {
    let mut checks = common::rubric();
    checks.extend([
        &WORKER_POOL,
        &BUSY_POOL_QUEUES,
        &MASTER_NEVER_SERVES,
        &FIXED_POOL,
        &NO_FORK_PER_CONNECTION,
        &KILLED_WORKER,
        &SIGTERM_ENDS_WORKERS,
    ]);
    checks
}

/// Starts the server with `--workers 3`.
fn start_pool(ctx: &Ctx) -> Result<Arc<Server>, Verdict> {
    ctx.start_options(&["--workers", &WORKERS.to_string()])
}

/// The workers of a server started by [`start_pool`], once the master has forked at least
/// [`WORKERS`] of them, or a verdict that says how many there were after [`FORKING`].
fn pool_of(server: &Server) -> Result<Vec<Proc>, Verdict> {
    if let Some(workers) = poll(FORKING, || {
        let workers = live_children(server);
        (workers.len() >= WORKERS).then_some(workers)
    }) {
        return Ok(workers);
    }
    let had = match live_children(server).len() {
        0 => "no process besides its main one".to_string(),
        1 => "one process besides its main one".to_string(),
        k => format!("{k} processes besides its main one"),
    };
    Err(Verdict::new(format!(
        "started with `--workers 3`, the server had {had} {} after it announced, before any \
         client: a prefork master forks its workers at start, and they wait for clients (a \
         forking server forks a process per connection, once the connection comes)",
        secs(FORKING)
    )))
}

/// The one process that holds the server's end of `client`'s connection in `sockets`, if
/// exactly one does and it is not the master.
fn worker_of(sockets: &Sockets, client: &Client) -> Option<i32> {
    let holders = sockets.holders(client)?;
    match holders.others[..] {
        [one] if !holders.main => Some(one),
        _ => None,
    }
}

/// Pids, for messages: "12, 13 and 14".
fn pids(procs: &[Proc]) -> String {
    let list: Vec<String> = procs.iter().map(|p| p.pid.to_string()).collect();
    match list.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => "none".into(),
    }
}

/// Connects clients 1 to `n`, one after another, each echoing a line and staying
/// connected, so that each holds a worker; `during` says, for a failure, what was going on.
fn busy(server: &Server, n: usize, during: &str) -> Result<Vec<Client>, Verdict> {
    (1..=n)
        .map(|i| {
            let mut client = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
            client
                .echo(format!("client {i} keeps a worker busy\n").as_bytes())
                .map_err(|v| match i {
                    1 => v.context(during),
                    _ => v.context(format!(
                        "{during}, with clients 1 to {} connected and served (a pool of \
                         {WORKERS} serves {WORKERS} clients at once)",
                        i - 1
                    )),
                })?;
            Ok(client)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_pids() {
        let proc_ = |pid| Proc {
            pid,
            ppid: 1,
            state: 'S',
            start: 0,
            threads: 1,
            rss_kib: 0,
        };
        assert_eq!(pids(&[proc_(7)]), "7");
        assert_eq!(pids(&[proc_(7), proc_(8), proc_(9)]), "7, 8 and 9");
    }
}
