//! `cargo test -p solution-forking`: runs the grader's rubric for the forking architecture
//! against this crate's server, one test per check (filters and `--list` work).

fn main() -> std::process::ExitCode {
    workbook::harness::main("forking", env!("CARGO_BIN_EXE_solution-forking"))
}
