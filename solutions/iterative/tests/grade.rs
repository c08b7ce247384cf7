//! `cargo test -p solution-iterative`: runs the grader's rubric for the iterative architecture
//! against this crate's server, one test per check (filters and `--list` work).

fn main() -> std::process::ExitCode {
    workbook::harness::main("iterative", env!("CARGO_BIN_EXE_solution-iterative"))
}
