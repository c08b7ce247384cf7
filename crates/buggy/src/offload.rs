//! Known-buggy offload servers: the epoll solution's loop and connections with a worker pool,
//! as the reference has them (`solution_offload`), but for the one part each server gets
//! wrong; plus the epoll solution itself, which has no pool at all.

use std::collections::HashMap;
use std::io;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use nix::sys::epoll::{EpollEvent, EpollFlags};
use nix::sys::eventfd::{EfdFlags, EventFd};
use solution_epoll::{Connection, Server};
use solution_offload::{ready, Job, Pool, WAKE};
use workbook_kit::Options;

use crate::Bug;
use crate::Fails::{Exactly, Own};

pub const BUGS: &[Bug] = &[
    Bug {
        name: "offload-epoll",
        about: "the epoll solution: one thread that works every line itself, no pool",
        arch: "offload",
        fails: Own("loop-and-workers"),
        says: "1 thread(s), where one loop and the 3 workers",
        alone: false,
        run: || solution_epoll::serve(workbook_kit::listen()?),
    },
    Bug {
        name: "offload-inline-work",
        about: "starts its workers, then works every line in the loop anyway",
        arch: "offload",
        // Unavoidable: while the loop works A's ten lines, B's line waits unread.
        fails: Exactly(&["loop-cpu", "heavy-neighbour"]),
        says: "the loop did the work itself",
        alone: false,
        run: || {
            let (listener, options) = workbook_kit::start()?;
            // The bug: the pool is there, idle, and the loop is the epoll solution's, whose
            // `echo` spends each line's work before sending it.
            let _idle = Pool::start(options.workers)?;
            solution_epoll::serve(listener)
        },
    },
    Bug {
        name: "offload-reordered",
        about: "hands each read's lines to the pool without holding the connection, and sends \
                whichever echo comes back first",
        arch: "offload",
        fails: Exactly(&["line-order"]),
        says: "echoes must leave in the order of their lines",
        alone: false,
        run: || serve(Flaw::Reordered),
    },
    Bug {
        name: "offload-fifo-lines",
        about: "hands every line to the pool as a job of its own, first come first served, so \
                a light client's line queues behind a heavy client's",
        arch: "offload",
        fails: Exactly(&["heavy-neighbour"]),
        // B's line may run beside A's last (two workers): whose echo comes first is chance.
        says: "of A's work, where it should take about one line's work",
        alone: false,
        run: || serve(Flaw::FifoLines),
    },
    Bug {
        name: "offload-thread-per-job",
        about: "starts its workers, then starts a new thread for each job instead",
        arch: "offload",
        fails: Exactly(&["fixed-pool"]),
        says: "it starts threads for the work",
        alone: false,
        run: || serve(Flaw::ThreadPerJob),
    },
    Bug {
        name: "offload-job-buffers",
        about: "keeps a 4 KiB buffer per connection after its first job, for the next one",
        arch: "offload",
        fails: Exactly(&["idle-memory"]),
        says: "KiB per connection, over the 1 KiB allowed",
        alone: false,
        run: || serve(Flaw::JobBuffers),
    },
];

/// The one part a server gets wrong.
#[derive(Clone, Copy)]
enum Flaw {
    /// Connections are never held: a connection may have many jobs in the pool, and each
    /// echo is sent when its job comes back. (With `--work 0` the lines are echoed in the
    /// loop, as their work costs nothing: so only the checks that ask for work see it.)
    Reordered,
    /// Each line of a read is a job of its own, all queued at once; the connection's echo is
    /// sent, in order, once all of them are back.
    FifoLines,
    /// Each job runs on a thread started for it; the pool's workers stay idle.
    ThreadPerJob,
    /// Each connection gets a 4 KiB buffer when its first job comes back, kept for good.
    JobBuffers,
}

/// The loop of every flawed server but `offload-inline-work`.
fn serve(flaw: Flaw) -> io::Result<()> {
    let (listener, options) = workbook_kit::start()?;
    let pool = Pool::start(options.workers)?;
    let mut server = Server::new(listener)?;
    let mut side = Side::new(flaw, options)?;
    let wake = side
        .own
        .as_ref()
        .map_or(pool.wake(), |(_, _, wake)| &**wake);
    server
        .epoll()
        .add(wake, EpollEvent::new(EpollFlags::EPOLLIN, WAKE))?;
    server.run(|server, token, events| match (flaw, token) {
        (Flaw::Reordered, WAKE) => {
            for job in pool.finished() {
                server.on_connection(job.token, |c, _| c.send(&job.lines));
            }
        }
        (Flaw::Reordered, token) => {
            let mut lines = Vec::new();
            server.on_connection(token, |c, scratch| {
                c.on_event(events, scratch, |c, complete| {
                    if side.options.work.is_zero() {
                        return solution_epoll::echo(c, complete);
                    }
                    // The bug: no `hold`, so the connection reads on, and its next lines
                    // become another job, maybe on another worker, finished first.
                    lines.extend_from_slice(complete);
                    Ok(())
                })
            });
            if !lines.is_empty() {
                pool.submit(Job { token, lines });
            }
        }
        (Flaw::FifoLines, WAKE) => side.reassemble(server, &pool),
        (Flaw::FifoLines, token) => side.line_by_line(server, &pool, token, events),
        (Flaw::ThreadPerJob, WAKE) => side.own_finished(server),
        (Flaw::ThreadPerJob, token) => side.thread_per_job(server, token, events),
        (Flaw::JobBuffers, WAKE) => {
            for job in pool.finished() {
                // The bug: "saves an allocation next time", and costs 4 KiB per connection
                // for as long as the server runs.
                // Written, not `vec![0; 4096]`: zeroed memory from the allocator may be pages
                // the kernel has not yet given, which resident memory would not show.
                #[allow(clippy::slow_vector_initialization)]
                side.buffers.entry(job.token).or_insert_with(|| {
                    let mut buffer = Vec::with_capacity(4096);
                    buffer.resize(4096, 0);
                    buffer
                });
                server.on_connection(job.token, |c, _| {
                    c.release();
                    c.send(&job.lines)
                });
            }
        }
        (Flaw::JobBuffers, token) => ready(server, &pool, token, events),
    })
}

