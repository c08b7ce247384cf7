//! Known-buggy thread pools: the reference design (an acceptor filling a bounded queue, N
//! workers taking connections from it, each serving one to its end) with one part wrong:
//! the queue, what a full queue does, or the workers' loop. Every connection is served by
//! `handle_connection`; the bug is never in serving.

use std::collections::VecDeque;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;

use solution_iterative::handle_connection;

use crate::common::accept_failed;
use crate::Bug;
use crate::Fails::{Exactly, Nothing, Own};

pub const BUGS: &[Bug] = &[
    Bug {
        name: "thread-pool-thread-per-connection",
        about: "starts a thread per connection instead of a fixed pool of workers",
        arch: "thread-pool",
        fails: Own("worker-threads"),
        says: "had 1 thread;",
        alone: false,
        // The bug is the architecture: the threaded solution, where a pool was asked for.
        run: || solution_threaded::serve(workbook_kit::listen()?),
    },
    Bug {
        name: "thread-pool-ignores-workers",
        about: "starts 8 workers whatever `--workers` says",
        arch: "thread-pool",
        fails: Own("worker-threads"),
        says: "had 9 threads",
        alone: false,
        run: || {
            let (listener, _options) = workbook_kit::start()?;
            // The bug: a size of its own, not the operator's.
            pool(listener, 8, 8, Full::Wait, serve_each)
        },
    },
    Bug {
        name: "thread-pool-unbounded-queue",
        about: "queues connections in an unbounded channel, so it accepts every client at once",
        arch: "thread-pool",
        fails: Exactly(&["bounded-queue"]),
        says: "its queue has no bound",
        alone: false,
        run: unbounded,
    },
    Bug {
        name: "thread-pool-grows",
        about: "starts an extra thread for a connection whenever the queue (16) is full",
        arch: "thread-pool",
        fails: Exactly(&["bounded-queue"]),
        says: "A pool does not grow with its queue",
        alone: false,
        run: || with_options(|listener, n| pool(listener, n, 16, Full::Grow, serve_each)),
    },
    Bug {
        name: "thread-pool-drops-when-full",
        about: "closes a new connection when the queue is full instead of waiting",
        arch: "thread-pool",
        fails: Exactly(&["bounded-queue"]),
        says: "had their connection ended by the server",
        alone: false,
        run: || with_options(|listener, n| pool(listener, n, n, Full::Drop, serve_each)),
    },
    Bug {
        name: "thread-pool-workers-exit",
        about: "each worker serves one connection and ends",
        arch: "thread-pool",
        // The pool is spent after as many connections as it has workers, and then the
        // acceptor ends the server (its queue has no receiver left): every check with more
        // clients than that, one after another, fails too. `descriptors` has 21 (and 4
        // workers), `reset` 7 or more; `emfile` loses its workers with the 100 clients that
        // leave.
        fails: Exactly(&["next-in-line", "descriptors", "reset", "emfile"]),
        says: "its worker ended with its client's connection",
        alone: false,
        run: || with_options(|listener, n| pool(listener, n, n, Full::Wait, serve_one)),
    },
    Bug {
        name: "thread-pool-lock-while-serving",
        about: "a worker keeps the queue's lock while it serves (`while let` on `lock().recv()`)",
        arch: "thread-pool",
        // One client at a time: every check that needs the 3 workers busy at once fails,
        // and `emfile`, whose first client keeps the one serving worker (and the lock) to
        // the end, has none for the newcomer.
        fails: Exactly(&[
            "serves-n-at-once",
            "next-in-line",
            "bounded-queue",
            "emfile",
        ]),
        says: "client 2 waited while 1 other was served",
        alone: false,
        run: || with_options(|listener, n| pool(listener, n, n, Full::Wait, serve_locked)),
    },
    Bug {
        name: "thread-pool-emfile-spin",
        about: "logs a failed accept and tries again at once, so out of descriptors it spins",
        arch: "thread-pool",
        // Alone: it spins a core while it is out of descriptors.
        fails: Exactly(&["emfile"]),
        says: "spinning on an accept that keeps failing",
        alone: true,
        run: || {
            let (listener, options) = workbook_kit::start()?;
            let (queue, waiting) = mpsc::sync_channel(options.workers);
            start_workers(options.workers, waiting, serve_each)?;
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => queue.send(stream).map_err(|_| gone())?,
                    // The bug: EMFILE leaves the connection queued, so the next accept fails
                    // at once too, for as long as no client leaves.
                    Err(e) => eprintln!("accept failed: {e}"),
                }
            }
            Ok(())
        },
    },
    Bug {
        name: "thread-pool-condvar-queue",
        about: "correct: its bounded queue is a VecDeque with a Mutex and two Condvars",
        arch: "thread-pool",
        fails: Nothing,
        says: "",
        alone: false,
        run: condvar_queue,
    },
];

/// What the acceptor does with a connection when the queue is full.
#[derive(Clone, Copy)]
enum Full {
    /// Waits for room, as the reference does.
    Wait,
    /// Closes it.
    Drop,
    /// Serves it on a thread of its own.
    Grow,
}

