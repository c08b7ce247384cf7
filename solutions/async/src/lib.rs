//! The async server, solved: a task per connection, on tokio's multi-threaded runtime.
//! Book: `book/src/async.md`.
//!
//! The code reads like the threaded server's, with `.await` where that one blocked: a loop
//! accepts connections and starts a task for each, and each task echoes its client's lines
//! from top to bottom. What runs it is different. A task is not a thread: it is a future, a
//! state machine that the runtime polls on one of a few worker threads (`--workers`, 4 by
//! default) until it has to wait for a socket; then it hands its thread back, and the
//! runtime's reactor (an epoll loop, as in the epoll chapter) wakes it when the socket is
//! ready. Thousands of connections, a handful of threads: M tasks on N threads.
//!
//! Two files:
//! - this one: [`serve`] builds the runtime and runs the accept loop on it;
//! - [`connection`]: one connection's task, and where a line's CPU cost (`--work`) is spent:
//!   not on the worker thread, which would stall every task queued behind it.
//!
//! The crate forbids `unsafe`: tokio's own is fenced inside tokio.

#![forbid(unsafe_code)]

pub mod connection;

use std::io;

use tokio::net::TcpListener;
use tokio::{runtime, time};
use workbook_kit::{out_of_descriptors, Options, OUT_OF_DESCRIPTORS_PAUSE};

use connection::handle_connection;

// ANCHOR: serve
/// Builds a runtime of `options.workers` worker threads and serves `listener` on it until the
/// process is stopped.
pub fn serve(listener: std::net::TcpListener, options: Options) -> io::Result<()> {
    // tokio's reactor needs the socket non-blocking; `from_std` below does not set it.
    listener.set_nonblocking(true)?;
    let runtime = runtime::Builder::new_multi_thread()
        .worker_threads(options.workers)
        // The pool that runs `spawn_blocking` closures: here, the lines' CPU work. As many
        // threads as workers, so CPU work cannot take more cores than the I/O has, and the
        // server's threads stay bounded whatever its clients send (tokio's default is 512).
        .max_blocking_threads(options.workers)
        .thread_name("async-worker")
        .enable_io()
        .enable_time()
        .build()?;
    // The accept loop runs on this (the main) thread, inside `block_on`; the connections'
    // tasks run on the workers.
    runtime.block_on(accept_loop(listener, !options.work.is_zero()))
}
// ANCHOR_END: serve

// ANCHOR: accept_loop
/// Accepts connections forever and spawns a task for each. `offload`: lines cost CPU time
/// (`--work`), to be spent off the worker threads.
pub async fn accept_loop(listener: std::net::TcpListener, offload: bool) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                // The task owns the stream; dropping the JoinHandle detaches the task, which
                // ends (and closes the connection) when `handle_connection` returns.
                tokio::spawn(async move {
                    if let Err(e) = handle_connection(stream, offload).await {
                        eprintln!("connection ended: {e}");
                    }
                });
            }
            Err(e) => {
                eprintln!("accept failed: {e}");
                // Out of descriptors, the connection stays queued and the listener stays
                // ready: accepting again at once would fail at once, for ever. Sleep (an
                // await, so the workers go on serving) until a client may have left.
                if out_of_descriptors(&e) {
                    time::sleep(OUT_OF_DESCRIPTORS_PAUSE).await;
                }
            }
        }
    }
}
// ANCHOR_END: accept_loop
