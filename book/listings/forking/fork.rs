//! `fork` returns twice, and a child that has ended is a zombie until its parent waits for it.
//! Not the server: one child, which prints a line and exits with status 7.
//! Run it with `cargo run -q -p book-listings --bin forking-fork`.

use std::fs;
use std::thread::sleep;
use std::time::Duration;

use nix::sys::wait::waitpid;
use nix::unistd::{fork, getpid, ForkResult, Pid};

/// The state letter of process `pid` in `/proc/PID/stat` (`S` sleeping, `Z` zombie, ...), or
/// "gone" once no such process exists.
fn state(pid: Pid) -> String {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat.rsplit(')').next().unwrap_or("").trim()[..1].to_string(),
        Err(_) => "gone".to_string(),
    }
}

fn main() -> nix::Result<()> {
    println!("before fork: pid {}", getpid());
    // Safe: this program has one thread, so the child is a complete copy of it. (The `?` is
    // fine in a demonstration; in a server, a failed fork must not end it.)
    match unsafe { fork() }? {
        ForkResult::Child => {
            println!("child:  pid {}, fork returned 0", getpid());
            std::process::exit(7);
        }
        ForkResult::Parent { child } => {
            println!("parent: pid {}, fork returned {child}", getpid());
            sleep(Duration::from_millis(200)); // long enough for the child to end
            println!("parent: child {child} is in state {}", state(child));
            let status = waitpid(child, None)?;
            println!("parent: waitpid returned {status:?}");
            println!("parent: child {child} is {}", state(child));
        }
    }
    Ok(())
}
