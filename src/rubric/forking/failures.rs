//! When things go wrong: a crashing child, too many processes, a fork that fails, no
//! descriptor left.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::contain::server::Server;
use crate::contain::shepherd::Limits;
use crate::drive::client::{secs, Client, REPLY};
use crate::drive::traffic::round;
use crate::probe::procfs::{self, Proc};
use crate::probe::settle::poll;
use crate::rubric::check::{Category, Check};
use crate::rubric::common;
use crate::verdict::Verdict;
use crate::{ensure, fail};

use super::causes;
use super::children::Sockets;
use super::zombies::with_fate;
use super::{live_children, new_since, same, still_running, EXIT_GRACE, LIMIT};

pub static CRASH_ISOLATION: Check = Check {
    id: "crash-isolation",
    category: Category::Robustness,
    points: 10,
    summary: "when a child is killed, the server goes on serving new clients and reaps it",
    hint: "a child may end by a signal (WaitStatus::Signaled) as well as by exit: reap it like \
           any other, and never treat it as the parent's own failure",
    book: "forking.md#when-a-child-crashes",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let before = live_children(&server);
        let mut victim = Client::connect_with(server.addr(), None, "client 1")?;
        victim.echo(b"client 1 is about to lose its process\n")?;
        let Some(child) = serving_child(&server, &victim, &before) else {
            // No child serves client 1: `child-per-connection` says so. Nothing to kill.
            return Ok(());
        };
        server.signal_member(&child, Signal::SIGKILL);
        drop(victim);
        still_running(&server, std::slice::from_ref(&child), EXIT_GRACE);
        let event = format!(
            "the grader killed child {} (which served client 1) with SIGKILL",
            child.pid
        );
        let before = live_children(&server);
        let mut next = Client::connect_with(server.addr(), None, "client 2")
            .map_err(|v| with_fate(&server, v, &event))?;
        next.echo(b"client 2 after the crash\n")
            .map_err(|v| with_fate(&server, v, &event))?;
        if reaped(&server, &child) {
            return Ok(());
        }
        let zombie = format!("{event}; {} later it was still a zombie", secs(EXIT_GRACE));
        // Is it the signal, or does this server reap no child at all? Client 2 leaves, and
        // its child exits as children normally do.
        if let Some(exited) = serving_child(&server, &next, &before) {
            drop(next);
            still_running(&server, std::slice::from_ref(&exited), EXIT_GRACE);
            if !reaped(&server, &exited) {
                return Err(Verdict::new(format!(
                    "{zombie}, and so was the child of client 2, which exited normally once \
                     client 2 left"
                ))
                .because(Some(causes::not_reaping())));
            }
        }
        fail!(
            "{zombie}: the parent must reap a child that died of a signal as it reaps one \
             that exited"
        )
    },
};

/// The child that serves `client`: a child the server did not have `before`, holding the
/// server's end of the connection.
fn serving_child(server: &Server, client: &Client, before: &[Proc]) -> Option<Proc> {
    let serving = Sockets::of(server)
        .holders(client)
        .map_or_else(Vec::new, |h| h.others);
    new_since(&live_children(server), before)
        .into_iter()
        .find(|p| serving.contains(&p.pid))
}

/// Waits up to [`EXIT_GRACE`] for `child`, which has ended, to be reaped (gone from the
/// server's tree); whether it was.
fn reaped(server: &Server, child: &Proc) -> bool {
    poll(EXIT_GRACE, || {
        (!server.tree().iter().any(|p| same(p, child))).then_some(())
    })
    .is_some()
}

pub static BOUNDED_PROCESSES: Check = Check {
    id: "bounded-processes",
    category: Category::Resources,
    points: 5,
    summary: "200 clients one after another never leave more than a few children running",
    hint: "the number of children follows the number of open connections: a child must end \
           with its connection, and never carry on into the accept loop it inherited",
    book: "forking.md#how-a-child-ends",
    limit: LIMIT,
    run: |ctx| {
        const CLIENTS: usize = 200;
        const FEW: usize = 10;
        let server = ctx.start()?;
        for i in 1..=CLIENTS {
            let mut client = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
            client.echo(format!("client {i} of {CLIENTS}\n").as_bytes())?;
            drop(client);
            if live_children(&server).len() <= FEW {
                continue;
            }
            // The children of clients that just left may still be on their way out.
            if poll(EXIT_GRACE, || {
                (live_children(&server).len() <= FEW).then_some(())
            })
            .is_none()
            {
                let n = live_children(&server).len();
                fail!(
                    "after {i} clients came and went one after another (never more than one \
                     connected), the server had {n} processes besides its main one, {} after \
                     the last client left: the processes pile up with the connections served",
                    secs(EXIT_GRACE)
                );
            }
        }
        Ok(())
    },
};

