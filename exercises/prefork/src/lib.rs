//! Exercise: the prefork server, a master and a fixed pool of worker processes. Book:
//! `book/src/prefork.md`.
//!
//! Write `serve` (the master) and `worker` (a worker's life) below. `src/main.rs` already
//! binds the listener, announces it and reads `--workers`; it then calls `serve`. When you
//! are done, `cargo test -p exercise-prefork` shows full marks. If the book and the grader
//! disagree, the grader is right: tell us.
//!
//! Serving one connection is what you wrote in the iterative exercise:
//! `exercise_iterative::handle_connection(stream)` echoes lines until the client leaves. Reuse
//! it (finish `exercises/iterative` first: this server's correctness checks go through it,
//! and grading prefork takes that crate's files too). The forking exercise taught fork,
//! who closes what and reaping; what is new here is forking *before* any client, many
//! processes accepting on one listener, and a master that supervises: it replaces the
//! workers that die and ends them all when it is told to stop.
//!
//! From nix (already a dependency): `nix::unistd::{fork, ForkResult, Pid, getpid,
//! getppid}`, `nix::sys::wait::{waitpid, WaitPidFlag}`,
//! `nix::sys::signal::{kill, SigSet, SigmaskHow, Signal}` (`SigSet::thread_swap_mask` blocks
//! signals, `SigSet::wait` waits for one of them) and `nix::sys::prctl::set_pdeathsig`.

use std::io;
use std::net::TcpListener;

// ANCHOR: stub
/// The master: forks `workers` workers that serve connections on `listener`, then
/// supervises them until SIGTERM or SIGINT.
///
/// Graded by: `worker-pool`, `fixed-pool`, `master-never-serves`, `killed-worker`,
/// `sigterm-ends-workers`, and every shared check, since nothing is served until the workers
/// exist.
pub fn serve(listener: TcpListener, workers: usize) -> io::Result<()> {
    // TODO: before the first fork, block SIGCHLD, SIGTERM and SIGINT, so that none is lost
    // or acted on before the master waits for it. Book: "Waiting for signals".
    // TODO: fork `workers` workers (exactly that many). In each: restore the signal mask the
    // master had before, so that SIGTERM ends the worker wherever it is blocked, then run
    // `worker`. Keep the pids. Book: "A master and its workers", "Sizing the pool".
    // TODO: then wait for signals in a loop, and never accept. On SIGCHLD: collect every
    // ended worker with `waitpid(None, Some(WaitPidFlag::WNOHANG))` in a loop (signals
    // merge) and fork one replacement for each. Book: "The master only supervises", "When a
    // worker dies".
    // TODO: on SIGTERM or SIGINT: send SIGTERM to every worker, wait for each with
    // `waitpid`, then return. Book: "Stopping the pool".
    todo!(
        "fork {workers} workers to accept on {listener:?}, then supervise them \
         (book: prefork.md, \"A master and its workers\")"
    )
}

/// A worker's whole life: accept a connection on the listener it shares with the other
/// workers, serve it to its end, accept the next. It never returns.
///
/// Graded by: `busy-pool-queues`, `no-fork-per-connection`, and every shared check.
pub fn worker(listener: &TcpListener) -> ! {
    // TODO: accept in a loop with a blocking `listener.accept()`, and serve each connection
    // with `exercise_iterative::handle_connection` before accepting the next: one client at
    // a time, never a thread or a process per connection. Book: "Accept on a shared socket",
    // "The 101st client".
    // TODO: a connection's error ends that connection, not the worker: print it with
    // `eprintln!` and accept the next. So does an accept error; when it is
    // `workbook_kit::out_of_descriptors(&e)`, sleep for `workbook_kit::OUT_OF_DESCRIPTORS_PAUSE`
    // first, or the loop spins.
    todo!(
        "accept and serve connections on {listener:?}, one at a time \
         (book: prefork.md, \"Accept on a shared socket\")"
    )
}
// ANCHOR_END: stub
