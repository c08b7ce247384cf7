//! The threaded server: a thread per connection.
//!
//! Run it with `cargo run -p solution-threaded` and talk to it with `nc 127.0.0.1 7878`, from
//! several terminals at once.

fn main() -> std::io::Result<()> {
    let listener = workbook_kit::listen()?;
    solution_threaded::serve(listener)
}
