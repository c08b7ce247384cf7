//! `cargo test -p exercise-prefork`: runs the grader's rubric for the prefork architecture
//! against this crate's server, one test per check (filters and `--list` work).

fn main() -> std::process::ExitCode {
    workbook::harness::main("prefork", env!("CARGO_BIN_EXE_exercise-prefork"))
}
