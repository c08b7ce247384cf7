//! The thread-pool server, solved: N worker threads, started once, take connections from a
//! bounded queue that one acceptor fills. Book: `book/src/thread-pool.md`.
//!
//! Three functions:
//! - [`serve`] makes the queue, starts the workers and becomes the acceptor;
//! - `accept_into`, the acceptor's loop: accept, put the connection in the queue, accept
//!   again. It never reads from or writes to a client;
//! - `work`, a worker's loop: take the next connection, serve it to its end with the
//!   iterative server's [`handle_connection`] (unchanged, `--work` included), take the next.
//!
//! # The queue: `sync_channel`, not Mutex + Condvar
//! A bounded queue between threads is the classic *bounded buffer* (CS:APP's `sbuf`): a
//! ring of slots, a lock, and two conditions, "not full" for the producer and "not empty" for
//! the consumers. `std::sync::mpsc::sync_channel(capacity)` is exactly that, written and
//! tested once: `send` blocks while the buffer is full, `recv` while it is empty, and `recv`
//! fails once every sender is gone, so no flag for "no more work" is needed either. Mutex +
//! Condvar would be the same thing by hand, with a `while` loop around every `wait` and a
//! `notify` to remember on each side. What the channel lacks is a second consumer: its
//! `Receiver` is for one thread, so the workers share it behind a `Mutex`, and the lock is
//! held only while a worker waits for the next connection, never while it serves one.
//!
//! # A full queue blocks the acceptor
//! The queue holds as many connections as there are workers. When every worker is busy and
//! the queue is full, `send` blocks and the acceptor stops accepting. That is the policy, and
//! the reason is that it loses nothing and holds nothing more: the connections that keep
//! arriving complete their handshake in the kernel, which queues them in the listen backlog
//! (4,096 here, `workbook_kit::BACKLOG`) until the acceptor takes them. A client beyond the
//! pool waits, as the contract says it must, and the server's memory and descriptors stay
//! bounded however many come: N being served, N in the queue, one in the acceptor's hand.
//! Dropping or refusing the extra clients instead would turn away clients that could simply
//! have waited; an unbounded queue would accept them all, and hold a descriptor and a socket
//! for each, for clients no worker can serve sooner.
//!
//! # What is not here
//! No signal handling: SIGTERM and SIGINT keep their default action, which ends the process
//! and every thread in it at once. No joining: the workers run as long as the process. A
//! worker ends only when the queue's sender is gone, which happens only if the acceptor
//! has returned with an error, and the process is ending then anyway.

#![forbid(unsafe_code)]

use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use solution_iterative::handle_connection;
use workbook_kit::{out_of_descriptors, OUT_OF_DESCRIPTORS_PAUSE};

// ANCHOR: serve
/// Starts `workers` worker threads, then accepts connections forever and queues them for
/// the workers. Fails at once if a worker cannot be started: a pool smaller than asked for
/// would serve fewer clients at once than the operator counted on.
pub fn serve(listener: TcpListener, workers: usize) -> io::Result<()> {
    // Room for one waiting connection per worker: a worker that finishes finds its next
    // client already accepted, and beyond that the kernel's backlog does the waiting.
    let (queue, waiting) = mpsc::sync_channel(workers);
    let waiting = Arc::new(Mutex::new(waiting));
    for id in 1..=workers {
        let waiting = Arc::clone(&waiting);
        thread::Builder::new()
            .name(format!("worker-{id}"))
            .spawn(move || work(&waiting))
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start worker {id}: {e}")))?;
    }
    accept_into(&listener, &queue)
}
// ANCHOR_END: serve

// ANCHOR: accept_into
/// The acceptor: hands every accepted connection to the queue, waiting while it is full.
fn accept_into(listener: &TcpListener, queue: &SyncSender<TcpStream>) -> io::Result<()> {
    for stream in listener.incoming() {
        match stream {
            // Blocks while the queue is full: no accept until a worker takes a connection,
            // and the clients meanwhile wait in the listen backlog.
            Ok(stream) => queue
                .send(stream)
                .map_err(|_| io::Error::other("every worker has ended"))?,
            Err(e) => {
                eprintln!("accept failed: {e}");
                // Out of descriptors, the connection stays in the backlog and the next
                // accept would fail at once too: pause instead of spinning.
                if out_of_descriptors(&e) {
                    thread::sleep(OUT_OF_DESCRIPTORS_PAUSE);
                }
            }
        }
    }
    Ok(())
}
// ANCHOR_END: accept_into

// ANCHOR: work
/// A worker: serves one connection at a time, to its end, for as long as connections come.
fn work(waiting: &Mutex<Receiver<TcpStream>>) {
    loop {
        // One statement: the guard is a temporary of it, so the lock is let go at the `;`,
        // before serving. (`while let Ok(s) = waiting.lock()...recv()` would keep it for the
        // whole loop body, and the pool would serve one client at a time.) A worker that
        // panicked while waiting poisons the lock, but the receiver is still sound.
        let next = waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        // No sender left: the acceptor has gone, and no connection will come again.
        let Ok(stream) = next else { return };
        // One client's trouble ends its connection only; the worker takes the next.
        if let Err(e) = handle_connection(stream) {
            eprintln!("connection ended: {e}");
        }
    }
}
// ANCHOR_END: work
