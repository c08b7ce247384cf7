//! The prefork server, solved: a master binds, forks a fixed pool of workers, and from then on
//! only supervises; each worker accepts on the listener it inherited and serves one
//! connection at a time, for as long as it lives. Book: `book/src/prefork.md`.
//!
//! Two pieces:
//! - [`serve`], the master. It forks `workers` workers, then waits for signals: `SIGCHLD` (a
//!   worker died: collect it with `waitpid` and fork a replacement) and `SIGTERM` or `SIGINT`
//!   (end every worker, wait for them, return). It never accepts and never touches a client:
//!   a master busy with a client could neither replace a dead worker nor stop.
//! - [`worker`], a worker's whole life: the iterative server's loop, `accept` then
//!   [`handle_connection`], forever. No process is forked per connection: the fork is paid
//!   once per worker, at start, and a worker serves client after client.
//!
//! Why several processes may block in `accept` on one listener: `fork` copied the
//! descriptor, not the socket, so they share one socket and one queue of connections. A
//! blocking `accept` sleeps on that queue *exclusively*: each new connection wakes one
//! sleeper, which takes it, while the others sleep on. No lock is needed and no herd
//! stampedes. (Workers waiting in `epoll_wait` on a shared listener would all wake for each
//! connection; the book tells that story.)
//!
//! How the master waits for signals: it blocks `SIGCHLD`, `SIGTERM`, `SIGINT` and `SIGALRM`
//! and takes them one at a time with `sigwait`, in its main flow. No handler runs, so the
//! master may call anything (fork, allocate, print), nothing can interrupt a system call
//! with `EINTR`, and no flag can be set just after it was checked. This works because the
//! master has nothing to wait for *but* signals. A master that also watched descriptors (a
//! control socket, a pipe from each worker) would read the signals from a `signalfd` in its
//! `poll` set instead, or, portably, use the self-pipe trick: a handler that writes a byte to
//! a pipe the loop polls. Each worker restores the signal mask right after the fork, so that
//! `SIGTERM` ends a worker at once, wherever it is blocked.

use std::io;
use std::net::TcpListener;

use nix::sys::prctl;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::{alarm, fork, getpid, getppid, ForkResult, Pid};
use solution_iterative::handle_connection;
use workbook_kit::{out_of_descriptors, OUT_OF_DESCRIPTORS_PAUSE};

/// Seconds before the master tries again to fork a worker that `fork` refused (EAGAIN: too
/// many processes, or no memory).
const FORK_RETRY_SECS: u32 = 1;

// ANCHOR: serve
/// Forks `workers` workers that serve connections on `listener`, then supervises them: a
/// worker that dies is replaced, and SIGTERM or SIGINT ends every worker before `serve`
/// returns.
pub fn serve(listener: TcpListener, workers: usize) -> io::Result<()> {
    let mut pool = Pool::new(listener, workers)?;
    loop {
        pool.fill();
        // The first of the blocked signals that is pending, waiting until one is.
        match pool.signals.wait()? {
            Signal::SIGCHLD => pool.reap(),
            Signal::SIGTERM | Signal::SIGINT => return pool.stop(),
            // SIGALRM: `fill` asked to be called again, after a fork failed.
            _ => {}
        }
    }
}
// ANCHOR_END: serve

// ANCHOR: pool
/// What the master knows.
struct Pool {
    /// The listening socket. The master never accepts on it, but keeps it open so that the
    /// workers it forks later, to replace dead ones, inherit it too.
    listener: TcpListener,
    /// How many workers there should be.
    size: usize,
    /// The workers forked and not yet collected.
    workers: Vec<Pid>,
    /// The signals the master blocks and waits for.
    signals: SigSet,
    /// The signal mask from before the master blocked them: what each worker restores.
    mask: SigSet,
}
// ANCHOR_END: pool

impl Pool {
    // ANCHOR: start
    /// Blocks the signals the master waits for; forks nothing yet.
    fn new(listener: TcpListener, size: usize) -> io::Result<Pool> {
        let mut signals = SigSet::empty();
        for signal in [
            Signal::SIGCHLD,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGALRM,
        ] {
            signals.add(signal);
        }
        // Before the first fork: a worker that dies at once, or a SIGTERM that comes early,
        // stays pending until the master takes it, instead of being lost or acted on.
        let mask = signals.thread_swap_mask(SigmaskHow::SIG_BLOCK)?;
        Ok(Pool {
            listener,
            size,
            workers: Vec::with_capacity(size),
            signals,
            mask,
        })
    }

