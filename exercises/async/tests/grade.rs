//! `cargo test -p exercise-async`: runs the grader's rubric for the async architecture
//! against this crate's server, one test per check (filters and `--list` work).

fn main() -> std::process::ExitCode {
    workbook::harness::main("async", env!("CARGO_BIN_EXE_exercise-async"))
}
