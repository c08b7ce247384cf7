//! Exercise: the epoll server. Book: `book/src/epoll.md`.
//!
//! One thread serves every client: an event loop asks the kernel which sockets are ready and
//! serves each a little at a time, never blocking. Write:
//! - [`Server::new`], [`Server::run`] and [`Server::on_connection`] (this file): the event
//!   loop;
//! - in `connection.rs`: `Connection::on_readable`, `Connection::send` and
//!   `Connection::on_writable`, one client's buffering.
//!
//! Given: [`serve`] and [`echo`] (this file: how the loop is run, and what it does with
//! complete lines), the loop's state ([`Server`]'s fields), the rest of `Connection` (its
//! state, and the interest set it asks epoll for), and, in `workbook_kit::event_loop`
//! (imported below), `Deadlines` (when to give up on a lingering connection), `refuse_one`
//! (for when descriptors run out), `write_some` and predicates on I/O errors.
//! `src/main.rs` already binds the listener and announces it; it then calls `serve`. When you
//! are done, `cargo test -p exercise-epoll` shows full marks. If the book and the grader
//! disagree, the grader is right: tell us. (The offload exercise runs your `Server` again.)
//!
//! Run your server with `cargo run -p exercise-epoll` and try it with `nc 127.0.0.1 7878` from
//! several terminals at once.

#![forbid(unsafe_code)]

pub mod connection;

pub use connection::Connection;

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::TcpListener;

#[allow(unused_imports)] // yours to use
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
#[allow(unused_imports)] // yours to use
use workbook_kit::event_loop::{
    interrupted, out_of_descriptors, refuse_one, would_block, Deadlines,
};

/// The token of the listening socket; number the connections from 1.
pub const LISTENER: u64 = 0;

/// How many events one `epoll_wait` may return.
pub const EVENTS: usize = 1024;

/// Accepts and serves connections, all in this thread, until the process is stopped.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    let mut server = Server::new(listener)?;
    server.run(|server, token, events| {
        server.on_connection(token, |connection, scratch| {
            connection.on_event(events, scratch, echo)
        })
    })
}

/// What this loop does with the complete lines a read brings: spends their CPU cost
/// (`--work`, nothing unless asked for) here, then echoes them. Every other client waits
/// meanwhile: the blocking trap of the offload chapter.
pub fn echo(connection: &mut Connection, lines: &[u8]) -> io::Result<()> {
    workbook_kit::work(lines);
    connection.send(lines)
}

/// The loop's state. Nothing here belongs to one client but the map of connections.
#[allow(dead_code)] // yours to use in the methods below
pub struct Server {
    listener: TcpListener,
    epoll: Epoll,
    /// Every open connection, by token.
    connections: HashMap<u64, Connection>,
    /// The token the next connection gets.
    next_token: u64,
    /// A descriptor kept spare for when the process runs out of them (see [`refuse_one`]).
    reserve: Option<File>,
    /// When to close the connections lingering after `ERR line too long`.
    lingering: Deadlines,
    /// Where every read lands. Shared by all connections, yet no connection's state: each
    /// read is handled completely before the next, and what must outlive it is copied into
    /// the connection's own buffer.
    scratch: Vec<u8>,
}

// ANCHOR: stub
impl Server {
    /// Sets up the loop: `listener` non-blocking, in a new epoll set under [`LISTENER`].
    ///
    /// Graded by: every check, since nothing is served without the loop.
    pub fn new(listener: TcpListener) -> io::Result<Server> {
        // TODO: make `listener` non-blocking, create an `Epoll` (`EPOLL_CLOEXEC`) and add the
        // listener to it, readable, under the token LISTENER. Then the state: no connection
        // yet, tokens from LISTENER + 1, a spare descriptor (`File::open("/dev/null")`) for
        // `refuse_one`, no deadline, and a scratch buffer of `connection::SCRATCH` bytes.
        // Book: "The event loop step by step".
        todo!("set up the loop for {listener:?} (book: epoll.md, \"The event loop step by step\")")
    }

    /// The epoll set, for a caller that watches descriptors of its own in it (under tokens
    /// no connection gets: connections count up from 1).
    pub fn epoll(&self) -> &Epoll {
        &self.epoll
    }

    /// Runs the loop: accepts on the listener's events, and hands every other event to
    /// `on_event` (`serve` passes it to the connection the token names).
    ///
    /// Graded by: every check, since nothing is served without the loop; above all
    /// `single-thread`, `thousand-clients`, `accept-burst`, `emfile`, `too-long`.
    pub fn run(&mut self, on_event: impl FnMut(&mut Server, u64, EpollFlags)) -> io::Result<()> {
        // TODO: loop: wait for events (timeout: the deadlines', and wait again on EINTR).
        // The listener: accept until WouldBlock, registering each with `Connection::new`
        // under the next token; when `out_of_descriptors`, call `refuse_one`. Any other
        // token: `on_event(self, token, events)`. After each batch of events, close the
        // lingering connections whose time is up. Book: "Accepting a burst", "Running out of
        // descriptors", "Closing connections".
        todo!(
            "run the loop over {} connections, handing their events to {} (book: epoll.md, \
             \"The event loop step by step\")",
            self.connections.len(),
            std::any::type_name_of_val(&on_event)
        )
    }

    /// Calls `act` on the connection `token` (if it is still open), then closes it if that
    /// failed or it is done, else asks epoll for what it wants now.
    ///
    /// Graded by: `closed-peers`, `descriptors`, `reset`, `half-close`, `too-long`.
    pub fn on_connection(
        &mut self,
        token: u64,
        act: impl FnOnce(&mut Connection, &mut [u8]) -> io::Result<()>,
    ) {
        // TODO: find the connection (a token that is gone: do nothing) and call `act` with it
        // and the scratch buffer. Then close it (remove it from the map and the epoll set)
        // if that failed or it `is_done()`, else `update_interest`; note its
        // `linger_deadline()` in `lingering` when it starts lingering. Book: "Closing
        // connections".
        todo!(
            "act on connection {token} with {} (book: epoll.md, \"Closing connections\")",
            std::any::type_name_of_val(&act)
        )
    }
}
// ANCHOR_END: stub
