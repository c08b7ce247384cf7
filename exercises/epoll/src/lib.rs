//! Exercise: the epoll server. Book: `book/src/epoll.md`.
//!
//! One thread serves every client: an event loop asks the kernel which sockets are ready and
//! serves each a little at a time, never blocking. Write:
//! - [`serve`] (this file): the event loop;
//! - in `connection.rs`: `Connection::on_readable`, `Connection::send` and
//!   `Connection::on_writable`, one client's buffering.
//!
//! Given: the rest of `Connection` (its state, and the interest set it asks epoll for),
//! `deadlines.rs` (when to give up on a lingering connection), and the helpers below.
//! `src/main.rs` already binds the listener and announces it; it then calls `serve`. When you
//! are done, `cargo test -p exercise-epoll` shows full marks. If the book and the grader
//! disagree, the grader is right: tell us.
//!
//! Run your server with `cargo run -p exercise-epoll` and try it with `nc 127.0.0.1 7878` from
//! several terminals at once.

#![forbid(unsafe_code)]

pub mod connection;
pub mod deadlines;

pub use connection::Connection;

use std::fs::File;
use std::io;
use std::net::TcpListener;

use nix::errno::Errno;

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
    // TODO: a connection: `on_event`, then close it (remove it from the map and the epoll
    // set) if that failed or it `is_done()`, else `update_interest`; note its
    // `linger_deadline()` when it starts lingering. After each batch of events, close the
    // lingering connections whose time is up. Book: "Closing connections".
    todo!("write the event loop serving {listener:?} (book: epoll.md, \"The event loop step by step\")")
}
// ANCHOR_END: stub

/// Out of descriptors (`EMFILE`), maybe with a connection waiting in the listen queue.
///
/// Leaving it there keeps the listener readable, and a level-triggered loop would spin at full
/// CPU, failing to accept it again and again. So: give back the spare descriptor, accept the
/// connection with it, close it at once (its client sees the connection end, instead of
/// hanging), and take the spare again.
///
/// Returns whether a connection was refused: not always, because accept takes a descriptor
/// before it looks at the queue, so it fails with `EMFILE` even when the queue is empty.
pub fn refuse_one(listener: &TcpListener, reserve: &mut Option<File>) -> bool {
    if reserve.take().is_none() {
        return false;
    }
    let refused = match listener.accept() {
        Ok((stream, _)) => {
            drop(stream);
            true
        }
        Err(_) => false,
    };
    // This cannot fail for lack of descriptors: we hold no more than before the spare was
    // given back, and nothing else in this single thread takes one meanwhile.
    *reserve = File::open("/dev/null").ok();
    refused
}

/// The socket has nothing to give (or no room to take) right now: wait for epoll.
pub fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// A signal arrived during the call: simply make it again.
pub fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

/// The process (`EMFILE`) or the system (`ENFILE`) has no descriptor left.
pub fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(Errno::EMFILE | Errno::ENFILE)
    )
}
