//! The prefork server: a master and a fixed pool of worker processes.
//!
//! Run it with `cargo run -p solution-prefork -- --workers 3` and talk to it with
//! `nc 127.0.0.1 7878` from four terminals: the fourth waits until one of the others leaves.
//! Watch the pool with `ps -o pid,ppid,stat,wchan:20,cmd --pid PID --ppid PID`.

fn main() -> std::io::Result<()> {
    let (listener, options) = workbook_kit::start()?;
    solution_prefork::serve(listener, options.workers)
}