    /// Forks workers until there are `size`. If a fork fails, the pool stays short for now
    /// and an alarm brings the master back to try again.
    fn fill(&mut self) {
        while self.workers.len() < self.size {
            match self.spawn() {
                Ok(pid) => self.workers.push(pid),
                Err(e) => {
                    eprintln!("cannot fork a worker, trying again in {FORK_RETRY_SECS} s: {e}");
                    alarm::set(FORK_RETRY_SECS);
                    return;
                }
            }
        }
    }
    // ANCHOR_END: start

    // ANCHOR: spawn
    /// Forks one worker and returns its pid. In the worker, this call never returns.
    fn spawn(&self) -> nix::Result<Pid> {
        let master = getpid();
        // Safe: the master has a single thread (nothing in the server starts one), so the
        // child is a complete copy of a consistent program and may run any code.
        match unsafe { fork() }? {
            ForkResult::Parent { child } => Ok(child),
            ForkResult::Child => {
                // The worker waits for no signal: SIGTERM and SIGINT get their default
                // action back, which ends it at once wherever it is blocked.
                if self.mask.thread_set_mask().is_err() {
                    std::process::exit(1);
                }
                // And it ends with its master, even a master killed by SIGKILL, which
                // could not end its workers itself: the kernel sends SIGTERM to a process
                // whose parent dies. A master that died before this line sends nothing,
                // hence the check that the parent is still the master.
                if prctl::set_pdeathsig(Signal::SIGTERM).is_err() || getppid() != master {
                    std::process::exit(1);
                }
                worker(&self.listener)
            }
        }
    }
    // ANCHOR_END: spawn

    // ANCHOR: reap
    /// Collects every worker that has ended, for the next `fill` to replace. A loop: signals
    /// of one kind merge, so one SIGCHLD may stand for several workers.
    fn reap(&mut self) {
        // WNOHANG: never wait for a worker that is still alive. Ends at StillAlive (no pid:
        // workers remain, none has ended) or at an error (ECHILD: no children at all).
        while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            let Some(pid) = status.pid() else { break };
            self.workers.retain(|&w| w != pid);
            eprintln!("worker {pid} ended ({status:?}); forking another");
        }
    }
    // ANCHOR_END: reap

    // ANCHOR: stop
    /// Ends every worker and waits until each has: when the master is gone, nothing of the
    /// server is left, and the port is free for the next server.
    fn stop(self) -> io::Result<()> {
        end_workers(&self.workers);
        Ok(())
    }
    // ANCHOR_END: stop
}

// ANCHOR: end_workers
/// Sends each of `workers` SIGTERM, then waits for each to end.
pub fn end_workers(workers: &[Pid]) {
    for &pid in workers {
        // SIGTERM's default action ends a worker at once, whether it waits in accept or
        // serves a client. An error means it has ended already.
        let _ = kill(pid, Signal::SIGTERM);
    }
    for &pid in workers {
        // Blocking is fine: each has been told to end, and does within microseconds.
        let _ = waitpid(pid, None);
    }
}
// ANCHOR_END: end_workers

// ANCHOR: worker
/// A worker's whole life: accept a connection on the listener it shares with the other
/// workers, serve it to its end, accept the next. It never returns: a worker ends by a
/// signal, from its master or because its master died.
pub fn worker(listener: &TcpListener) -> ! {
    loop {
        // Blocking: an idle worker sleeps in accept beside the other idle ones, and the
        // kernel wakes one of them for each connection.
        match listener.accept() {
            Ok((stream, _peer)) => {
                // One client's trouble ends that connection, not the worker.
                if let Err(e) = handle_connection(stream) {
                    eprintln!("connection ended: {e}");
                }
            }
            // ECONNABORTED (a client gave up in the backlog) concerns one connection. Out
            // of descriptors, the connection stays queued and accepting again at once
            // fails again at once: pause rather than spin.
            Err(e) => {
                eprintln!("accept failed: {e}");
                if out_of_descriptors(&e) {
                    std::thread::sleep(OUT_OF_DESCRIPTORS_PAUSE);
                }
            }
        }
    }
}
// ANCHOR_END: worker
