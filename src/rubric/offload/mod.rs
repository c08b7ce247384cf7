//! The offload architecture's own checks: one event loop thread and N workers, a client's
//! CPU-heavy lines that hold up nobody else, echoes in the order of their lines, the work
//! done off the loop thread, and memory per connection; then the epoll checks that still
//! apply, shared with the epoll rubric. Book: `book/src/offload.md`.
//!
//! Every check of its own runs the server with `--work` (contract: "Options"), so that a
//! line costs real CPU time and where that time is spent can be seen from `/proc`.

mod order;
mod threads;
mod work;

pub use order::LINE_ORDER;
pub use threads::{FIXED_POOL, LOOP_AND_WORKERS};
pub use work::{HEAVY_NEIGHBOUR, LOOP_CPU};

use std::time::Duration;

use crate::contain::server::Server;
use crate::probe::settle::poll;
use crate::rubric::check::{Category, Check};
use crate::rubric::{common, epoll};
use crate::verdict::{Outcome, Verdict};

const LIMIT: Duration = Duration::from_secs(20);

/// The offload rubric: the shared checks, then this architecture's, then the epoll checks
/// that hold for any event loop (each the same check as in the epoll rubric).
pub fn rubric() -> Vec<&'static Check> {
    let mut checks = common::rubric();
    checks.extend([
        &LOOP_AND_WORKERS,
        &FIXED_POOL,
        &HEAVY_NEIGHBOUR,
        &LINE_ORDER,
        &LOOP_CPU,
        &IDLE_MEMORY,
        &epoll::THOUSAND_CLIENTS,
        &epoll::PARTIAL_READS,
        &epoll::ACCEPT_BURST,
        &epoll::PARTIAL_WRITES,
        &epoll::BACKPRESSURE,
        &epoll::CLOSED_PEERS,
        &epoll::EMFILE,
    ]);
    checks
}

pub static IDLE_MEMORY: Check = Check {
    id: "idle-memory",
    category: Category::Resources,
    points: 5,
    summary: "1,000 connections, each served one line, then idle, cost at most 1 KiB each",
    hint: "a connection's line goes to a worker and comes back as its echo, and then nothing \
           of it may stay: no buffer kept per connection for the next job, no read buffer \
           of its own; what a connection holds while idle is the epoll chapter's few hundred \
           bytes",
    book: "offload.md#memory-per-connection",
    limit: LIMIT,
    run: |ctx| epoll::idle_memory(ctx, 1, true),
};

/// Waits (3 s at most) until the server has used `ns` more CPU time than `since`: it has
/// begun working on lines sent meanwhile. `what` says what was sent, for the verdict.
fn work_began(server: &Server, since: u64, ns: u64, what: &str) -> Outcome {
    let began = poll(Duration::from_secs(3), || {
        (server.cpu_ns().saturating_sub(since) >= ns).then_some(())
    });
    began.ok_or_else(|| {
        Verdict::new(format!(
            "{what}, and in 3 s the server used less than {} ms of CPU time: it did not work \
             on them (lines must cost the CPU time `--work` asks for, spent by \
             workbook_kit::work)",
            ns / 1_000_000
        ))
    })
}
