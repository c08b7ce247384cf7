//! The thread-pool server's own checks: one process whose threads are a fixed pool of
//! workers plus the acceptor, whatever the load; the workers serving that many clients at
//! once; a client beyond the pool waiting its turn, never refused; a queue that stays
//! bounded when a thousand clients wait; and running out of descriptors. Book:
//! `book/src/thread-pool.md`.
//!
//! The checks that count threads start the server with `--workers 3` (contract: "Options"),
//! so that the pool's size is the grader's choice, not the server's: [`start_pool`]. Threads
//! are counted as the threaded rubric counts them, which tells a pool from a thread per
//! connection the other way round: there, threads must follow connections; here, they must
//! not.

mod pool;
mod queue;

pub use pool::{SERVES_N_AT_ONCE, WORKER_THREADS};
pub use queue::{BOUNDED_QUEUE, EMFILE, NEXT_IN_LINE};

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::contain::server::Server;
use crate::drive::client::{secs, Client};
use crate::probe::settle::poll;
use crate::rubric::check::{Check, Ctx};
use crate::rubric::common;
use crate::rubric::forking::live_children;
use crate::rubric::threaded::threads;
use crate::verdict::Verdict;

const LIMIT: Duration = Duration::from_secs(20);

/// The pool's size in every check that starts the server with `--workers`.
const WORKERS: usize = 3;

/// The server's threads with a pool of [`WORKERS`]: the workers and the acceptor.
const POOL_THREADS: usize = WORKERS + 1;

/// How long a server may take to start its workers once it has announced.
const STARTING: Duration = Duration::from_secs(3);

/// How long the thread count must hold still once clients have come: a server that starts
/// threads for them does so within milliseconds of their connecting.
const STEADY: Duration = Duration::from_millis(300);

/// The thread-pool rubric: the shared checks, then this architecture's.
pub fn rubric() -> Vec<&'static Check> {
    let mut checks = common::rubric();
    checks.extend([
        &WORKER_THREADS,
        &SERVES_N_AT_ONCE,
        &NEXT_IN_LINE,
        &BOUNDED_QUEUE,
        &EMFILE,
    ]);
    checks
}

/// Starts the server with `--workers 3`.
fn start_pool(ctx: &Ctx) -> Result<Arc<Server>, Verdict> {
    ctx.start_options(&["--workers", &WORKERS.to_string()])
}

/// What is wrong with the server's threads and processes `when` (`"with no client
/// connected"`), if anything: a pool of [`WORKERS`] is one process of [`POOL_THREADS`].
fn not_a_pool(server: &Server, when: &str) -> Result<Option<String>, Verdict> {
    let children = live_children(server).len();
    if children > 0 {
        return Ok(Some(format!(
            "started with `--workers 3`, {when}, the server had {children} child process{}: \
             a thread pool serves every client in its one process, on its worker threads",
            if children == 1 { "" } else { "es" }
        )));
    }
    let threads = threads(server)?;
    let why = match threads {
        n if n == POOL_THREADS => return Ok(None),
        1 => " (no worker at all: a thread-per-connection server starts its threads as \
               clients come, a pool starts them all before the first)"
            .to_string(),
        n if n < POOL_THREADS => format!(
            " ({} worker{} missing: start all of them before accepting)",
            POOL_THREADS - n,
            if POOL_THREADS - n == 1 { "" } else { "s" }
        ),
        _ => " (the pool's size is `--workers`, `Options::workers`; a thread started for \
              a client, or a pool of your own size, is more)"
            .to_string(),
    };
    Ok(Some(format!(
        "started with `--workers 3`, {when}, the server had {threads} thread{}; a pool of 3 \
         workers and the acceptor is 4 threads, no more and no fewer{why}",
        if threads == 1 { "" } else { "s" }
    )))
}

/// Waits up to [`STARTING`] for the server to be a pool of [`WORKERS`]; a verdict if it
/// never is.
fn pool_started(server: &Server) -> Result<(), Verdict> {
    let when = format!(
        "{} after it announced, with no client connected",
        secs(STARTING)
    );
    let mut last = None;
    let started = poll(STARTING, || match not_a_pool(server, &when) {
        Ok(None) => Some(Ok(())),
        Ok(Some(why)) => {
            last = Some(why);
            None
        }
        Err(gone) => Some(Err(gone)),
    });
    match started {
        Some(done) => done,
        None => Err(Verdict::new(last.unwrap_or_default())),
    }
}

/// Fails unless the server stays a pool of [`WORKERS`] for [`STEADY`], `when` saying what
/// the clients are doing.
fn pool_holds(server: &Server, when: &str) -> Result<(), Verdict> {
    let until = Instant::now() + STEADY;
    while Instant::now() < until {
        if let Some(why) = not_a_pool(server, when)? {
            return Err(Verdict::new(why));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Connects clients `range`, each sending one line and reading nothing: beyond the pool,
/// clients waiting for a worker.
fn waiting(
    server: &Server,
    range: std::ops::RangeInclusive<usize>,
) -> Result<Vec<Client>, Verdict> {
    range
        .map(|i| {
            let mut client = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
            client.send(format!("client {i} waits for a worker\n").as_bytes())?;
            Ok(client)
        })
        .collect()
}
