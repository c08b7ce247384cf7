//! `cargo test -p exercise-thread-pool`: runs the grader's rubric for the thread-pool
//! architecture against this crate's server, one test per check (filters and `--list` work).

fn main() -> std::process::ExitCode {
    workbook::harness::main("thread-pool", env!("CARGO_BIN_EXE_exercise-thread-pool"))
}