/// A worker's loop over the shared receiver.
type Worker = fn(&Mutex<Receiver<TcpStream>>);

/// Announces, then runs `serve` with the listener and `--workers`.
fn with_options(serve: impl FnOnce(TcpListener, usize) -> io::Result<()>) -> io::Result<()> {
    let (listener, options) = workbook_kit::start()?;
    serve(listener, options.workers)
}

/// The reference design: `workers` threads running `worker`, a queue of `capacity`, and an
/// acceptor that does `full` when the queue is.
fn pool(
    listener: TcpListener,
    workers: usize,
    capacity: usize,
    full: Full,
    worker: Worker,
) -> io::Result<()> {
    let (queue, waiting) = mpsc::sync_channel(capacity);
    start_workers(workers, waiting, worker)?;
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                accept_failed(&e);
                continue;
            }
        };
        match (full, queue.try_send(stream)) {
            (_, Ok(())) => {}
            (_, Err(TrySendError::Disconnected(_))) => return Err(gone()),
            (Full::Wait, Err(TrySendError::Full(stream))) => {
                queue.send(stream).map_err(|_| gone())?
            }
            // The bug of `thread-pool-drops-when-full`: a client that could have waited is
            // turned away.
            (Full::Drop, Err(TrySendError::Full(stream))) => drop(stream),
            // The bug of `thread-pool-grows`: the pool's size follows the load after all.
            (Full::Grow, Err(TrySendError::Full(stream))) => {
                thread::Builder::new().spawn(move || handle_connection(stream))?;
            }
        }
    }
    Ok(())
}

/// Starts `n` threads running `worker` on `waiting`, shared behind a mutex.
fn start_workers(n: usize, waiting: Receiver<TcpStream>, worker: Worker) -> io::Result<()> {
    let waiting = Arc::new(Mutex::new(waiting));
    for id in 1..=n {
        let waiting = Arc::clone(&waiting);
        thread::Builder::new()
            .name(format!("worker-{id}"))
            .spawn(move || worker(&waiting))?;
    }
    Ok(())
}

fn gone() -> io::Error {
    io::Error::other("every worker has ended")
}

/// The reference worker: takes a connection (letting go of the lock), serves it, again.
fn serve_each(waiting: &Mutex<Receiver<TcpStream>>) {
    loop {
        let next = lock(waiting).recv();
        let Ok(stream) = next else { return };
        if let Err(e) = handle_connection(stream) {
            eprintln!("connection ended: {e}");
        }
    }
}

/// The bug of `thread-pool-workers-exit`: no loop.
fn serve_one(waiting: &Mutex<Receiver<TcpStream>>) {
    let next = lock(waiting).recv();
    if let Ok(stream) = next {
        if let Err(e) = handle_connection(stream) {
            eprintln!("connection ended: {e}");
        }
    }
}

/// The bug of `thread-pool-lock-while-serving`: the guard is a temporary of the `while let`
/// scrutinee, which lives until the end of the loop body, so the lock is held while the
/// connection is served.
fn serve_locked(waiting: &Mutex<Receiver<TcpStream>>) {
    while let Ok(stream) = lock(waiting).recv() {
        if let Err(e) = handle_connection(stream) {
            eprintln!("connection ended: {e}");
        }
    }
}

/// `thread-pool-unbounded-queue`: the reference with `channel()`, whose `send` never waits.
fn unbounded() -> io::Result<()> {
    let (listener, options) = workbook_kit::start()?;
    let (queue, waiting) = mpsc::channel();
    start_workers(options.workers, waiting, serve_each)?;
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => queue.send(stream).map_err(|_| gone())?,
            Err(e) => accept_failed(&e),
        }
    }
    Ok(())
}

/// CS:APP's bounded buffer: a ring of slots, a lock, and a condition for each side.
struct Slots {
    queue: Mutex<VecDeque<TcpStream>>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
}

impl Slots {
    fn put(&self, stream: TcpStream) {
        let mut queue = lock(&self.queue);
        while queue.len() >= self.capacity {
            queue = self.not_full.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
        queue.push_back(stream);
        self.not_empty.notify_one();
    }

    fn take(&self) -> TcpStream {
        let mut queue = lock(&self.queue);
        loop {
            if let Some(stream) = queue.pop_front() {
                self.not_full.notify_one();
                return stream;
            }
            queue = self
                .not_empty
                .wait(queue)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// `thread-pool-condvar-queue`: a correct pool, its queue written by hand.
fn condvar_queue() -> io::Result<()> {
    let (listener, options) = workbook_kit::start()?;
    let slots = Arc::new(Slots {
        queue: Mutex::new(VecDeque::new()),
        not_empty: Condvar::new(),
        not_full: Condvar::new(),
        capacity: options.workers,
    });
    for id in 1..=options.workers {
        let slots = Arc::clone(&slots);
        thread::Builder::new()
            .name(format!("worker-{id}"))
            .spawn(move || loop {
                // `take` returns with the lock let go: serving holds nothing shared.
                if let Err(e) = handle_connection(slots.take()) {
                    eprintln!("connection ended: {e}");
                }
            })?;
    }
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => slots.put(stream),
            Err(e) => accept_failed(&e),
        }
    }
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
