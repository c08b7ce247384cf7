//! The forking server, solved: the parent accepts a connection, forks a child to serve it, and
//! goes straight back to `accept`; the child serves its one client and exits. Book:
//! `book/src/forking.md`.
//!
//! Three pieces:
//! - [`serve`], the parent's accept loop. It never reads from or writes to a client, so no
//!   client can hold it up. After each fork the parent closes its copy of the client's socket
//!   and the child closes its copy of the listener: each process keeps only what it uses.
//! - [`serve_child`], the child's whole life: the iterative server's [`handle_connection`],
//!   unchanged, then `exit`. Serving one connection is the same job whoever does it.
//! - [`reap_children`], the `SIGCHLD` handler. A child that has exited stays a zombie until
//!   its parent collects its exit status with `waitpid`. The handler collects every ended
//!   child each time the kernel says that one has ended.
//!
//! Why reap in the handler rather than set a flag and reap in the accept loop: the loop spends
//! its life blocked in `accept`, and a flag set just before `accept` blocks is seen only when
//! the next client arrives, which may be never. The handler runs whenever a child ends, so no
//! zombie waits for a client. It calls nothing but `waitpid`, which is async-signal-safe.

use std::ffi::c_int;
use std::io;
use std::net::{TcpListener, TcpStream};

use nix::errno::Errno;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult};
use solution_iterative::handle_connection;
use workbook_kit::{out_of_descriptors, OUT_OF_DESCRIPTORS_PAUSE};

// ANCHOR: serve
/// Accepts connections forever, forking a child to serve each.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    reap_children_on_sigchld()?;
    loop {
        // std's `accept` retries by itself when a signal interrupts it (EINTR), so a
        // SIGCHLD arriving while we wait here never surfaces as an error.
        let stream = match listener.accept() {
            Ok((stream, _peer)) => stream,
            // ECONNABORTED (a client gave up in the backlog) concerns one connection: log
            // it and accept the next.
            Err(e) => {
                eprintln!("accept failed: {e}");
                // Out of descriptors (EMFILE, or ENFILE for the whole system): the
                // connection stays queued and accepting again at once fails again at once.
                // Pause rather than spin. (This parent holds a client's socket only until
                // it forks, so it gets here only when the whole system runs out; a parent
                // that kept a descriptor per child would get here much sooner.)
                if out_of_descriptors(&e) {
                    std::thread::sleep(OUT_OF_DESCRIPTORS_PAUSE);
                }
                continue;
            }
        };
        // Safe: this process has a single thread (nothing in the server starts one), so
        // the child is a complete copy of a consistent program and may run any code, not
        // only async-signal-safe calls, until it exits.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                // The child serves one client and never accepts: close its copy of the
                // listener, so that only the parent holds the port.
                drop(listener);
                serve_child(stream)
            }
            Ok(ForkResult::Parent { .. }) => {
                // The child owns the connection now. Close the parent's copy, or the
                // client never sees EOF (a socket closes when its last descriptor does),
                // and every later child would inherit it too.
                drop(stream);
            }
            // EAGAIN: too many processes for RLIMIT_NPROC, or no memory. Lose this client
            // (dropping the stream closes it), not the server.
            Err(e) => eprintln!("cannot fork for a new connection, closing it: {e}"),
        }
    }
}
// ANCHOR_END: serve

// ANCHOR: serve_child
/// The child's whole life: serve `stream`, then exit. It never returns, so it can never
/// wander back into the parent's accept loop.
fn serve_child(stream: TcpStream) -> ! {
    let code = match handle_connection(stream) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("connection ended: {e}");
            1
        }
    };
    // `process::exit`, not `libc::_exit`: our parent had one thread, so the child is an
    // ordinary process and may run exit's clean-up (it flushes Rust's stdout, which the
    // parent flushed before forking, so nothing is written twice).
    std::process::exit(code)
}
// ANCHOR_END: serve_child

// ANCHOR: reaper
/// Installs [`reap_children`] as the `SIGCHLD` handler.
fn reap_children_on_sigchld() -> nix::Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(reap_children),
        // SA_RESTART: a system call the handler interrupts resumes afterwards instead of
        // failing with EINTR. SA_NOCLDSTOP: no SIGCHLD when a child is merely stopped or
        // continued (by a debugger, say): only when one ends.
        SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
        SigSet::empty(),
    );
    // SAFETY: the handler calls only async-signal-safe functions (waitpid, and errno's
    // accessors), touches no shared data, and does not allocate, lock or panic.
    unsafe { sigaction(Signal::SIGCHLD, &action) }?;
    Ok(())
}

/// Runs when a child has ended: collects every child that has ended by now.
///
/// A loop, not one `waitpid`: signals of one kind do not queue. If ten children end while a
/// SIGCHLD is already pending, the handler runs once for all ten.
extern "C" fn reap_children(_signal: c_int) {
    // The interrupted code may be about to read errno, and waitpid overwrites it (ECHILD
    // when no child is left): put it back as it was.
    let saved = Errno::last_raw();
    // WNOHANG: collect what has ended, never wait for a child still serving. Ends at
    // StillAlive (children remain, none has ended) or Err(ECHILD) (no children at all).
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
    Errno::set_raw(saved);
}
// ANCHOR_END: reaper
