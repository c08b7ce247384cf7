//! Exercise: the thread-pool server, N workers and a bounded queue. Book:
//! `book/src/thread-pool.md`.
//!
//! Write `serve` below. `src/main.rs` already binds the listener, announces it and reads
//! `--workers`; it then calls `serve`. When you are done, `cargo test -p exercise-thread-pool`
//! shows full marks. If the book and the grader disagree, the grader is right: tell us.
//!
//! Serving one connection is what you wrote in the iterative exercise:
//! `exercise_iterative::handle_connection(stream)` echoes lines until the client leaves. A
//! worker calls it for each connection it takes; only the dispatch is new. Finish
//! `exercises/iterative` first: this server's correctness checks go through it, and grading
//! thread-pool takes that crate's files too.

use std::io;
use std::net::TcpListener;

// ANCHOR: stub
/// Starts `workers` worker threads, then accepts connections forever and hands each to the
/// workers through a bounded queue; each worker serves one connection at a time, to its end.
///
/// Graded by: `worker-threads`, `serves-n-at-once`, `next-in-line`, `bounded-queue`,
/// `emfile`, and every shared check, since nothing works until connections are served.
pub fn serve(listener: TcpListener, workers: usize) -> io::Result<()> {
    // TODO: make a queue of `TcpStream`s with room for a few connections, `workers` say:
    // `std::sync::mpsc::sync_channel`, or a `Mutex<VecDeque>` with two `Condvar`s. Book:
    // "The queue: a bounded buffer".
    // TODO: start `workers` threads with `std::thread::Builder::new().spawn(...)`, before
    // accepting; return the error if one cannot start. Book: "A fixed set of workers".
    // TODO: each worker loops: take the next connection, letting go of any lock first, then
    // `handle_connection(stream)` (print its error and go on). Book: "Taking a connection
    // from the queue".
    // TODO: this thread is the acceptor: loop over `listener.incoming()` and put each stream
    // in the queue, waiting while it is full; never start a thread for a connection, never
    // close one because the queue is full. Book: "When the queue is full".
    // TODO: an accept error concerns one connection at most: print it and go on; when
    // `workbook_kit::out_of_descriptors(&e)`, first sleep for
    // `workbook_kit::OUT_OF_DESCRIPTORS_PAUSE`. Book: "Running out of descriptors".
    todo!("start {workers} workers, then queue the connections accepted on {listener:?} for them (book: thread-pool.md, \"A fixed set of workers\")")
}
// ANCHOR_END: stub
