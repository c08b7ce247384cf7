//! Exercise: the async server, a task per connection on tokio's multi-threaded runtime.
//! Book: `book/src/async.md`.
//!
//! Write:
//! - [`serve`] and [`accept_loop`] (this file): the runtime, and the loop that spawns a task
//!   for each connection;
//! - in `connection.rs`: `handle_connection`, one connection's task, and `spend_work`, where
//!   a line's CPU cost goes so that it does not stall the other tasks.
//!
//! Given: in `connection.rs`, `read_line` (a bounded line, or the client's EOF) and
//! `lingering_close`, the iterative server's two hard parts written with `.await`.
//! `src/main.rs` already parses the options, binds the listener and announces it; it then
//! calls `serve`. When you are done, `cargo test -p exercise-async` shows full marks. If the
//! book and the grader disagree, the grader is right: tell us.
//!
//! Run your server with `cargo run -p exercise-async` and try it with `nc 127.0.0.1 7878`
//! from several terminals at once.

#![forbid(unsafe_code)]

pub mod connection;

use std::io;

#[allow(unused_imports)] // yours to use in `serve` and `accept_loop`
use tokio::{net::TcpListener, runtime, time};
#[allow(unused_imports)]
use workbook_kit::{out_of_descriptors, Options, OUT_OF_DESCRIPTORS_PAUSE};

#[allow(unused_imports)]
use connection::handle_connection;

/// Builds a runtime of `options.workers` worker threads and serves `listener` on it until the
/// process is stopped.
///
/// Graded by: `runtime-threads`, `cpu-work`, and every shared check, since nothing is
/// served without the runtime.
pub fn serve(listener: std::net::TcpListener, options: Options) -> io::Result<()> {
    // TODO: make `listener` non-blocking (tokio's reactor needs it so). Build the runtime with
    // `runtime::Builder::new_multi_thread()`: `worker_threads(options.workers)`, a blocking
    // pool of as many threads (`max_blocking_threads`), and the I/O and time drivers
    // (`enable_io`, `enable_time`). Book: "M tasks on N threads".
    // TODO: run `accept_loop` on it with `block_on`; lines cost CPU time (`offload`) when
    // `options.work` is not zero.
    todo!(
        "build a runtime of {} workers and serve {listener:?} on it (book: async.md, \"M tasks \
         on N threads\")",
        options.workers
    )
}

/// Accepts connections forever and spawns a task for each. `offload`: lines cost CPU time
/// (`--work`), to be spent off the worker threads.
///
/// Graded by: `runtime-threads`, `emfile`, `descriptors`.
pub async fn accept_loop(listener: std::net::TcpListener, offload: bool) -> io::Result<()> {
    // TODO: turn `listener` into tokio's (`TcpListener::from_std`) and accept in a loop
    // (`.accept().await`). For each stream, `tokio::spawn` a task that awaits
    // `handle_connection(stream, offload)` and prints its error, if any, with `eprintln!`.
    // Book: "A task per connection".
    // TODO: an accept error concerns one connection at most: print it and go on; when
    // `out_of_descriptors(&e)`, first sleep for `OUT_OF_DESCRIPTORS_PAUSE` with
    // `time::sleep(...).await` (never `std::thread::sleep`: it would block the thread).
    // Book: "Running out of descriptors".
    todo!(
        "accept connections on {listener:?} and spawn a task for each, offload: {offload} \
         (book: async.md, \"A task per connection\")"
    )
}
