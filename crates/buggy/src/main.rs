//! `buggy-servers NAME [ADDR]` runs the known-buggy server called NAME; without a known
//! name it lists them all. The servers and the verdicts they must get are in the library
//! (`src/lib.rs`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let name = std::env::args().nth(1).unwrap_or_default();
    // Its name is an argument of the program's own: the kit takes the last plain argument
    // as the address (contract: "Starting").
    match buggy_servers::find(&name) {
        Some(bug) => match (bug.run)() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{}: {e}", bug.name);
                ExitCode::FAILURE
            }
        },
        None => {
            eprintln!("usage: buggy-servers NAME [ADDR]; the servers are:");
            for bug in buggy_servers::all() {
                eprintln!("  {:<28} {}", bug.name, bug.about);
            }
            ExitCode::from(2)
        }
    }
}