pub static FORK_FAILURE: Check = Check {
    id: "fork-failure",
    category: Category::Robustness,
    points: 5,
    summary: "when fork fails (EAGAIN), the server closes that client, lives on, and forks again \
              once children have ended",
    hint: "fork returns an error when the process limit is reached: close that one connection \
           (drop the stream) and keep accepting; `fork()?` ends the whole server",
    book: "forking.md#when-fork-fails",
    limit: LIMIT,
    run: |ctx| {
        // RLIMIT_NPROC: the parent and 7 children.
        const CAP: usize = 8;
        const CLIENTS: usize = 12;
        let limits = Limits {
            max_tasks: CAP,
            ..Limits::default()
        };
        let server = ctx.start_with(&limits)?;
        let situation = format!(
            "{CLIENTS} clients connected while the server could have at most {CAP} processes \
             (the grader set RLIMIT_NPROC), so fork failed with EAGAIN for some"
        );
        let clients = Client::connect_many(server.addr(), CLIENTS)?;
        let served = round(clients, b"a process for me?\n");
        if let Some(limit) = server.limit() {
            fail!(
                "the grader limits this server to {CAP} processes with RLIMIT_NPROC, but it ran \
                 past that and was stopped ({limit}): RLIMIT_NPROC does not bind root, so the \
                 server's binary must be reachable by an unprivileged user (a checkout under \
                 /root is not)"
            );
        }
        if let Some(exit) = server.wait_exit(Duration::from_millis(100)) {
            fail!(
                "{situation}, and the server ended ({exit}): a failed fork must cost one \
                 client, not the server"
            );
        }
        ensure!(
            !served.is_empty(),
            "{situation}; none of them got an echo within {}",
            secs(REPLY)
        );
        let still = round(served, b"still served?\n");
        ensure!(
            !still.is_empty(),
            "{situation}; some got an echo of a first line, but none of a second one"
        );
        drop(still);
        // Once everyone has left, forking works again. A new client may still be turned
        // away while the last children end: it tries again for a while.
        const RETRY: Duration = Duration::from_secs(5);
        let mut refused = Verdict::new("no new client could connect");
        let again = poll(RETRY, || {
            let tried = Client::connect_with(server.addr(), None, "a new client")
                .and_then(|mut client| client.echo(b"room for me now?\n"));
            if let Err(v) = tried {
                refused = v;
                // Pacing, not synchronisation: one new client every 100 ms is enough.
                std::thread::sleep(Duration::from_millis(100));
                return None;
            }
            Some(())
        });
        if again.is_some() {
            return Ok(());
        }
        let left = server.tree().into_iter().filter(|p| p.pid != server.pid());
        let (zombies, running): (Vec<Proc>, Vec<Proc>) = left.partition(Proc::is_zombie);
        // What holds the places is the bug another check grades.
        let cause = match (zombies.len(), running.len()) {
            (0, 0) => None,
            (0, n) => Some(causes::children_outlive(n)),
            _ => Some(causes::not_reaping()),
        };
        Err(refused
            .context(format!(
                "{situation}; then they all left, yet for {} no new client was served, and the \
                 server still had {} zombies and {} other processes, all counted against the \
                 limit",
                secs(RETRY),
                zombies.len(),
                running.len()
            ))
            .because(cause))
    },
};

pub static EMFILE: Check = Check {
    id: "emfile",
    category: Category::Robustness,
    points: 5,
    summary: "out of descriptors (limit 64, 101 clients), it neither dies nor spins, and recovers",
    hint: "a parent that holds a descriptor per child (a pidfd, a pipe) can run out of them; \
           then accept fails with EMFILE, the connection stays queued, and accepting again at \
           once fails again at once: when `workbook_kit::out_of_descriptors(&e)`, sleep for \
           `OUT_OF_DESCRIPTORS_PAUSE` before the next accept",
    book: "forking.md#running-out-of-descriptors",
    limit: LIMIT,
    run: |ctx| common::out_of_descriptors(ctx, causes::waits_for_a_child),
};

/// Keeps the server's main process stopped (SIGSTOP) until dropped (SIGCONT).
pub(super) struct Paused<'a>(&'a Server);

impl<'a> Paused<'a> {
    pub(super) fn new(server: &'a Server) -> Result<Paused<'a>, Verdict> {
        server.signal(Signal::SIGSTOP);
        // Made before the wait, so that SIGCONT is sent whatever happens next.
        let paused = Paused(server);
        poll(Duration::from_secs(2), || {
            procfs::read(server.pid()).filter(|p| p.state == 'T')
        })
        .ok_or_else(|| Verdict::new("the grader could not pause the server with SIGSTOP"))?;
        Ok(paused)
    }
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        self.0.signal(Signal::SIGCONT);
    }
}
