//! The threaded server's own checks: one process, a thread per open connection, every client
//! served at once, per-connection state kept apart, threads that end, and a server that
//! survives when no thread can be created or no descriptor is left. Book:
//! `book/src/threaded.md`.

mod crowd;
mod limits;

pub(crate) use crowd::connect_and_echo;
pub use crowd::{INTERLEAVED, MANY_CLIENTS, STALLED_CLIENT, THREAD_PER_CONNECTION};
pub use limits::{EMFILE, SPAWN_FAILURE, THREADS_END};

use std::time::{Duration, Instant};

use crate::contain::server::Server;
use crate::probe::procfs;
use crate::rubric::check::Check;
use crate::rubric::common;
use crate::verdict::Verdict;

const LIMIT: Duration = Duration::from_secs(20);

/// Clients kept connected and idle when threads are counted.
const IDLE: usize = 50;

/// Clients connected at once in `many-clients`.
const BURST: usize = 200;

/// How long the clients of a crowd (`many-clients`, `interleaved`) have, all together, to get
/// their echoes: hundreds of threads start on a busy 2-core machine meanwhile.
const CROWD_REPLY: Duration = Duration::from_secs(5);

/// The threaded rubric: the shared checks, then this architecture's.
pub fn rubric() -> Vec<&'static Check> {
    let mut checks = common::rubric();
    checks.extend([
        &THREAD_PER_CONNECTION,
        &STALLED_CLIENT,
        &MANY_CLIENTS,
        &INTERLEAVED,
        &THREADS_END,
        &SPAWN_FAILURE,
        &EMFILE,
    ]);
    checks
}

/// Threads of the server's main process.
pub(crate) fn threads(server: &Server) -> Result<usize, Verdict> {
    procfs::read(server.pid())
        .map(|p| p.threads)
        .ok_or_else(|| Verdict::new("the server's main process is gone"))
}

/// The server's thread count once it has stopped changing (the warm-up client's thread may
/// still be ending).
pub(crate) fn settled_threads(server: &Server) -> Result<usize, Verdict> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let (mut last, mut steady) = (usize::MAX, 0);
    loop {
        let now = threads(server)?;
        steady = if now == last { steady + 1 } else { 0 };
        last = now;
        if steady >= 5 || Instant::now() > deadline {
            return Ok(now);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
