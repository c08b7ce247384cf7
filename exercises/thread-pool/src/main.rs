//! The thread-pool server: an acceptor and `--workers N` worker threads (default 4). This
//! file is given; write `src/lib.rs`.
//!
//! Run it with `cargo run -p exercise-thread-pool -- --workers 2` and talk to it with
//! `nc 127.0.0.1 7878` from three terminals: the third waits until one of the others leaves.
//! Grade it with `cargo test -p exercise-thread-pool`.

fn main() -> std::io::Result<()> {
    // Parses `[--workers N] [--work MICROS] [ADDR]` (default 127.0.0.1:7878), binds and
    // prints `listening on ADDR`: the line the grader waits for. The grader passes
    // `--workers 3` where it counts threads.
    let (listener, options) = workbook_kit::start()?;
    exercise_thread_pool::serve(listener, options.workers)
}
