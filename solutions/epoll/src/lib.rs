//! The epoll server, solved: one thread runs one loop that serves every connection at once.
//! Book: `book/src/epoll.md`.
//!
//! # Layout
//! - [`serve`] (this file) runs the event loop, [`Server`]. It asks the kernel which sockets
//!   are ready (`epoll_wait`), accepts every queued connection when the listener is ready,
//!   hands every other event to the connection it names, and closes connections that are
//!   done. What a connection does with its complete lines is `serve`'s to say: `echo`
//!   works and echoes them at once. (The offload solution runs the same `Server` and hands
//!   them to worker threads instead.)
//! - [`Connection`] (`connection.rs`) is one client's state: the unfinished line it has sent,
//!   the echoes it has not taken yet, and what to wait for next. All of a client's bytes
//!   live there; the loop keeps none.
//! - From `workbook_kit::event_loop`: [`Deadlines`], which tells the loop when to give up on
//!   a connection lingering after `ERR line too long`; [`refuse_one`], the way out when the
//!   process runs out of descriptors; and predicates on I/O errors.
//!
//! # Choices
//! - **Nothing blocks.** Every socket is non-blocking, and a read or write that cannot proceed
//!   returns `WouldBlock` at once. One blocking call would stall every client, not one.
//! - **Level-triggered.** epoll reports a socket for as long as it is ready, not only when it
//!   becomes ready. So a connection may stop reading at any point (after a budget of reads, or
//!   because its client is not taking its echoes) and the next `epoll_wait` reminds us. With
//!   `EPOLLET` we would have to read until `WouldBlock` every time, and remember ourselves
//!   what was left undone.
//! - **Tokens, not descriptors, name connections.** Each connection gets the next number,
//!   never reused, so an event can never reach a newer connection that happens to have the
//!   descriptor number of an old one.
//! - **Memory follows data.** An idle connection owns no buffer: reads land in one scratch
//!   buffer owned by the loop, and a connection keeps only what it must: an unfinished line,
//!   and echoes its client has not taken.

#![forbid(unsafe_code)]

pub mod connection;

pub use connection::Connection;

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

use workbook_kit::event_loop::{
    interrupted, out_of_descriptors, refuse_one, would_block, Deadlines,
};

// ANCHOR: tokens
/// The token of the listening socket; connections are numbered from 1.
pub const LISTENER: u64 = 0;

/// How many events one `epoll_wait` may return. More wait for the next call; none is lost.
pub const EVENTS: usize = 1024;
// ANCHOR_END: tokens

/// Accepts and serves connections, all in this thread, until the process is stopped.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    let mut server = Server::new(listener)?;
    server.run(|server, token, events| {
        server.on_connection(token, |connection, scratch| {
            connection.on_event(events, scratch, echo)
        })
    })
}

// ANCHOR: echo
/// What this loop does with the complete lines a read brings: spends their CPU cost
/// (`--work`, nothing unless asked for) here, then echoes them. Every other client waits
/// meanwhile: the blocking trap of the offload chapter.
pub fn echo(connection: &mut Connection, lines: &[u8]) -> io::Result<()> {
    workbook_kit::work(lines);
    connection.send(lines)
}
// ANCHOR_END: echo

// ANCHOR: server
/// The loop's state. Nothing here belongs to one client but the map of connections.
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
// ANCHOR_END: server

