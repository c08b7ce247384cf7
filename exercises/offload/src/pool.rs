//! The worker pool: threads that do the lines' CPU work, and the way results come back.
//!
//! Jobs go out through one channel that every worker takes from (whichever is free takes the
//! next), and come back through another that only the loop reads. A channel cannot wake an
//! event loop, which sleeps in `epoll_wait`, not in `recv`: so after each result a worker also
//! adds 1 to an **eventfd**, a counter the kernel keeps behind a descriptor. The loop watches
//! it in its epoll set like any socket: readable while the counter is not zero.

use std::io;
use std::sync::mpsc::{Receiver, Sender, TryIter};
#[allow(unused_imports)] // yours to use
use std::sync::{mpsc, Arc, Mutex, PoisonError};
#[allow(unused_imports)] // yours to use
use std::thread;

#[allow(unused_imports)] // yours to use
use nix::sys::eventfd::{EfdFlags, EventFd};

/// One connection's complete lines, on their way to a worker and back.
#[derive(Debug)]
pub struct Job {
    /// The connection they came from: where their echo goes.
    pub token: u64,
    /// The lines, in order, each with its `\n`: the work to do, and then the echo.
    pub lines: Vec<u8>,
}

/// The workers, seen from the loop.
pub struct Pool {
    /// Where jobs go; every worker takes from the other end.
    jobs: Sender<Job>,
    /// Where finished jobs come back, in the order they finish.
    done: Receiver<Job>,
    /// Written by a worker after each finished job, to wake the loop.
    wake: Arc<EventFd>,
}

impl Pool {
    // ANCHOR: start
    /// Starts `workers` threads, each waiting for jobs.
    ///
    /// Graded by: `loop-and-workers`, `fixed-pool`.
    pub fn start(workers: usize) -> io::Result<Pool> {
        // TODO: two channels (`mpsc::channel`): jobs out, finished jobs back. The workers
        // share the jobs' receiving end behind an `Arc<Mutex<...>>`. Book: "Handing work
        // over".
        // TODO: the eventfd: `EventFd::from_flags(EfdFlags::EFD_CLOEXEC |
        // EfdFlags::EFD_NONBLOCK)`, in an `Arc`. Book: "Waking the loop".
        // TODO: start `workers` threads with `thread::Builder` (its `spawn` returns an
        // error instead of panicking), each running `work_on`. Book: "One loop, N workers".
        todo!("start {workers} workers (book: offload.md, \"One loop, N workers\")")
    }
    // ANCHOR_END: start

    /// The eventfd, for the loop's epoll set: readable when results wait.
    pub fn wake(&self) -> &EventFd {
        &self.wake
    }

    /// Hands `job` to the next free worker.
    pub fn submit(&self, job: Job) {
        // It cannot fail: every worker holds the receiving end for as long as the pool
        // lives, since they stop only when this sender is dropped.
        self.jobs.send(job).expect("the workers outlive the pool");
    }

    // ANCHOR: finished
    /// The jobs finished since the last call, without waiting for more.
    ///
    /// Graded by: every check, since no echo is sent without it; above all `line-order`.
    pub fn finished(&self) -> TryIter<'_, Job> {
        // TODO: read the eventfd (resetting its counter; `EAGAIN` means it was zero), then
        // take what `self.done` holds without waiting (`try_iter`). Which comes first
        // matters. Book: "Waking the loop".
        todo!(
            "take the finished jobs of {:?}, woken by {:?} (book: offload.md, \"Waking the \
             loop\")",
            self.done,
            self.wake
        )
    }
    // ANCHOR_END: finished
}

// ANCHOR: work_on
/// A worker: takes a job, works on it, sends it back and wakes the loop; again and again,
/// until the pool is gone.
///
/// Graded by: `loop-cpu`, `heavy-neighbour`, `fixed-pool`.
pub fn work_on(queue: &Mutex<Receiver<Job>>, finished: &Sender<Job>, wake: &EventFd) {
    // TODO: loop: lock the queue and `recv` the next job (an error: the pool is gone, so
    // return), and let the lock go before the work: `workbook_kit::work(&job.lines)`. Then
    // send the job back on `finished` and write 1 to `wake`. Book: "Handing work over",
    // "Waking the loop".
    todo!("work on the jobs of {queue:?}, sending them back on {finished:?} and waking {wake:?}")
}
// ANCHOR_END: work_on
