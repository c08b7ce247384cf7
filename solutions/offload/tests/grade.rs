//! `cargo test -p solution-offload`: runs the grader's rubric for the offload architecture
//! against this crate's server, one test per check (filters and `--list` work).

fn main() -> std::process::ExitCode {
    workbook::harness::main("offload", env!("CARGO_BIN_EXE_solution-offload"))
}
