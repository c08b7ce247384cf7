//! Known-buggy prefork servers. Each is the reference design (the master forks the pool and
//! then waits for signals: it reaps and replaces dead workers, and ends them all on SIGTERM or
//! SIGINT; each worker accepts on the shared listener and serves one connection at a time)
//! with one thing changed: [`Prefork`] describes the design, and each bug overrides one part
//! of [`REFERENCE`].

use std::ffi::c_int;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow};
use nix::sys::socket::accept;
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::{fork, getpid, ForkResult, Pid};

use crate::common::accept_failed;
use crate::forking::serve_logged;
use crate::Bug;
use crate::Fails::{Exactly, Nothing, Own};

pub const BUGS: &[Bug] = &[
    Bug {
        name: "prefork-lazy-log",
        about: "correct, written differently: each worker opens a log of its own at its first \
                client, and writes a line to it for each",
        arch: "prefork",
        fails: Nothing,
        says: "",
        alone: false,
        run: || {
            Prefork {
                worker: lazy_log,
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "prefork-log-per-connection",
        about: "each worker opens a log file for every connection it serves and never closes \
                it",
        arch: "prefork",
        fails: Exactly(&["descriptors"]),
        says: "more descriptors that are not sockets of connections",
        alone: false,
        run: || {
            Prefork {
                worker: log_per_connection,
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "prefork-forking",
        about: "a forking server graded as prefork: a process per connection, no pool",
        arch: "prefork",
        fails: Own("worker-pool"),
        says: "no process besides its main one",
        alone: false,
        // The bug is the architecture: the forking solution, correct as what it is.
        run: || solution_forking::serve(workbook_kit::listen()?),
    },
    Bug {
        name: "prefork-gunicorn-default",
        about: "without --workers, forks 2 × CPUs + 1 workers (Gunicorn's advice), not the \
                contract's 4",
        arch: "prefork",
        fails: Exactly(&["fixed-pool"]),
        says: "the contract's pool has 4 workers",
        alone: false,
        run: || {
            let (listener, options) = workbook_kit::start()?;
            let asked = std::env::args().any(|arg| arg == "--workers");
            let cpus = std::thread::available_parallelism().map_or(1, usize::from);
            // The bug: a default of its own, odd and so never the contract's 4.
            let workers = if asked { options.workers } else { 2 * cpus + 1 };
            solution_prefork::serve(listener, workers)
        },
    },
    Bug {
        name: "prefork-one-request",
        about: "each worker serves one connection and exits, and the master forks another: \
                a fork per connection dressed as a pool",
        arch: "prefork",
        fails: Exactly(&["no-fork-per-connection"]),
        says: "forks its workers once, at start",
        alone: false,
        run: || {
            Prefork {
                worker: one_request,
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "prefork-thread-workers",
        about: "each worker serves every connection it accepts on a thread of its own, so the \
                pool has no limit",
        arch: "prefork",
        fails: Exactly(&["busy-pool-queues"]),
        says: "client 4 was served all the same",
        alone: false,
        run: || {
            Prefork {
                worker: thread_per_connection,
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "prefork-master-accepts",
        about: "the master accepts and serves connections too, between reaping and replacing",
        arch: "prefork",
        // The master is one more acceptor: with the 3 workers busy, it serves a 4th client.
        fails: Exactly(&["master-never-serves", "busy-pool-queues"]),
        says: "was asleep in accept",
        alone: false,
        run: || {
            Prefork {
                accepts: true,
                // Its workers end with it, by PR_SET_PDEATHSIG: SIGTERM may end it alone.
                stops_workers: false,
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "prefork-no-respawn",
        about: "reaps a worker that dies but never replaces it: the pool shrinks",
        arch: "prefork",
        fails: Exactly(&["killed-worker"]),
        says: "no worker had replaced it",
        alone: false,
        run: || {
            Prefork {
                replaces: false,
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "prefork-respawn-no-reap",
        about: "forks a new worker for each SIGCHLD but never calls waitpid: dead workers stay \
                zombies",
        arch: "prefork",
        fails: Exactly(&["killed-worker"]),
        says: "the dead worker was still a zombie",
        alone: false,
        run: || {
            Prefork {
                reaps: false,
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "prefork-orphans-workers",
        about: "SIGTERM and SIGINT end the master alone: its workers serve on, orphaned",
        arch: "prefork",
        fails: Exactly(&["sigterm-ends-workers"]),
        says: "orphaned",
        alone: false,
        run: || {
            Prefork {
                stops_workers: false,
                dies_with_master: false,
                ..REFERENCE
            }
            .serve()
        },
    },
];

/// A prefork server, part by part.
#[derive(Clone, Copy)]
struct Prefork {
    /// A worker's life after the fork. It never returns.
    worker: fn(&TcpListener) -> !,
    /// Whether a worker asks the kernel to end it when the master dies (PR_SET_PDEATHSIG).
    dies_with_master: bool,
    /// Whether the master collects ended workers (waitpid) on SIGCHLD.
    reaps: bool,
    /// Whether it forks a replacement on SIGCHLD.
    replaces: bool,
    /// Whether SIGTERM and SIGINT make the master end its workers and wait for them; if
    /// not, they keep their default action, which ends the master alone.
    stops_workers: bool,
    /// Whether the master accepts and serves connections too, between its duties.
    accepts: bool,
}

/// The reference design, as in `solutions/prefork`, whose worker it runs.
const REFERENCE: Prefork = Prefork {
    worker: solution_prefork::worker,
    dies_with_master: true,
    reaps: true,
    replaces: true,
    stops_workers: true,
    accepts: false,
};

/// The master's state: the design, the listener, and the workers it has forked.
struct Pool {
    design: Prefork,
    listener: TcpListener,
    size: usize,
    workers: Vec<Pid>,
    /// The signal mask from before the master blocked the signals it waits for.
    mask: SigSet,
}

impl Prefork {
    fn serve(self) -> io::Result<()> {
        let (listener, options) = workbook_kit::start()?;
        let mut waited = SigSet::empty();
        waited.add(Signal::SIGCHLD);
        if self.stops_workers {
            waited.add(Signal::SIGTERM);
            waited.add(Signal::SIGINT);
        }
        let mask = waited.thread_swap_mask(SigmaskHow::SIG_BLOCK)?;
        let mut pool = Pool {
            design: self,
            listener,
            size: options.workers,
            workers: Vec::new(),
            mask,
        };
        pool.fill()?;
        if self.accepts {
            return pool.accept_too();
        }
        loop {
            match waited.wait()? {
                Signal::SIGCHLD if self.reaps => {
                    pool.reap();
                    if self.replaces {
                        pool.fill()?;
                    }
                }
                // The bug of `prefork-respawn-no-reap`: one new worker per SIGCHLD, and the
                // dead one never collected.
                Signal::SIGCHLD => pool.spawn()?,
                _ => return pool.stop(),
            }
        }
    }
}

impl Pool {
    fn spawn(&mut self) -> io::Result<()> {
        // Safe: the master has one thread.
        match unsafe { fork() }? {
            ForkResult::Parent { child } => {
                self.workers.push(child);
                Ok(())
            }
            ForkResult::Child => {
                let _ = self.mask.thread_set_mask();
                if self.design.dies_with_master {
                    let _ = prctl::set_pdeathsig(Signal::SIGTERM);
                }
                (self.design.worker)(&self.listener)
            }
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        while self.workers.len() < self.size {
            self.spawn()?;
        }
        Ok(())
    }

    fn reap(&mut self) {
        while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            let Some(pid) = status.pid() else { break };
            self.workers.retain(|&w| w != pid);
        }
    }

    fn stop(self) -> io::Result<()> {
        solution_prefork::end_workers(&self.workers);
        Ok(())
    }

    /// The bug of `prefork-master-accepts`: the master joins in. It accepts like a worker,
    /// and a SIGCHLD interrupts its accept (its handler has no SA_RESTART) so that it can
    /// reap and replace between clients.
    fn accept_too(mut self) -> io::Result<()> {
        let action = SigAction::new(
            SigHandler::Handler(interrupt),
            SaFlags::SA_NOCLDSTOP,
            SigSet::empty(),
        );
        // SAFETY: the handler does nothing at all.
        unsafe { sigaction(Signal::SIGCHLD, &action) }?;
        SigSet::from(Signal::SIGCHLD).thread_unblock()?;
        loop {
            match accept(self.listener.as_raw_fd()) {
                Ok(fd) => {
                    // SAFETY: accept just made this descriptor, and nothing else owns it.
                    serve_logged(unsafe { TcpStream::from_raw_fd(fd) });
                }
                Err(Errno::EINTR) => {
                    self.reap();
                    self.fill()?;
                }
                Err(e) => accept_failed(&e.into()),
            }
        }
    }
}

/// A SIGCHLD handler that only interrupts a blocking call.
extern "C" fn interrupt(_: c_int) {}

/// The bug of `prefork-one-request`: a worker's life is one connection.
fn one_request(listener: &TcpListener) -> ! {
    let served = match listener.accept() {
        Ok((stream, _)) => serve_logged(stream),
        Err(e) => {
            accept_failed(&e);
            false
        }
    };
    std::process::exit(if served { 0 } else { 1 })
}

/// A worker's loop: accepts for ever, handing each connection to `serve`.
fn accept_each(listener: &TcpListener, mut serve: impl FnMut(TcpStream, SocketAddr)) -> ! {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => serve(stream, peer),
            Err(e) => accept_failed(&e),
        }
    }
}

/// The bug of `prefork-thread-workers`: a thread per connection inside each worker.
fn thread_per_connection(listener: &TcpListener) -> ! {
    accept_each(listener, |stream, _| {
        let spawned = std::thread::Builder::new().spawn(move || serve_logged(stream));
        if let Err(e) = spawned {
            eprintln!("cannot start a thread, closing this connection: {e}");
        }
    })
}

/// The worker of `prefork-lazy-log`: a log of its own, opened for its first client, then a
/// line per client. So the workers that serve none of the first clients open theirs later.
fn lazy_log(listener: &TcpListener) -> ! {
    let mut log = None;
    accept_each(listener, |stream, peer| {
        let served = serve_logged(stream);
        if log.is_none() {
            let name = format!("prefork-lazy-log-{}.log", getpid());
            log = std::fs::File::create(std::env::temp_dir().join(name)).ok();
        }
        if let Some(log) = log.as_mut() {
            let _ = writeln!(log, "{peer}: served: {served}");
        }
    })
}

/// The bug of `prefork-log-per-connection`: a log opened for each connection, then kept.
fn log_per_connection(listener: &TcpListener) -> ! {
    let path = std::env::temp_dir().join(format!("prefork-log-per-connection-{}.log", getpid()));
    accept_each(listener, |stream, peer| {
        let served = serve_logged(stream);
        let opened = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path);
        if let Ok(mut log) = opened {
            let _ = writeln!(log, "{peer}: served: {served}");
            // The bug: as if kept in a list of open logs, never closed.
            std::mem::forget(log);
        }
    })
}
