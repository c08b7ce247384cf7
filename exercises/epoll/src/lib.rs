//! Exercise: the epoll server. Book: `book/src/epoll.md`.
//!
//! One thread serves every client: an event loop asks the kernel which sockets are ready and
//! serves each a little at a time, never blocking. Write:
//! - [`serve`] (this file): the event loop;
//! - in `connection.rs`: `Connection::on_readable`, `Connection::send` and
//!   `Connection::on_writable`, one client's buffering.
//!
//! Given: `echo` (this file: what the loop does with complete lines), the rest of
//! `Connection` (its state, and the interest set it asks epoll for), and, in
//! `workbook_kit::event_loop` (imported below), `Deadlines` (when to give up on a lingering
//! connection), `refuse_one` (for when descriptors run out), `write_some` and predicates on
//! I/O errors.
//! `src/main.rs` already binds the listener and announces it; it then calls `serve`. When you
//! are done, `cargo test -p exercise-epoll` shows full marks. If the book and the grader
//! disagree, the grader is right: tell us.
//!
//! Run your server with `cargo run -p exercise-epoll` and try it with `nc 127.0.0.1 7878` from
//! several terminals at once.

#![forbid(unsafe_code)]

pub mod connection;

pub use connection::Connection;

use std::io;
use std::net::TcpListener;

#[allow(unused_imports)] // yours to use in `serve`
use workbook_kit::event_loop::{
    interrupted, out_of_descriptors, refuse_one, would_block, Deadlines,
};

/// The token of the listening socket; number the connections from 1.
pub const LISTENER: u64 = 0;

/// How many events one `epoll_wait` may return.
pub const EVENTS: usize = 1024;

// ANCHOR: stub
/// Accepts and serves connections, all in this thread, until the process is stopped.
///
/// Graded by: every check, since nothing is served without the loop; above all
/// `single-thread`, `thousand-clients`, `accept-burst`, `closed-peers`, `emfile`, `too-long`.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    // TODO: make `listener` non-blocking, create an `Epoll` (nix::sys::epoll) and add the
    // listener to it, readable, under the token LISTENER. Keep the connections in a
    // `HashMap<u64, Connection>` under tokens never reused; one scratch buffer of
    // `connection::SCRATCH` bytes for every read; a `Deadlines` for lingering connections;
    // a spare descriptor, `File::open("/dev/null")`, for `refuse_one`.
    // Book: "The event loop step by step".
    // TODO: loop: wait for events (timeout: the deadlines', and wait again on EINTR).
    // The listener: accept until WouldBlock, registering each with `Connection::new`; when
    // `out_of_descriptors`, call `refuse_one`. Book: "Accepting a burst", "Running out of
    // descriptors".
    // TODO: a connection: `on_event` (with `echo` for its complete lines), then close it
    // (remove it from the map and the epoll set) if that failed or it `is_done()`, else
    // `update_interest`; note its `linger_deadline()` when it starts lingering. After each
    // batch of events, close the lingering connections whose time is up. Book: "Closing
    // connections".
    todo!("write the event loop serving {listener:?} (book: epoll.md, \"The event loop step by step\")")
}
// ANCHOR_END: stub

/// What this loop does with the complete lines a read brings: spends their CPU cost
/// (`--work`, nothing unless asked for) here, then echoes them. Every other client waits
/// meanwhile: the blocking trap of the offload chapter.
pub fn echo(connection: &mut Connection, lines: &[u8]) -> io::Result<()> {
    workbook_kit::work(lines);
    connection.send(lines)
}
