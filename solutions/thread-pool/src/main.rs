//! The thread-pool server: an acceptor and `--workers N` worker threads (default 4).
//!
//! Run it with `cargo run -p solution-thread-pool -- --workers 2` and talk to it with
//! `nc 127.0.0.1 7878` from three terminals: the third waits until one of the others leaves.

fn main() -> std::io::Result<()> {
    let (listener, options) = workbook_kit::start()?;
    solution_thread_pool::serve(listener, options.workers)
}
