//! Known-buggy threaded servers: a thread per connection (or meant to be), wrong in one place
//! each. Every connection is served by `handle_connection` unless the bug is in serving.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use solution_iterative::handle_connection;
use workbook_kit::{MAX_LINE, TOO_LONG};

use crate::common::accept_failed;
use crate::Bug;
use crate::Fails::{Exactly, Own};

pub const BUGS: &[Bug] = &[
    Bug {
        name: "threaded-joins-each-thread",
        about: "starts a thread per connection, then joins it before accepting the next",
        arch: "threaded",
        // Joining at once makes it the iterative server: every check that needs two clients
        // served at the same time fails, and no check can tell them apart more finely.
        // `thread-per-connection` and `threads-end` fail at their second client's echo,
        // `interleaved` and `many-clients` at their second client's reply.
        fails: Own("stalled-client"),
        says: "client 1 connected first and has sent nothing since",
        alone: false,
        run: || {
            crate::common::serve_each(|stream| {
                // The bug: join waits until the client leaves, so the accept loop serves one
                // client at a time, exactly like the iterative server.
                thread::Builder::new()
                    .spawn(move || handle_connection(stream))?
                    .join()
                    .map_err(|_| io::Error::other("the connection's thread panicked"))?
            })
        },
    },
    Bug {
        name: "threaded-reads-on-accept-thread",
        about: "reads each client's first line on the accept thread before starting its thread",
        arch: "threaded",
        fails: Exactly(&["stalled-client"]),
        says: "client 2 sent \"client 2 is not waiting for client 1\\n\"",
        alone: false,
        run: reads_on_accept_thread,
    },
    Bug {
        name: "threaded-forks",
        about: "forks a process per connection instead of starting a thread",
        arch: "threaded",
        fails: Own("thread-per-connection"),
        says: "50 child processes",
        alone: false,
        run: forks,
    },
    Bug {
        name: "threaded-one-thread-polls",
        about: "serves every client from one thread, polling non-blocking sockets in turn",
        arch: "threaded",
        fails: Own("thread-per-connection"),
        says: "had 1 thread;",
        alone: false,
        run: one_thread_polls,
    },
    Bug {
        name: "threaded-capped",
        about: "allows at most 100 connections at once; the rest wait in the backlog",
        arch: "threaded",
        fails: Exactly(&["many-clients"]),
        says: "100 of them got their echo",
        alone: false,
        run: capped,
    },
    Bug {
        name: "threaded-global-buffer",
        about: "keeps the unfinished line in one buffer shared by all connections",
        arch: "threaded",
        fails: Exactly(&["interleaved"]),
        says: "in three pieces",
        alone: false,
        run: || serve_on_threads(shared_buffer),
    },
    Bug {
        name: "threaded-threads-never-end",
        about: "each thread, once its client has left, blocks forever reporting to the accept loop",
        arch: "threaded",
        fails: Exactly(&["threads-end"]),
        says: "threads outlived their clients",
        alone: false,
        run: threads_never_end,
    },
    Bug {
        name: "threaded-spawn-panics",
        about: "starts threads with thread::spawn, which panics when no thread can be created",
        arch: "threaded",
        fails: Exactly(&["spawn-failure"]),
        says: "thread::spawn panics",
        alone: false,
        run: || {
            for stream in workbook_kit::listen()?.incoming() {
                match stream {
                    // The bug: no way to handle the error; the accept thread panics instead.
                    Ok(stream) => drop(thread::spawn(move || handle_connection(stream))),
                    Err(e) => accept_failed(&e),
                }
            }
            Ok(())
        },
    },
    Bug {
        name: "threaded-emfile-spin",
        about: "logs a failed accept and tries again at once, so out of descriptors it spins",
        arch: "threaded",
        // Alone: it spins a core while it is out of descriptors.
        fails: Exactly(&["emfile"]),
        says: "spinning on an accept that keeps failing",
        alone: true,
        run: || {
            for stream in workbook_kit::listen()?.incoming() {
                match stream {
                    Ok(stream) => spawn(move || handle_connection(stream)),
                    // The bug: EMFILE leaves the connection queued, so the next accept fails
                    // at once too, for as long as no client leaves.
                    Err(e) => eprintln!("accept failed: {e}"),
                }
            }
            Ok(())
        },
    },
    Bug {
        name: "threaded-fixed-pool",
        about: "starts 256 threads that all accept and serve: a pool, not a thread per connection",
        arch: "threaded",
        fails: Own("thread-per-connection"),
        says: "with no client connected it had 257",
        alone: false,
        run: fixed_pool,
    },
];

