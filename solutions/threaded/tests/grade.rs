//! `cargo test -p solution-threaded`: runs the grader's rubric for the threaded architecture
//! against this crate's server, one test per check (filters and `--list` work).

fn main() -> std::process::ExitCode {
    workbook::harness::main("threaded", env!("CARGO_BIN_EXE_solution-threaded"))
}
