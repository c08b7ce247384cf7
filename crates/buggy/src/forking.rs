//! Known-buggy forking servers. Each is the reference design (fork per connection, the child
//! serves and exits, the parent closes its copy and reaps in a SIGCHLD handler) with one
//! thing changed: [`Forking`] describes the design, and each bug overrides one part of
//! [`REFERENCE`].

use std::ffi::c_int;
use std::io;
use std::net::TcpStream;
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{wait, waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use solution_iterative::handle_connection;

use crate::Fails::{Exactly, Nothing, Own};
use crate::{Also, Bug};

pub const BUGS: &[Bug] = &[
    Bug {
        name: "forking-sigchld-ignored",
        about: "correct, written differently: SIGCHLD set to SIG_IGN, so the kernel reaps \
                children itself and the server never calls waitpid",
        arch: "forking",
        fails: Nothing,
        says: "",
        alone: false,
        run: || {
            // SAFETY: installs SIG_IGN, which runs no code of ours.
            unsafe { nix::sys::signal::signal(Signal::SIGCHLD, SigHandler::SigIgn) }?;
            Forking {
                reaper: None,
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "forking-no-reap",
        about: "never reaps: every child that ends stays a zombie",
        arch: "forking",
        // A server that never reaps also leaves the child the grader killed a zombie, and
        // zombies count against RLIMIT_NPROC until reaped, so it cannot fork again either.
        fails: Exactly(&["no-zombies", "crash-isolation", "fork-failure"]),
        says: "the parent had not collected their exit status",
        alone: false,
        run: || {
            Forking {
                reaper: None,
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "forking-reap-once",
        about: "reaps one child per SIGCHLD, so children that end together stay zombies",
        arch: "forking",
        fails: Exactly(&["no-zombies"]),
        // Usually in the burst, when 50 SIGCHLDs merge; two that merge by chance earlier are
        // caught as well.
        says: "the parent had not collected their exit status",
        alone: false,
        run: || {
            Forking {
                reaper: Some(reap_once),
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "forking-wait-in-handler",
        about:
            "calls a blocking wait() once per SIGCHLD, so children that end together stay zombies",
        arch: "forking",
        fails: Exactly(&["no-zombies"]),
        // Usually in the burst, when 50 SIGCHLDs merge; two that merge by chance earlier are
        // caught as well.
        says: "the parent had not collected their exit status",
        alone: false,
        run: || {
            Forking {
                reaper: Some(wait_once),
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "forking-reap-after-accept",
        about: "reaps only after each accept, so the last children stay zombies while it is idle",
        arch: "forking",
        fails: Exactly(&["no-zombies"]),
        says: "50 clients came and went one after another",
        alone: false,
        run: || {
            Forking {
                reaper: None,
                before_fork: reap_ended,
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "forking-wait-all-in-handler",
        about:
            "waits (without WNOHANG) for every child in its SIGCHLD handler, so one child's end \
                stalls the parent until all its other clients leave",
        arch: "forking",
        // In `emfile` too, the crowd's children end while client 1's child still serves, and
        // the handler waits for it: no newcomer is accepted.
        fails: Exactly(&["sigchld-in-accept", "emfile"]),
        says: "asleep in the kernel's `do_wait`",
        alone: false,
        run: || {
            Forking {
                reaper: Some(wait_all),
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "forking-parent-keeps-socket",
        about: "the parent never closes its copy of a client's socket",
        arch: "forking",
        // The kept copies are the descriptors `descriptors` counts, and the copy keeps the
        // connection open after the child closes its own, so `half-close` never sees EOF.
        fails: Exactly(&["parent-closes", "descriptors", "half-close"]),
        says: "still held the sockets of 10 of them",
        alone: false,
        run: || {
            Forking {
                parent: |stream, _child| {
                    // The bug: the copy is never closed, as if kept in a list forever.
                    std::mem::forget(stream);
                    Ok(())
                },
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "forking-child-returns",
        about: "the child does not exit after serving: it carries on in the accept loop",
        arch: "forking",
        // A child that never exits also outlives its client, and the children left in the
        // accept loop use up the process limit, so no fork succeeds once clients have left.
        // Not `descriptors`: each child holds only what it was born with (stdio, the
        // listener), and the leak is of processes, which `children-exit` counts.
        fails: Exactly(&["bounded-processes", "children-exit", "fork-failure"]),
        says: "the processes pile up",
        alone: false,
        run: || {
            Forking {
                child: |stream| {
                    serve_logged(stream);
                    // The bug: no exit, so the child returns into the accept loop.
                    Ok(())
                },
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "forking-child-continues-on-error",
        about: "a child whose connection ends with an error goes back into the accept loop",
        arch: "forking",
        fails: Exactly(&["children-exit"]),
        says: "reset its connection in the middle of a line",
        alone: false,
        run: || {
            Forking {
                child: |stream| {
                    if serve_logged(stream) {
                        std::process::exit(0);
                    }
                    // The bug: the iterative server's "log it and take the next".
                    Ok(())
                },
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "forking-serves-in-parent",
        about: "forks, but the parent serves the client (the child exits at once): no concurrency",
        arch: "forking",
        // Serving in the parent is also having no child per connection.
        fails: Own("stalled-client"),
        says: "client 1 has sent half a line and nothing since",
        alone: false,
        run: || {
            Forking {
                child: |_stream| std::process::exit(0),
                parent: |stream, _child| {
                    serve_logged(stream);
                    Ok(())
                },
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "forking-child-crash-fatal",
        about: "ends the server when a child dies of a signal",
        arch: "forking",
        fails: Exactly(&["crash-isolation"]),
        says: "the server's main process had ended (exit code 1)",
        alone: false,
        run: || {
            Forking {
                reaper: Some(reap_exits_only),
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "forking-fork-fatal",
        about: "ends the server when fork fails (`fork()?`)",
        arch: "forking",
        fails: Exactly(&["fork-failure"]),
        says: "a failed fork must cost one client, not the server",
        alone: false,
        run: || {
            Forking {
                fork_fails_server: true,
                ..REFERENCE
            }
            .serve()
        },
    },
    Bug {
        name: "forking-threads",
        about: "serves each connection on a thread of the parent, not in a child process",
        arch: "forking",
        fails: Own("child-per-connection"),
        says: "the server had 0 child processes",
        alone: false,
        // The bug is the architecture: the threaded solution, a thread per connection, where
        // a process was asked for. Concurrent and correct, and not what the rubric grades.
        run: || solution_threaded::serve(workbook_kit::listen()?),
    },
    Bug {
        name: "forking-emfile-spin",
        about: "watches each child through a pidfd, and out of descriptors retries accept at once",
        arch: "forking",
        // Alone: it spins a core while it is out of descriptors.
        fails: Exactly(&["emfile"]),
        says: "spinning on an accept that keeps failing",
        alone: true,
        run: pidfd_parent,
    },
];

/// Secondary failures name the bug and the check that grades it: a server that never reaps
/// fails `crash-isolation` and `fork-failure` too, and their verdicts must say that it does
/// not reap, not blame the signal or `fork()?`.
pub const ALSO: &[Also] = &[
    Also {
        bug: "forking-no-reap",
        check: "crash-isolation",
        says: "the server does not reap its children",
    },
    Also {
        bug: "forking-no-reap",
        check: "crash-isolation",
        says: "(see `no-zombies`)",
    },
    Also {
        bug: "forking-no-reap",
        check: "fork-failure",
        says: "the server does not reap its children",
    },
    Also {
        bug: "forking-no-reap",
        check: "fork-failure",
        says: "(see `no-zombies`)",
    },
    Also {
        bug: "forking-wait-all-in-handler",
        check: "emfile",
        says: "(see `sigchld-in-accept`)",
    },
];

/// A forking server, part by part.
struct Forking {
    /// The SIGCHLD handler, installed with SA_RESTART and SA_NOCLDSTOP; `None`: none.
    reaper: Option<extern "C" fn(c_int)>,
    /// Called after each accept, before the fork.
    before_fork: fn(),
    /// The child's part. Returning means going back into the accept loop.
    child: fn(TcpStream) -> io::Result<()>,
    /// The parent's part after a fork.
    parent: fn(TcpStream, Pid) -> io::Result<()>,
    /// Whether a failed fork ends the server instead of that one connection.
    fork_fails_server: bool,
}

/// The reference design, as in `solutions/forking` (except that the child keeps its copy of
/// the listener, which no check minds).
const REFERENCE: Forking = Forking {
    reaper: Some(reap_all),
    before_fork: || {},
    child: |stream| std::process::exit(if serve_logged(stream) { 0 } else { 1 }),
    parent: |stream, _child| {
        drop(stream);
        Ok(())
    },
    fork_fails_server: false,
};

impl Forking {
    fn serve(self) -> io::Result<()> {
        if let Some(handler) = self.reaper {
            let action = SigAction::new(
                SigHandler::Handler(handler),
                SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
                SigSet::empty(),
            );
            // SAFETY: every handler below calls only async-signal-safe functions.
            unsafe { sigaction(Signal::SIGCHLD, &action) }?;
        }
        let listener = workbook_kit::listen()?;
        loop {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) => {
                    crate::common::accept_failed(&e);
                    continue;
                }
            };
            (self.before_fork)();
            // Safe: this process has one thread.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => (self.child)(stream)?,
                Ok(ForkResult::Parent { child }) => (self.parent)(stream, child)?,
                Err(e) if self.fork_fails_server => return Err(e.into()),
                Err(e) => eprintln!("cannot fork, closing this connection: {e}"),
            }
        }
    }
}

/// Collects every child that has ended, without waiting for any.
fn reap_ended() {
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// The reference handler.
extern "C" fn reap_all(_: c_int) {
    let saved = Errno::last_raw();
    reap_ended();
    Errno::set_raw(saved);
}

/// The bug: one waitpid per signal, but one SIGCHLD may stand for many ended children.
extern "C" fn reap_once(_: c_int) {
    let saved = Errno::last_raw();
    let _ = waitpid(None, Some(WaitPidFlag::WNOHANG));
    Errno::set_raw(saved);
}

/// The bug: one blocking wait per signal (the reference articles' handler).
extern "C" fn wait_once(_: c_int) {
    let saved = Errno::last_raw();
    let _ = wait();
    Errno::set_raw(saved);
}

/// Serves one connection as the reference does, logging how it ended if it failed;
/// `true` if it ended well.
pub(crate) fn serve_logged(stream: TcpStream) -> bool {
    handle_connection(stream)
        .map_err(|e| eprintln!("connection ended: {e}"))
        .is_ok()
}

/// The bug: the loop is right but WNOHANG is missing, so after collecting the ended child it
/// waits for the ones still serving.
extern "C" fn wait_all(_: c_int) {
    let saved = Errno::last_raw();
    while waitpid(None, None).is_ok() {}
    Errno::set_raw(saved);
}

/// The bug: a child killed by a signal is taken for the server's own failure.
extern "C" fn reap_exits_only(_: c_int) {
    let saved = Errno::last_raw();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(..)) => continue,
            Ok(WaitStatus::Signaled(..)) => {
                let _ = nix::unistd::write(io::stderr(), b"a child crashed: giving up\n");
                // SAFETY: _exit is async-signal-safe and ends the process at once.
                unsafe { libc::_exit(1) }
            }
            _ => break,
        }
    }
    Errno::set_raw(saved);
}

/// `forking-emfile-spin`: the parent learns that a child has ended from a pidfd (one
/// descriptor per child, readable once the child has ended), and waits in `poll` for the
/// listener or any pidfd: no SIGCHLD handler at all. Sound, but the parent holds a descriptor
/// per connection, so it can run out of them; and then it retries accept at once.
fn pidfd_parent() -> io::Result<()> {
    let listener = workbook_kit::listen()?;
    let mut children: Vec<(Pid, OwnedFd)> = Vec::new();
    // Children forked when no pidfd could be had: reaped whenever the loop goes round.
    let mut unwatched: Vec<Pid> = Vec::new();
    loop {
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd> = std::iter::once(&listener as &dyn AsFd)
                .chain(children.iter().map(|(_, fd)| fd as &dyn AsFd))
                .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            fds.iter()
                .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
                .collect()
        };
        let mut ended = ready[1..].iter();
        children.retain(|(pid, _)| {
            let gone = ended.next() == Some(&true);
            if gone {
                let _ = waitpid(*pid, None);
            }
            !gone
        });
        unwatched
            .retain(|&pid| waitpid(pid, Some(WaitPidFlag::WNOHANG)) == Ok(WaitStatus::StillAlive));
        if !ready[0] {
            continue;
        }
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            // The bug: out of descriptors, the connection stays queued, poll reports the
            // listener ready again at once, and accept fails again at once.
            Err(e) => {
                eprintln!("accept failed: {e}");
                continue;
            }
        };
        // Safe: this process has one thread.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                drop(children);
                drop(listener);
                std::process::exit(if serve_logged(stream) { 0 } else { 1 })
            }
            Ok(ForkResult::Parent { child }) => {
                // The child's socket is closed first: the pidfd takes its place, so that
                // with as many children as descriptors even accept finds none left.
                drop(stream);
                match pidfd_open(child) {
                    Ok(fd) => children.push((child, fd)),
                    Err(e) => {
                        eprintln!("no pidfd for child {child}: {e}");
                        unwatched.push(child);
                    }
                }
            }
            Err(e) => eprintln!("cannot fork, closing this connection: {e}"),
        }
    }
}

/// A descriptor that refers to process `pid` (pidfd_open(2)).
fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags, and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just made this descriptor, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}