/// Accepts connections and serves each with `handle` on a thread of its own (detached).
fn serve_on_threads(handle: fn(TcpStream) -> io::Result<()>) -> io::Result<()> {
    threads_on(&workbook_kit::listen()?, handle)
}

/// Accepts on `listener` and serves each connection with `handle` on a thread of its own.
pub fn threads_on(
    listener: &TcpListener,
    handle: fn(TcpStream) -> io::Result<()>,
) -> io::Result<()> {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => spawn(move || handle(stream)),
            Err(e) => accept_failed(&e),
        }
    }
    Ok(())
}

/// Runs `serve` on a detached thread; if no thread can be had, drops it (and the client).
fn spawn(serve: impl FnOnce() -> io::Result<()> + Send + 'static) {
    let spawned = thread::Builder::new().spawn(move || {
        if let Err(e) = serve() {
            eprintln!("connection ended: {e}");
        }
    });
    if let Err(e) = spawned {
        eprintln!("no thread for a connection: {e}");
    }
}

fn reads_on_accept_thread() -> io::Result<()> {
    for stream in workbook_kit::listen()?.incoming() {
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                accept_failed(&e);
                continue;
            }
        };
        // The bug: the accept thread waits for the client's first line (to see who it is)
        // before handing the connection over. A client that says nothing blocks everyone.
        match first_line(&mut stream) {
            Ok(Some(line)) if stream.write_all(&line).is_ok() => {
                spawn(move || handle_connection(stream))
            }
            _ => continue,
        }
    }
    Ok(())
}

/// Reads one line, and nothing after it: it peeks at what has come, then takes from the
/// socket only up to the line's end. `None` at EOF or when the line is too long (after
/// telling the client so).
fn first_line(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    while line.len() < MAX_LINE {
        let seen = stream.peek(&mut chunk)?;
        if seen == 0 {
            return Ok(None);
        }
        let end = chunk[..seen].iter().position(|&b| b == b'\n');
        let take = end.map_or(seen, |i| i + 1).min(MAX_LINE - line.len());
        let start = line.len();
        line.resize(start + take, 0);
        stream.read_exact(&mut line[start..])?;
        if end.is_some_and(|i| i < take) {
            return Ok(Some(line));
        }
    }
    stream.write_all(TOO_LONG)?;
    linger(stream)?;
    Ok(None)
}

/// The bug is the architecture: the forking solution, a process per connection, where a
/// thread was asked for.
fn forks() -> io::Result<()> {
    solution_forking::serve(workbook_kit::listen()?)
}

/// One connection of [`one_thread_polls`].
struct Polled {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    eof: bool,
    /// Set once `ERR line too long` is queued: input is discarded until EOF or this instant.
    linger_until: Option<Instant>,
}

