//! `cargo test -p exercise-epoll`: runs the grader's rubric for the epoll architecture
//! against this crate's server, one test per check (filters and `--list` work).

fn main() -> std::process::ExitCode {
    workbook::harness::main("epoll", env!("CARGO_BIN_EXE_exercise-epoll"))
}
