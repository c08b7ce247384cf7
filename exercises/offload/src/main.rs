//! The offload server: one event loop owns every socket, and a pool of worker threads does
//! the lines' CPU work.
//!
//! Run it with `cargo run -p exercise-offload -- --workers 4 --work 20000` and talk to it with
//! `nc 127.0.0.1 7878` from several terminals: each line costs 20 ms of CPU, on a worker.

fn main() -> std::io::Result<()> {
    let (listener, options) = workbook_kit::start()?;
    exercise_offload::serve(listener, options.workers)
}
