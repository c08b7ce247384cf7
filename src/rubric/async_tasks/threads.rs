//! M tasks on N threads: many clients served at once by a runtime's few worker threads.

use super::LIMIT;
use crate::contain::server::Server;
use crate::drive::client::Client;
use crate::ensure;
use crate::probe::procfs;
use crate::rubric::check::{Category, Check};
use crate::rubric::epoll::greet_into;
use crate::verdict::{Cause, Outcome};

/// The workers the gate asks for. Not a usual number of CPUs, so that a runtime sized by
/// the machine (tokio's default) rather than by `--workers` shows.
const WORKERS: usize = 5;

/// Threads allowed beyond the workers: the main thread (which started the runtime and may
/// run the accept loop) and one to spare.
const EXTRA: usize = 2;

/// Clients connected, and counted every so many.
const CLIENTS: usize = 1000;
const EVERY: usize = 100;

pub static RUNTIME_THREADS: Check = Check {
    id: "runtime-threads",
    category: Category::Concurrency,
    points: 10,
    summary: "with --workers 5, 1,000 clients are served by one process of 6 or 7 threads",
    hint: "build tokio's multi-thread runtime with `worker_threads(options.workers)` and spawn \
           a task per connection; a task must await, never block its thread (no std::net \
           socket, no thread::sleep), and no connection gets a thread of its own",
    book: "async.md#m-tasks-on-n-threads",
    limit: LIMIT,
    run: |ctx| {
        let workers = WORKERS.to_string();
        let server = ctx.start_options(&["--workers", &workers])?;
        let mut first = Client::connect_with(server.addr(), None, "client 1")?;
        first.echo(b"count your threads\n")?;
        within_bounds(&server, "with 1 client connected")?;
        let mut clients = Vec::with_capacity(CLIENTS);
        for start in (2..=CLIENTS).step_by(EVERY) {
            let last = (start + EVERY - 1).min(CLIENTS);
            // Every client echoes a line before the next connects, and stays connected, idle
            // (while the cause is looked for too: a blocked read ends when its client goes).
            greet_into(&mut clients, &server, start, last, start - 1)
                .map_err(|v| v.because(blocking_reads(&server)))?;
            within_bounds(&server, &format!("with {last} clients connected"))?;
        }
        first
            .echo(b"still a few threads?\n")
            .map_err(|v| v.context(format!("with {CLIENTS} clients connected")))?;
        within_bounds(
            &server,
            "with 1,000 clients connected, after client 1's second line",
        )
    },
};

/// Fails unless the server is one process with at least `WORKERS + 1` threads and at most
/// `WORKERS + EXTRA`: `when` says what was going on.
fn within_bounds(server: &Server, when: &str) -> Outcome {
    let tree = server.tree();
    let processes = tree.iter().filter(|p| !p.is_zombie()).count();
    let threads: usize = tree.iter().map(|p| p.threads).sum();
    ensure!(
        processes == 1,
        "{when}, the server had {processes} processes: an async server runs every task in \
         its one process"
    );
    ensure!(
        threads > WORKERS,
        "{when}, started with --workers {WORKERS}, the server had {threads} thread{}; a \
         multi-threaded runtime of {WORKERS} workers has at least {} (its workers and the \
         main thread){}",
        if threads == 1 { "" } else { "s" },
        WORKERS + 1,
        if threads == 1 {
            ": one thread serving everything is an event loop (a current_thread runtime), \
             not M tasks on N threads"
        } else {
            ": is the runtime sized by the machine's CPUs instead of by --workers?"
        }
    );
    ensure!(
        threads <= WORKERS + EXTRA,
        "{when}, started with --workers {WORKERS}, the server had {threads} threads; an async \
         server's threads are its runtime's {WORKERS} workers plus at most {EXTRA} (the main \
         thread, one to spare), however many clients it serves: a thread per connection \
         (spawn_blocking for each, or std::thread::spawn) is the threaded architecture"
    );
    Ok(())
}

/// Threads of the server blocked in a read on a socket: a tokio worker waits in
/// `epoll_wait`, never in `read`, so these are tasks that made a blocking call (a `std::net`
/// read) and hold their worker while their client is idle.
fn blocking_reads(server: &Server) -> Option<Cause> {
    let blocked = procfs::reading_sockets(server.pid()).len();
    (blocked > 0).then(|| Cause {
        says: format!(
            "{blocked} of the server's threads {} blocked in a read on a client's socket: a \
             task that makes a blocking call (a std::net read) holds its worker thread for as \
             long as its client says nothing, and once all {WORKERS} workers are held no other \
             task runs: new clients are accepted but never served; read with tokio's \
             TcpStream and `.await`",
            if blocked == 1 { "was" } else { "were" }
        ),
        see: None,
        book: "async.md#the-blocking-trap",
    })
}
