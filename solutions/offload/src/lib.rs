//! The offload server, solved: one event loop owns every socket, and N worker threads do the
//! lines' CPU work (`--work`). Book: `book/src/offload.md`.
//!
//! # Layout
//! - [`serve`] (this file) runs the epoll solution's loop, `solution_epoll::Server`, with
//!   two changes: a connection's complete lines go to the pool instead of being worked on
//!   in the loop ([`ready`]), and a finished job comes back as an event of its own
//!   ([`finished`]). Accepting, buffering, partial reads and writes, backpressure and the
//!   lingering close are the epoll solution's `Connection`, unchanged.
//! - [`Pool`] (`pool.rs`) is the workers: a channel of jobs out, a channel of results
//!   back, and an eventfd that wakes the loop.
//!
//! # Choices
//! - **The loop never works.** Whatever a line costs, the loop thread only reads, hands the
//!   lines over and writes echoes; a client's CPU-heavy line delays nobody else.
//! - **One job per connection at a time.** While a connection's lines are in the pool, the
//!   connection is *held*: the loop reads nothing more from it (what it sends meanwhile
//!   waits in the kernel's buffer) until the echo is back. So its echoes go out in the order
//!   of its lines, whichever worker finishes first, with no sequence numbers; a client that
//!   sends a thousand lines takes one worker, not all of them, and a light client's line is
//!   never queued behind them; and what a connection has in the pool is one read's worth at
//!   most. The price: one connection's lines are worked on one at a time, never in parallel.
//! - **Always through the workers**, even with `--work 0`: one path for every line, so the
//!   checks that run without `--work` test the same hand-off the CPU-heavy ones do. It costs
//!   each echo two trips between threads, which the lab measures.
//! - **An eventfd wakes the loop**, not a pipe: one descriptor instead of two, and however
//!   many results arrive while the loop is busy, one read empties it.

#![forbid(unsafe_code)]

pub mod pool;

pub use pool::{Job, Pool};

use std::io;
use std::net::TcpListener;

use nix::sys::epoll::{EpollEvent, EpollFlags};
use solution_epoll::Server;

// ANCHOR: wake
/// The eventfd's token in the epoll set. Connections count up from 1 and never reach it.
pub const WAKE: u64 = u64::MAX;
// ANCHOR_END: wake

// ANCHOR: serve
/// Starts `workers` worker threads, then accepts and serves connections in this thread,
/// until the process is stopped.
pub fn serve(listener: TcpListener, workers: usize) -> io::Result<()> {
    let pool = Pool::start(workers)?;
    let mut server = Server::new(listener)?;
    server
        .epoll()
        .add(pool.wake(), EpollEvent::new(EpollFlags::EPOLLIN, WAKE))?;
    server.run(|server, token, events| match token {
        WAKE => finished(server, &pool),
        token => ready(server, &pool, token, events),
    })
}
// ANCHOR_END: serve

// ANCHOR: ready
/// An event for the connection `token`: the connection handles it, and the complete lines
/// it reads go to the pool as one job, the connection held until the job comes back.
pub fn ready(server: &mut Server, pool: &Pool, token: u64, events: EpollFlags) {
    let mut lines = Vec::new();
    server.on_connection(token, |connection, scratch| {
        // Held, it reads nothing, and epoll reports an error or a hang-up whatever it is
        // asked for: again and again, a spinning loop, until the job is back. On an open
        // connection either means a reset. Its client is gone, and so is the point of its
        // echo: close it now (the job's result will find no connection).
        if connection.is_held() && events.intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP) {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        connection.on_event(events, scratch, |connection, complete| {
            // Held at once, so the connection reads no further: this read's lines are the
            // job. (A read that completes a line cannot also overflow the next one, since
            // a read is at most `SCRATCH` bytes, so `ERR line too long` never overtakes
            // the echoes of lines before it.)
            connection.hold();
            lines.extend_from_slice(complete);
            Ok(())
        })
    });
    // Handed over after `on_connection`, which has dropped `EPOLLIN` from the held
    // connection's interest. (If the connection failed meanwhile, the job is wasted work,
    // and its result finds no connection.)
    if !lines.is_empty() {
        pool.submit(Job { token, lines });
    }
}
// ANCHOR_END: ready

// ANCHOR: finished
/// The eventfd is readable: for each finished job, the connection (if it is still open)
/// is released and sends the echo; `on_connection` then asks epoll to read from it again.
pub fn finished(server: &mut Server, pool: &Pool) {
    for job in pool.finished() {
        server.on_connection(job.token, |connection, _| {
            connection.release();
            connection.send(&job.lines)
        });
    }
}
// ANCHOR_END: finished