/// What a flawed server keeps beside the reference's state.
struct Side {
    options: Options,
    /// `offload-fifo-lines`: each line's job, by job number: its connection and its place.
    lines: HashMap<u64, (u64, usize)>,
    /// `offload-fifo-lines`: each held connection's echoes, by place, as they come back.
    echoes: HashMap<u64, Vec<Option<Vec<u8>>>>,
    next_job: u64,
    /// `offload-thread-per-job`: its own way back (the pool's is private): a sender for the
    /// threads, the loop's receiver, and an eventfd.
    own: Option<(mpsc::Sender<Job>, mpsc::Receiver<Job>, Arc<EventFd>)>,
    /// `offload-job-buffers`: the buffer each connection keeps.
    buffers: HashMap<u64, Vec<u8>>,
}

impl Side {
    fn new(flaw: Flaw, options: Options) -> io::Result<Side> {
        let own = match flaw {
            Flaw::ThreadPerJob => {
                let (tx, rx) = mpsc::channel();
                let flags = EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK;
                Some((tx, rx, Arc::new(EventFd::from_flags(flags)?)))
            }
            _ => None,
        };
        Ok(Side {
            options,
            lines: HashMap::new(),
            echoes: HashMap::new(),
            next_job: 1,
            own,
            buffers: HashMap::new(),
        })
    }

    /// `offload-fifo-lines`: the reference's `ready`, but each line is submitted alone.
    fn line_by_line(&mut self, server: &mut Server, pool: &Pool, token: u64, events: EpollFlags) {
        let lines = held_lines(server, token, events);
        let split: Vec<&[u8]> = lines.split_inclusive(|&b| b == b'\n').collect();
        if split.is_empty() {
            return;
        }
        self.echoes.insert(token, vec![None; split.len()]);
        for (place, line) in split.into_iter().enumerate() {
            let job = self.next_job;
            self.next_job += 1;
            self.lines.insert(job, (token, place));
            // The bug: one queue for every line of every client, in the order they came.
            pool.submit(Job {
                token: job,
                lines: line.to_vec(),
            });
        }
    }

    /// `offload-fifo-lines`: puts each finished line in its place, and sends a connection's
    /// echoes once all of them are back.
    fn reassemble(&mut self, server: &mut Server, pool: &Pool) {
        for job in pool.finished() {
            let Some((token, place)) = self.lines.remove(&job.token) else {
                continue;
            };
            let Some(echoes) = self.echoes.get_mut(&token) else {
                continue;
            };
            echoes[place] = Some(job.lines);
            if echoes.iter().all(Option::is_some) {
                let echo: Vec<u8> = echoes.drain(..).flatten().flatten().collect();
                self.echoes.remove(&token);
                server.on_connection(token, |c, _| {
                    c.release();
                    c.send(&echo)
                });
            }
        }
    }

    /// `offload-thread-per-job`: the reference's `ready`, but the job goes to a new thread.
    fn thread_per_job(&mut self, server: &mut Server, token: u64, events: EpollFlags) {
        let lines = held_lines(server, token, events);
        let Some((tx, _, wake)) = &self.own else {
            return;
        };
        if lines.is_empty() {
            return;
        }
        let (tx, wake) = (tx.clone(), wake.clone());
        // The bug: a thread per job, started and ended each time.
        let spawned = thread::Builder::new().spawn(move || {
            workbook_kit::work(&lines);
            let _ = tx.send(Job { token, lines });
            let _ = wake.write(1);
        });
        if let Err(e) = spawned {
            eprintln!("spawn: {e}");
        }
    }

    /// `offload-thread-per-job`: the reference's `finished`, on its own way back.
    fn own_finished(&mut self, server: &mut Server) {
        let Some((_, rx, wake)) = &self.own else {
            return;
        };
        let _ = wake.read();
        for job in rx.try_iter() {
            server.on_connection(job.token, |c, _| {
                c.release();
                c.send(&job.lines)
            });
        }
    }
}

/// The reference's `ready` up to the hand-off: the connection handles the event, and the
/// complete lines it reads come back, the connection held. (Resets while held are left to
/// the write that will fail: these servers are about something else.)
fn held_lines(server: &mut Server, token: u64, events: EpollFlags) -> Vec<u8> {
    let mut lines = Vec::new();
    server.on_connection(token, |c, scratch| {
        c.on_event(events, scratch, |c: &mut Connection, complete| {
            c.hold();
            lines.extend_from_slice(complete);
            Ok(())
        })
    });
    lines
}
