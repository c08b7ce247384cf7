//! Exercise: the forking server, a process per connection. Book: `book/src/forking.md`.
//!
//! Write `serve` below. `src/main.rs` already binds the listener and announces it; it then
//! calls `serve`. When you are done, `cargo test -p exercise-forking` shows full marks. If
//! the book and the grader disagree, the grader is right: tell us.
//!
//! Serving one connection is what you wrote in the iterative exercise:
//! `exercise_iterative::handle_connection(stream)` echoes lines until the client leaves. Reuse
//! it (finish `exercises/iterative` first: this server's correctness checks go through it,
//! and grading forking takes that crate's files too). What is new is everything around it: fork, which process closes which descriptor, how a child
//! ends, and collecting the children that have ended.
//!
//! From nix (already a dependency): `nix::unistd::{fork, ForkResult}`,
//! `nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus}` and
//! `nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal}`.

use std::io;
use std::net::TcpListener;

// ANCHOR: stub
/// Accepts connections forever, forking a child to serve each.
///
/// Graded by: `child-per-connection`, `stalled-client`, `parent-closes`, `children-exit`,
/// `no-zombies`, `sigchld-in-accept`, `crash-isolation`, `bounded-processes`,
/// `fork-failure`, `emfile`, and every shared check, since nothing works until connections
/// are accepted.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    // TODO: before the first fork, arrange for ended children to be collected: a SIGCHLD
    // handler that calls `waitpid(None, Some(WaitPidFlag::WNOHANG))` in a loop until it
    // finds no ended child, and calls nothing that is not async-signal-safe. Book: "Zombies
    // and SIGCHLD", "What may run in a signal handler".
    // TODO: accept in a loop. An accept error concerns one connection at most: print it
    // with `eprintln!` and go on; when it is `workbook_kit::out_of_descriptors(&e)`, sleep
    // for `workbook_kit::OUT_OF_DESCRIPTORS_PAUSE` first, or the loop spins. Book: "A
    // process per connection", "Running out of descriptors".
    // TODO: fork for each connection: `unsafe { fork() }`, with a `// Safe:` comment that
    // says why it is. In the child: drop the listener, serve the stream, then end with
    // `std::process::exit`; never return into the loop. In the parent: drop the stream
    // at once. Book: "Who closes what", "How a child ends", "Why fork is unsafe in Rust".
    // TODO: fork fails (EAGAIN) when there are too many processes: print the error and go
    // on; the stream is dropped, which closes that client. Book: "When fork fails".
    todo!(
        "fork a child for each connection accepted on {listener:?} \
         (book: forking.md, \"A process per connection\")"
    )
}
// ANCHOR_END: stub
