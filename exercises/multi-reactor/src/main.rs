//! The multi-reactor server: one event loop per `--workers` (4 by default), each on a thread
//! of its own, sharing one port.
//!
//! Run it with `cargo run -p exercise-multi-reactor -- --workers 2` and talk to it with
//! `nc 127.0.0.1 7878` from several terminals; `ls /proc/PID/task` shows the loops.

fn main() -> std::io::Result<()> {
    let (listeners, _) = workbook_kit::start_with(|options| {
        exercise_multi_reactor::listeners(options.addr, options.workers)
    })?;
    exercise_multi_reactor::serve(listeners)
}
