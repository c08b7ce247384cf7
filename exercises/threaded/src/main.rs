//! The threaded server: a thread per connection. This file is given; write `src/lib.rs`.
//!
//! Run it with `cargo run -p exercise-threaded` and talk to it with `nc 127.0.0.1 7878`, from
//! several terminals at once. Grade it with `cargo test -p exercise-threaded`.

fn main() -> std::io::Result<()> {
    // Parses the address (the last argument, default 127.0.0.1:7878), binds it and prints
    // `listening on ADDR`: the line the grader waits for.
    let listener = workbook_kit::listen()?;
    exercise_threaded::serve(listener)
}
