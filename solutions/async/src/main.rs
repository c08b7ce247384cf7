//! The async server: a task per connection, on a runtime of `--workers` threads.
//!
//! Run it with `cargo run -p solution-async` (or `-- --workers 2`) and talk to it with
//! `nc 127.0.0.1 7878`, from several terminals at once.

fn main() -> std::io::Result<()> {
    // tokio catches a panicking task and ends only that task, leaving the server running
    // without a word to its clients. A panic is a bug, not a client's trouble: end the whole
    // server, as a panic in `main` does, so that it is seen (and the grader can say where).
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::exit(101);
    }));
    let (listener, options) = workbook_kit::start()?;
    solution_async::serve(listener, options)
}
