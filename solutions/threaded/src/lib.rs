//! The threaded server, solved: the accept loop hands each connection to a thread of its own
//! and goes straight back to `accept`. Book: `book/src/threaded.md`.
//!
//! Two functions:
//! - [`serve`], the accept loop. It never reads from or writes to a client, so no client can
//!   hold it up: a stalled client stalls only its own thread. When the process runs out of
//!   descriptors (one per connection), it pauses instead of retrying at full speed.
//! - [`spawn_handler`], which starts the connection's thread. The thread runs the iterative
//!   server's [`handle_connection`] unchanged: serving one connection is the same job whoever
//!   does it. Only the dispatch differs.
//!
//! The threads are detached: nobody joins them. Each owns its `TcpStream`, so when it returns
//! the stream drops and the connection closes; the thread's stack is freed by the thread
//! library as it exits. Nothing is shared between threads, so nothing needs a lock.

#![forbid(unsafe_code)]

use std::io;
use std::net::{TcpListener, TcpStream};
use std::thread;

use solution_iterative::handle_connection;
use workbook_kit::{out_of_descriptors, OUT_OF_DESCRIPTORS_PAUSE};

// ANCHOR: serve
/// Accepts connections forever, starting a thread for each.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => spawn_handler(stream),
            // ECONNABORTED (a client gave up in the backlog) concerns one connection: log it
            // and accept the next.
            Err(e) => {
                eprintln!("accept failed: {e}");
                // Out of descriptors (EMFILE), the connection stays queued, so the next
                // accept would fail at once, and the next: pause until a client may have
                // left and freed one, instead of spinning.
                if out_of_descriptors(&e) {
                    thread::sleep(OUT_OF_DESCRIPTORS_PAUSE);
                }
            }
        }
    }
    Ok(())
}
// ANCHOR_END: serve

// ANCHOR: spawn_handler
/// Serves `stream` on a new thread, named after the client's port (it shows in `top -H` and
/// in `/proc/PID/task/*/comm`), and returns at once.
fn spawn_handler(stream: TcpStream) {
    let name = match stream.peer_addr() {
        Ok(peer) => format!("conn-{}", peer.port()),
        // The client may already have reset the connection: serve it anyway (the first
        // read will say so), just without a port in the name.
        Err(_) => "conn".to_string(),
    };
    let spawned = thread::Builder::new().name(name).spawn(move || {
        // `move`: the thread owns the stream, so the connection closes when it returns.
        if let Err(e) = handle_connection(stream) {
            eprintln!("connection ended: {e}");
        }
    });
    // Creating a thread can fail: too many threads for RLIMIT_NPROC, or no memory for its
    // stack. `thread::spawn` would panic here and take the whole server down; instead we
    // lose this one client. On failure the closure is dropped without running, and with it
    // the stream: the client sees its connection closed.
    //
    // On success we drop the JoinHandle, which detaches the thread: it cleans up after
    // itself when it returns, and the accept loop never waits for it.
    if let Err(e) = spawned {
        eprintln!("cannot start a thread for a new connection, closing it: {e}");
    }
}
// ANCHOR_END: spawn_handler
