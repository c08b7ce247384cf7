//! `cargo test -p solution-multi-reactor`: runs the grader's rubric for the multi-reactor
//! architecture against this crate's server, one test per check (filters and `--list` work).

fn main() -> std::process::ExitCode {
    workbook::harness::main(
        "multi-reactor",
        env!("CARGO_BIN_EXE_solution-multi-reactor"),
    )
}
