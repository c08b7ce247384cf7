//! The epoll server: one thread, one event loop, every connection at once.
//!
//! Run it with `cargo run -p exercise-epoll` and talk to it with `nc 127.0.0.1 7878` (from as
//! many terminals as you like).

fn main() -> std::io::Result<()> {
    let listener = workbook_kit::listen()?;
    exercise_epoll::serve(listener)
}
