//! Exercise: the iterative server. Book: `book/src/iterative.md`.
//!
//! Write the two functions below. `src/main.rs` already binds the listener and announces it;
//! it then calls `serve`. When you are done, `cargo test -p exercise-iterative` shows full
//! marks. If the book and the grader disagree, the grader is right: tell us.
//!
//! Run your server with `cargo run -p exercise-iterative` and try it with `nc 127.0.0.1 7878`.

use std::io;
use std::net::{TcpListener, TcpStream};

// Useful from the kit: `workbook_kit::MAX_LINE` (65,536, the `\n` included) and
// `workbook_kit::TOO_LONG` (the bytes `ERR line too long\n`).

// ANCHOR: stubs
/// Accepts connections one after another and serves each to its end.
///
/// Graded by: `descriptors`, `single-process`, `queued-client` and every other check, since
/// nothing works until connections are accepted.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    // TODO: loop over `listener.incoming()`; hand each accepted stream to
    // `handle_connection`. An error from one connection (or from accept) must not end the
    // loop: print it with `eprintln!` and go on. Book: "The accept loop".
    todo!("write the accept loop over {listener:?} (book: iterative.md, \"The accept loop\")")
}

/// Echoes every complete line received on `stream`, in order, until the client shuts its
/// write side; then drops any unfinished fragment and returns (which closes the connection).
///
/// Graded by: `one-line`, `pipelined`, `byte-by-byte`, `binary`, `empty-lines`,
/// `longest-line`, `too-long`, `half-close`, `mebibyte`, `reset`.
pub fn handle_connection(stream: TcpStream) -> io::Result<()> {
    // TODO: read lines of at most MAX_LINE bytes (BufReader::read_until with Read::take is
    // one way); write each complete line back, newline included. Book: "Reading lines with a
    // bound".
    // TODO: when MAX_LINE bytes have arrived without a `\n`, send TOO_LONG, then shut the
    // write side and drain the input briefly before returning. Book: "Too long: answer, then
    // linger".
    // TODO: at EOF, drop an unfinished fragment and return. Book: "Half-close".
    todo!("echo complete lines on {stream:?} (book: iterative.md, \"Reading lines with a bound\")")
}
// ANCHOR_END: stubs