fn one_thread_polls() -> io::Result<()> {
    let listener = workbook_kit::listen()?;
    listener.set_nonblocking(true)?;
    let mut conns: Vec<Polled> = Vec::new();
    loop {
        let mut moved = false;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(true)?;
                    conns.push(Polled {
                        stream,
                        input: Vec::new(),
                        output: Vec::new(),
                        eof: false,
                        linger_until: None,
                    });
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    accept_failed(&e);
                    break;
                }
            }
        }
        // The bug is the architecture: one thread for every connection, where a thread per
        // connection was asked for. Correct, concurrent, and not what the rubric grades.
        conns.retain_mut(|conn| match conn.poll() {
            Ok(progress) => {
                moved |= progress;
                !conn.finished()
            }
            Err(_) => false,
        });
        if !moved {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Polled {
    /// Reads what has arrived and writes what it can; whether any byte moved.
    fn poll(&mut self) -> io::Result<bool> {
        let mut moved = false;
        let mut chunk = [0u8; 16 * 1024];
        while !self.eof {
            match (&self.stream).read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) if self.linger_until.is_none() => {
                    self.input.extend_from_slice(&chunk[..n]);
                    moved = true;
                }
                Ok(_) => moved = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if self.linger_until.is_none() {
            if let Some(end) = self.input.iter().rposition(|&b| b == b'\n') {
                self.output.extend(self.input.drain(..=end));
            }
            if self.input.len() >= MAX_LINE {
                self.input.clear();
                self.output.extend_from_slice(TOO_LONG);
                self.linger_until = Some(Instant::now() + Duration::from_secs(2));
            } else if self.eof {
                self.input.clear();
            }
        }
        while !self.output.is_empty() {
            match (&self.stream).write(&self.output) {
                Ok(n) => {
                    self.output.drain(..n);
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if self.output.is_empty() && self.linger_until.is_some() {
            // Repeated shutdowns are harmless; the client sees EOF after the ERR line.
            let _ = self.stream.shutdown(Shutdown::Write);
        }
        Ok(moved)
    }

    fn finished(&self) -> bool {
        let lingered = self.linger_until.is_some_and(|t| Instant::now() > t);
        self.output.is_empty() && (self.eof || lingered)
    }
}

fn capped() -> io::Result<()> {
    const CAP: usize = 100;
    let listener = workbook_kit::listen()?;
    let open = Arc::new((Mutex::new(0usize), Condvar::new()));
    loop {
        // The bug: a limit far below what the server must hold. Connections beyond it wait,
        // unaccepted, until a client leaves.
        {
            let (count, freed) = &*open;
            let mut count = lock(count);
            while *count >= CAP {
                count = freed.wait(count).unwrap_or_else(|e| e.into_inner());
            }
            *count += 1;
        }
        let release = Release(open.clone());
        match listener.accept() {
            Ok((stream, _)) => spawn(move || {
                let _release = release;
                handle_connection(stream)
            }),
            Err(e) => accept_failed(&e),
        }
    }
}

/// Gives a connection's slot back when dropped, however the connection (or its spawn) ends.
struct Release(Arc<(Mutex<usize>, Condvar)>);

impl Drop for Release {
    fn drop(&mut self) {
        let (count, freed) = &*self.0;
        *lock(count) -= 1;
        freed.notify_one();
    }
}

/// The unfinished line, shared by every connection: the bug of `threaded-global-buffer`.
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

fn shared_buffer(stream: TcpStream) -> io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match (&stream).read(&mut chunk) {
            Ok(n) => n,
            Err(e) => {
                lock(&PENDING).clear();
                return Err(e);
            }
        };
        // Everything below holds the lock, so one client's complete lines are taken and
        // written before another's bytes land. The bug: an unfinished line stays in PENDING,
        // where the next client's bytes are appended to it.
        let mut pending = lock(&PENDING);
        if n == 0 {
            pending.clear(); // the fragment at EOF is dropped (everyone's, in fact)
            return Ok(());
        }
        pending.extend_from_slice(&chunk[..n]);
        if let Some(end) = pending.iter().rposition(|&b| b == b'\n') {
            if let Err(e) = (&stream).write_all(&pending[..=end]) {
                pending.clear();
                return Err(e);
            }
            pending.drain(..=end);
        }
        if pending.len() >= MAX_LINE {
            pending.clear();
            drop(pending);
            (&stream).write_all(TOO_LONG)?;
            return linger(&stream);
        }
    }
}

fn threads_never_end() -> io::Result<()> {
    // Each thread reports its end on a rendezvous channel whose receiver the accept loop
    // keeps but never reads.
    let (done, _never_read) = mpsc::sync_channel::<()>(0);
    for stream in workbook_kit::listen()?.incoming() {
        match stream {
            Ok(stream) => {
                let done = done.clone();
                spawn(move || {
                    let served = handle_connection(stream);
                    // The bug: the connection is closed, but this send blocks forever.
                    let _ = done.send(());
                    served
                })
            }
            Err(e) => accept_failed(&e),
        }
    }
    Ok(())
}

/// `threaded-fixed-pool`: the threads are started before any client comes, and each
/// accepts and serves connections in turn, as a pool does. It serves up to 256 clients at
/// once, and its thread count never moves.
fn fixed_pool() -> io::Result<()> {
    const POOL: usize = 256;
    let listener = Arc::new(workbook_kit::listen()?);
    for i in 0..POOL {
        let listener = listener.clone();
        let started = thread::Builder::new()
            .name(format!("pool-{i}"))
            .spawn(move || loop {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Err(e) = handle_connection(stream) {
                            eprintln!("connection ended: {e}");
                        }
                    }
                    Err(e) => accept_failed(&e),
                }
            });
        // Under a low RLIMIT_NPROC the pool is smaller: it serves with what it has.
        if let Err(e) = started {
            eprintln!("the pool has {i} threads: {e}");
            break;
        }
    }
    // The main thread's work is done; it stays, as the process must.
    loop {
        thread::park();
    }
}

/// Shuts the write side, then drains the input for up to 2 s so the ERR line is not lost to
/// a reset.
fn linger(stream: &TcpStream) -> io::Result<()> {
    stream.shutdown(Shutdown::Write)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let _ = io::copy(&mut stream.take(4 << 20), &mut io::sink());
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
