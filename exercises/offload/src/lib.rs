//! Exercise: the offload server. Book: `book/src/offload.md`.
//!
//! One event loop owns every socket, as in the epoll chapter; the lines' CPU work
//! (`--work`) runs on N worker threads, and each result comes back to the loop. Write:
//! - in `pool.rs`: `Pool::start`, `Pool::finished` and `work_on`, the workers and the way
//!   back;
//! - [`serve`], [`ready`] and [`finished`] (this file): the loop's side of the hand-off.
//!
//! Given: your own epoll loop and connection (`exercise_epoll::Server` and
//! `exercise_epoll::Connection`: finish `exercises/epoll` first, since this server runs
//! them, and grading offload takes that crate's files too; the loop calls your closures, and
//! `Connection::hold` and `release`, given there, keep a connection from reading while its
//! lines are away), [`Job`], [`Pool`]'s fields, `Pool::wake` and `Pool::submit`.
//! `src/main.rs` already reads the options, binds the listener and announces it; it then
//! calls `serve`. When you are done, `cargo test -p exercise-offload` shows full marks. If
//! the book and the grader disagree, the grader is right: tell us.
//!
//! Run your server with `cargo run -p exercise-offload -- --work 20000` and try it with
//! `nc 127.0.0.1 7878` from several terminals at once: each line costs 20 ms of CPU.

#![forbid(unsafe_code)]

pub mod pool;

pub use pool::{Job, Pool};

use std::io;
use std::net::TcpListener;

use exercise_epoll::Server;
#[allow(unused_imports)] // yours to use
use nix::sys::epoll::{EpollEvent, EpollFlags};

/// The eventfd's token in the epoll set. Connections count up from 1 and never reach it.
pub const WAKE: u64 = u64::MAX;

// ANCHOR: serve
/// Starts `workers` worker threads, then accepts and serves connections in this thread,
/// until the process is stopped.
///
/// Graded by: every check, since nothing is served without the loop; above all
/// `loop-and-workers`, `fixed-pool`.
pub fn serve(listener: TcpListener, workers: usize) -> io::Result<()> {
    // TODO: start the pool (`Pool::start`) and the loop (`Server::new`), and add the pool's
    // eventfd (`pool.wake()`) to the loop's epoll set (`server.epoll()`), readable, under
    // the token WAKE. Book: "Waking the loop".
    // TODO: `server.run`, with a closure that sends WAKE to `finished` and every other
    // token to `ready`.
    todo!("serve {listener:?} with {workers} workers (book: offload.md, \"One loop, N workers\")")
}
// ANCHOR_END: serve

// ANCHOR: ready
/// An event for the connection `token`: the connection handles it, and the complete lines
/// it reads go to the pool as one job, the connection held until the job comes back.
///
/// Graded by: `heavy-neighbour`, `line-order`, `loop-cpu`, `backpressure`, `reset`.
pub fn ready(server: &mut Server, pool: &Pool, token: u64, events: EpollFlags) {
    // TODO: `server.on_connection(token, ...)`, whose closure calls the connection's
    // `on_event` with a closure of yours for its complete lines: instead of `echo`, hold
    // the connection and keep the lines. Book: "Handing work over".
    // TODO: a held connection reads nothing, yet epoll reports EPOLLERR and EPOLLHUP anyway:
    // for one, return an error (a reset) instead of calling `on_event`. Book: "Handing work
    // over".
    // TODO: after `on_connection`, submit the lines (if any) as one `Job`.
    todo!(
        "hand the lines of connection {token} ({events:?}) on {} to the pool {:p} (book: \
         offload.md, \"Handing work over\")",
        std::any::type_name_of_val(server),
        pool
    )
}
// ANCHOR_END: ready

// ANCHOR: finished
/// The eventfd is readable: for each finished job, the connection (if it is still open)
/// is released and sends the echo; `on_connection` then asks epoll to read from it again.
///
/// Graded by: every check, since no echo is sent without it; above all `line-order`.
pub fn finished(server: &mut Server, pool: &Pool) {
    // TODO: for each job of `pool.finished()`, `server.on_connection(job.token, ...)` with
    // a closure that releases the connection and sends the job's lines. Book: "Waking the
    // loop".
    todo!(
        "send the echoes of the finished jobs of {:p} through {} (book: offload.md, \
         \"Waking the loop\")",
        pool,
        std::any::type_name_of_val(server)
    )
}
// ANCHOR_END: finished
