//! The multi-reactor server, solved: N event loops, each on a thread of its own, each with its
//! own listening socket, its own epoll instance and its own connections. Book:
//! `book/src/multi-reactor.md`.
//!
//! # Layout
//! - [`listeners`] binds one listening socket per loop, all on one port, with `SO_REUSEPORT`:
//!   the kernel then deals each new connection to one of them.
//! - [`serve`] starts a thread per listener, each running the epoll server's loop,
//!   [`solution_epoll::serve`], unchanged, and waits: a loop that ends ends the server.
//!
//! That is all: serving a connection is the epoll server's job, done the same way in each
//! loop. Only how connections reach the loops is new.
//!
//! # Choices
//! - **Threads, not processes.** nginx runs a loop per worker *process*: a crash takes one
//!   worker, and the master can start a new one or reload without dropping connections. Here
//!   the loops share nothing, so threads cost the same and are simpler to start, stop and
//!   observe. What threads do share is the process's descriptor table: see the kit's
//!   `refuse_one` for what that changes when descriptors run out.
//! - **`SO_REUSEPORT`, not an acceptor thread.** An acceptor would accept every connection
//!   and hand it to a loop (round robin, exactly fair) through a queue and a wake-up; here
//!   the kernel hands it out, with no thread between the client and its loop and nothing
//!   shared between loops. The price: the kernel deals by hashing the connection's addresses
//!   and ports, blind to how busy each loop is, so a loop stuck in long work still gets its
//!   share of new connections, and they wait for it (the chapter's "Imbalance").
//! - **Nothing is shared** between loops: no lock, no counter, no queue. Each loop's
//!   connections, buffers and scratch space are its own, which is what lets N loops run on N
//!   cores without waiting for each other.

#![forbid(unsafe_code)]

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;

use workbook_kit::bind_reuse_port;

// ANCHOR: listeners
/// Binds `loops` listening sockets to `addr`, all with `SO_REUSEPORT`.
pub fn listeners(addr: SocketAddr, loops: usize) -> io::Result<Vec<TcpListener>> {
    let first = bind_reuse_port(addr)?;
    // Port 0 asks the kernel for any free port: the others must join the one it chose, not
    // ask for a port 0 of their own.
    let port = first.local_addr()?;
    let mut all = vec![first];
    for _ in 1..loops {
        all.push(bind_reuse_port(port)?);
    }
    Ok(all)
}
// ANCHOR_END: listeners

// ANCHOR: serve
/// Runs one event loop per listener, each on its own thread, until one of them ends.
pub fn serve(listeners: Vec<TcpListener>) -> io::Result<()> {
    let (ended, first_to_end) = mpsc::channel();
    for (i, listener) in listeners.into_iter().enumerate() {
        let ended = ended.clone();
        thread::Builder::new()
            .name(format!("loop-{i}"))
            .spawn(move || {
                // A loop that panics is reported like one that fails, not lost in silence.
                let result =
                    panic::catch_unwind(AssertUnwindSafe(|| solution_epoll::serve(listener)))
                        .unwrap_or_else(|_| Err(io::Error::other("it panicked")));
                let _ = ended.send((i, result));
            })?;
    }
    drop(ended);
    // A loop ends only on an error it cannot serve through (epoll itself failing). The others
    // would go on, but without it: its listener closes with it, so the kernel deals its share
    // to the others, and the server runs on fewer loops than asked. End the process instead.
    match first_to_end.recv() {
        Ok((i, Err(e))) => Err(io::Error::new(e.kind(), format!("loop {i} failed: {e}"))),
        Ok((i, Ok(()))) => Err(io::Error::other(format!("loop {i} ended"))),
        Err(mpsc::RecvError) => Ok(()), // no listener, so no loop
    }
}
// ANCHOR_END: serve
