//! The iterative server: one connection at a time.
//!
//! Run it with `cargo run -p solution-iterative` and talk to it with `nc 127.0.0.1 7878`.

fn main() -> std::io::Result<()> {
    let listener = workbook_kit::listen()?;
    solution_iterative::serve(listener)
}
