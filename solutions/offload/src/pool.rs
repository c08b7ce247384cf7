//! The worker pool: threads that do the lines' CPU work, and the way results come back.
//!
//! Jobs go out through one channel that every worker takes from (whichever is free takes the
//! next), and come back through another that only the loop reads. A channel cannot wake an
//! event loop, which sleeps in `epoll_wait`, not in `recv`: so after each result a worker also
//! adds 1 to an **eventfd**, a counter the kernel keeps behind a descriptor. The loop watches
//! it in its epoll set like any socket: readable while the counter is not zero.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender, TryIter};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use nix::sys::eventfd::{EfdFlags, EventFd};

// ANCHOR: job
/// One connection's complete lines, on their way to a worker and back.
#[derive(Debug)]
pub struct Job {
    /// The connection they came from: where their echo goes.
    pub token: u64,
    /// The lines, in order, each with its `\n`: the work to do, and then the echo.
    pub lines: Vec<u8>,
}
// ANCHOR_END: job

// ANCHOR: pool
/// The workers, seen from the loop.
pub struct Pool {
    /// Where jobs go; every worker takes from the other end.
    jobs: Sender<Job>,
    /// Where finished jobs come back, in the order they finish.
    done: Receiver<Job>,
    /// Written by a worker after each finished job, to wake the loop.
    wake: Arc<EventFd>,
}
// ANCHOR_END: pool

impl Pool {
    // ANCHOR: start
    /// Starts `workers` threads, each waiting for jobs.
    pub fn start(workers: usize) -> io::Result<Pool> {
        let (jobs, queue) = mpsc::channel();
        // A `Receiver` has one owner: the workers share it behind a lock, and whoever holds
        // the lock waits for the next job.
        let queue = Arc::new(Mutex::new(queue));
        let (finished, done) = mpsc::channel();
        // Non-blocking: the loop must never wait on it, only be woken by it.
        let wake = Arc::new(EventFd::from_flags(
            EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK,
        )?);
        for i in 1..=workers {
            let (queue, finished, wake) = (queue.clone(), finished.clone(), wake.clone());
            thread::Builder::new()
                .name(format!("worker {i}"))
                .spawn(move || work_on(&queue, &finished, &wake))?;
        }
        Ok(Pool { jobs, done, wake })
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
    pub fn finished(&self) -> TryIter<'_, Job> {
        // Reset the counter first, then take the results: a result that arrives after the
        // taking makes the counter non-zero again, so the next `epoll_wait` reports it. (The
        // other order could reset the counter after a result it never took: a lost wake-up.)
        // An error is `EAGAIN`, a counter already at zero: nothing to reset.
        let _ = self.wake.read();
        self.done.try_iter()
    }
    // ANCHOR_END: finished
}

// ANCHOR: work_on
/// A worker: takes a job, works on it, sends it back and wakes the loop; again and again,
/// until the pool is gone.
fn work_on(queue: &Mutex<Receiver<Job>>, finished: &Sender<Job>, wake: &EventFd) {
    loop {
        // The lock is held while waiting for a job, and let go before working on it, so the
        // next job goes to the next free worker. A worker that panicked holding it cannot
        // have left the receiver half-changed: carry on.
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else {
            return; // the pool is gone
        };
        workbook_kit::work(&job.lines);
        if finished.send(job).is_err() {
            return; // the loop is gone
        }
        // Adds 1 to the counter. It fails only if the counter would pass 2^64 - 2.
        let _ = wake.write(1);
    }
}
// ANCHOR_END: work_on
