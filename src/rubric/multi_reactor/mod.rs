//! The multi-reactor architecture's own checks: N event loops, each with its own epoll
//! instance and its own connections, dealt fairly, none held up by another's work; then the
//! epoll architecture's checks, which each loop must pass as the one loop of an epoll server
//! does. Book: `book/src/multi-reactor.md`.
//!
//! The loops are told apart by their epoll instances (`/proc/PID/fdinfo`), and a client's
//! loop by the instance that watches the server's end of its connection
//! ([`crate::rubric::epoll::loops`]). Checks that count loops pass `--workers`; `busy-loop`
//! passes `--work` too.

mod busy;
mod loops;

pub use busy::BUSY_LOOP;
pub use loops::{FAIR_SHARE, LOOPS, OWN_CONNECTIONS};

use std::time::Duration;

use crate::rubric::check::{Category, Check};
use crate::rubric::{common, epoll};

const LIMIT: Duration = Duration::from_secs(20);

pub static IDLE_MEMORY: Check = Check {
    id: "idle-memory",
    category: Category::Resources,
    points: 5,
    summary: "1,000 idle connections, spread over the loops, cost at most 1 KiB of resident \
              memory each",
    hint: "an idle connection needs no buffer in any loop: each loop reads into one scratch \
           buffer of its own, and a connection holds memory only while it has an unfinished \
           line or unsent output",
    book: "multi-reactor.md#memory-per-connection",
    limit: LIMIT,
    run: |ctx| epoll::idle_memory(ctx, 1, false),
};

/// The multi-reactor rubric: the shared checks, this architecture's, then the epoll checks
/// that hold in every loop.
pub fn rubric() -> Vec<&'static Check> {
    let mut checks = common::rubric();
    checks.extend([
        &LOOPS,
        &OWN_CONNECTIONS,
        &FAIR_SHARE,
        &BUSY_LOOP,
        &epoll::THOUSAND_CLIENTS,
        &epoll::PARTIAL_READS,
        &epoll::ACCEPT_BURST,
        &epoll::PARTIAL_WRITES,
        &epoll::BACKPRESSURE,
        &IDLE_MEMORY,
        &epoll::CLOSED_PEERS,
        &epoll::EMFILE,
    ]);
    checks
}
