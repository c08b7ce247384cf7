//! Known-buggy servers: `buggy-servers NAME [ADDR]` runs the server called NAME.
//!
//! Each one follows the contract except for one deliberate bug, the kind learners (and the
//! reference articles) really write. `tests/buggy.rs` grades each and asserts that exactly
//! the check aimed at its bug fails, with a useful message, and that nothing is left running.
//! This is dev-only code: it proves the grader, it is not a model to copy.

mod common;
mod epoll;
mod forking;
mod hostile;
mod integrity;
mod threaded;

use std::io;
use std::process::ExitCode;

/// One buggy server.
pub struct Bug {
    pub name: &'static str,
    /// The bug, in one line.
    pub about: &'static str,
    pub run: fn() -> io::Result<()>,
}

fn main() -> ExitCode {
    let all: Vec<&Bug> = [
        common::BUGS,
        hostile::BUGS,
        integrity::BUGS,
        forking::BUGS,
        threaded::BUGS,
        epoll::BUGS,
    ]
    .into_iter()
    .flatten()
    .collect();
    let name = std::env::args().nth(1).unwrap_or_default();
    match all.iter().find(|b| b.name == name) {
        Some(bug) => match (bug.run)() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{}: {e}", bug.name);
                ExitCode::FAILURE
            }
        },
        None => {
            eprintln!("usage: buggy-servers NAME [ADDR]; the servers are:");
            for bug in all {
                eprintln!("  {:<28} {}", bug.name, bug.about);
            }
            ExitCode::from(2)
        }
    }
}