impl Server {
    /// Sets up the loop: `listener` non-blocking, in a new epoll set under [`LISTENER`].
    pub fn new(listener: TcpListener) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        epoll.add(&listener, EpollEvent::new(EpollFlags::EPOLLIN, LISTENER))?;
        Ok(Server {
            listener,
            epoll,
            connections: HashMap::new(),
            next_token: LISTENER + 1,
            reserve: Some(File::open("/dev/null")?),
            lingering: Deadlines::default(),
            scratch: vec![0; connection::SCRATCH],
        })
    }

    /// The epoll set, for a caller that watches descriptors of its own in it (under tokens
    /// no connection gets: connections count up from 1).
    pub fn epoll(&self) -> &Epoll {
        &self.epoll
    }

    // ANCHOR: run
    /// Runs the loop: accepts on the listener's events, and hands every other event to
    /// `on_event` (this crate's `serve` passes it to the connection the token names).
    pub fn run(
        &mut self,
        mut on_event: impl FnMut(&mut Server, u64, EpollFlags),
    ) -> io::Result<()> {
        let mut events = vec![EpollEvent::empty(); EVENTS];
        loop {
            let ready = match self.epoll.wait(&mut events, self.lingering.timeout()) {
                Ok(n) => n,
                // A signal (SIGCONT after SIGSTOP, say) interrupted the wait: wait again.
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            for event in &events[..ready] {
                match event.data() {
                    LISTENER => self.accept_all(),
                    token => on_event(self, token, event.events()),
                }
            }
            self.expire_lingering();
        }
    }
    // ANCHOR_END: run

    // ANCHOR: accept
    /// Accepts every connection waiting in the listen queue, until `WouldBlock`.
    ///
    /// One accept per wakeup would work with level-triggered epoll, slowly (a burst of 200
    /// connects would cost 200 trips through the loop); with `EPOLLET` it would strand the
    /// rest of the queue until yet another client connects.
    fn accept_all(&mut self) {
        let mut refused = 0;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => self.register(stream),
                Err(e) if would_block(&e) => break,
                Err(e) if interrupted(&e) => continue,
                Err(e) if out_of_descriptors(&e) => {
                    if !refuse_one(&self.listener, &mut self.reserve) {
                        break;
                    }
                    refused += 1;
                }
                // ECONNABORTED and the like: that client gave up while it waited. Try the
                // next on the following wakeup rather than risk looping on an error that
                // persists.
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    break;
                }
            }
        }
        if refused > 0 {
            eprintln!("out of descriptors: refused {refused} connection(s)");
        }
    }
    // ANCHOR_END: accept

    /// Registers a new connection, reading first.
    fn register(&mut self, stream: TcpStream) {
        let token = self.next_token;
        self.next_token += 1;
        match Connection::new(stream, &self.epoll, token) {
            Ok(connection) => {
                self.connections.insert(token, connection);
            }
            // The stream was dropped, and with it the connection: that client only.
            Err(e) => eprintln!("cannot serve a new connection: {e}"),
        }
    }

    // ANCHOR: on_connection
    /// Calls `act` on the connection `token` (if it is still open), then closes it if that
    /// failed or it is done, else asks epoll for what it wants now.
    pub fn on_connection(
        &mut self,
        token: u64,
        act: impl FnOnce(&mut Connection, &mut [u8]) -> io::Result<()>,
    ) {
        let Some(connection) = self.connections.get_mut(&token) else {
            // Gone: closed before a worker's result for it came back (the offload loop), or,
            // for an event, never here, since only the connection an event names is closed
            // while events are handled. But the map and the kernel's epoll set are two copies
            // of one truth: if they ever disagree, the event is for a connection that is gone.
            return;
        };
        let was_lingering = connection.linger_deadline().is_some();
        let outcome = act(connection, &mut self.scratch).and_then(|()| {
            if connection.is_done() {
                return Ok(false);
            }
            connection.update_interest(&self.epoll, token)?;
            Ok(true)
        });
        match outcome {
            Ok(true) => {
                // It has just begun lingering: remember when to give up on it.
                if !was_lingering {
                    if let Some(deadline) = connection.linger_deadline() {
                        self.lingering.push(deadline, token);
                    }
                }
            }
            Ok(false) => self.close(token),
            // A reset, a broken pipe: it ends this connection, never the server.
            Err(e) => {
                eprintln!("connection {token} ended: {e}");
                self.close(token);
            }
        }
    }
    // ANCHOR_END: on_connection

    // ANCHOR: close
    /// Removes a connection from the epoll set and closes its socket.
    fn close(&mut self, token: u64) {
        if let Some(connection) = self.connections.remove(&token) {
            // Closing the socket's only descriptor would remove it from the set too; saying
            // so keeps the set right even if a duplicate existed.
            let _ = self.epoll.delete(connection.stream());
        }
    }
    // ANCHOR_END: close

    /// Closes the lingering connections whose time is up.
    fn expire_lingering(&mut self) {
        let now = Instant::now();
        while let Some(token) = self.lingering.pop_expired(now) {
            // It may have finished lingering (or been closed) since.
            let connection = self.connections.get(&token);
            if connection.is_some_and(|c| c.linger_deadline().is_some()) {
                self.close(token);
            }
        }
    }
}
