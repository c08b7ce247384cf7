//! The forking server: a process per connection. This file is given; write `src/lib.rs`.
//!
//! Run it with `cargo run -p exercise-forking` and talk to it with `nc 127.0.0.1 7878`.
//! Grade it with `cargo test -p exercise-forking`.

fn main() -> std::io::Result<()> {
    // Parses the address (the last argument, default 127.0.0.1:7878), binds it and prints
    // `listening on ADDR`: the line the grader waits for.
    let listener = workbook_kit::listen()?;
    exercise_forking::serve(listener)
}
