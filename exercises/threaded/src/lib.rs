//! Exercise: the threaded server, a thread per connection. Book: `book/src/threaded.md`.
//!
//! Write `serve` below. `src/main.rs` already binds the listener and announces it; it then
//! calls `serve`. When you are done, `cargo test -p exercise-threaded` shows full marks. If
//! the book and the grader disagree, the grader is right: tell us.
//!
//! Serving one connection is what you wrote in the iterative exercise:
//! `exercise_iterative::handle_connection(stream)` echoes lines until the client leaves. Reuse
//! it; only the dispatch is new. Finish `exercises/iterative` first: this server's
//! correctness checks go through it, and grading threaded takes that crate's files too.

use std::io;
use std::net::TcpListener;

// ANCHOR: stub
/// Accepts connections forever and serves each on a thread of its own.
///
/// Graded by: `thread-per-connection`, `stalled-client`, `many-clients`, `interleaved`,
/// `threads-end`, `spawn-failure`, `emfile`, and every shared check, since nothing works
/// until connections are accepted.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    // TODO: loop over `listener.incoming()`. An accept error concerns one connection at
    // most: print it with `eprintln!` and go on. Book: "Spawning a thread per connection".
    // TODO: when the error is `workbook_kit::out_of_descriptors(&e)`, sleep for
    // `workbook_kit::OUT_OF_DESCRIPTORS_PAUSE` before accepting again, or the loop spins.
    // Book: "Running out of descriptors".
    // TODO: for each stream, start a thread with `std::thread::Builder::new().spawn(...)`
    // whose closure takes the stream (`move`) and calls `handle_connection`; do not join it.
    // Book: "Detach, don't join".
    // TODO: `spawn` returns an error when no thread can be created: print it and go on (the
    // stream is dropped, which closes that client). `thread::spawn` would panic instead.
    // Book: "When a thread cannot be created".
    todo!("start a thread per connection accepted on {listener:?} (book: threaded.md, \"Spawning a thread per connection\")")
}
// ANCHOR_END: stub
