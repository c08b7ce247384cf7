//! The epoll architecture's own checks: one thread serving 1,000 clients, partial reads and
//! writes, backpressure, memory per connection, descriptors, and running out of them. Book:
//! `book/src/epoll.md`.
//!
//! Checks that need many clients served connect them one after another, each exchanging a
//! greeting before the next connects: that way only `accept-burst` depends on how a server
//! drains its listen queue, and every other check keeps its meaning whatever the server
//! does there.
//!
//! The multi-reactor runs this architecture's loop N times over, and its rubric reuses these
//! checks: those about one stuck connection put the other clients on its loop ([`loops`]).

mod crowd;
mod limits;
pub mod loops;
mod reads;
mod writes;

pub(crate) use crowd::{greet_into, greeted};
pub use crowd::{ACCEPT_BURST, SINGLE_THREAD, THOUSAND_CLIENTS};
pub(crate) use limits::idle_memory;
pub use limits::{CLOSED_PEERS, EMFILE, IDLE_MEMORY};
pub use reads::PARTIAL_READS;
pub(crate) use reads::{collect, difference};
pub(crate) use writes::backpressure;
pub(crate) use writes::keep_asking;
pub use writes::{BACKPRESSURE, PARTIAL_WRITES};

use std::thread;
use std::time::{Duration, Instant};

use crate::contain::server::Server;
use crate::rubric::check::Check;
use crate::rubric::common;
use crate::verdict::Verdict;

const LIMIT: Duration = Duration::from_secs(20);

/// The epoll rubric: the shared checks, then this architecture's.
pub fn rubric() -> Vec<&'static Check> {
    let mut checks = common::rubric();
    checks.extend([
        &SINGLE_THREAD,
        &THOUSAND_CLIENTS,
        &PARTIAL_READS,
        &ACCEPT_BURST,
        &PARTIAL_WRITES,
        &BACKPRESSURE,
        &IDLE_MEMORY,
        &CLOSED_PEERS,
        &EMFILE,
    ]);
    checks
}

/// What `single-thread` expects, for [`common::one_task`].
const EPOLL: &str = "an epoll server has exactly one of each, however many clients it serves";

/// The server's open descriptors, or a verdict if it is gone.
pub(crate) fn fds(server: &Server) -> Result<usize, Verdict> {
    server
        .fds()
        .ok_or_else(|| Verdict::new("the server's main process is gone"))
}

/// Polls `value` until it reaches `target` or stays the same for 200 ms (within 3 s), and
/// returns it.
pub(crate) fn settle(
    value: impl Fn() -> Result<usize, Verdict>,
    target: usize,
) -> Result<usize, Verdict> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut last = value()?;
    let mut since = Instant::now();
    while last < target && since.elapsed() < Duration::from_millis(200) && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(10));
        let now = value()?;
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    Ok(last)
}
