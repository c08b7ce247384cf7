//! Reaping: no zombie stays, and SIGCHLD does not end the accept loop.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::contain::server::Server;
use crate::drive::client::{secs, Client};
use crate::fail;
use crate::probe::procfs::{self, Proc};
use crate::probe::settle::poll;
use crate::rubric::check::{Category, Check};
use crate::verdict::{Outcome, Verdict};

use super::failures::Paused;
use super::{live_children, new_since, still_running, EXIT_GRACE, LIMIT, ZOMBIE_GRACE};

pub static NO_ZOMBIES: Check = Check {
    id: "no-zombies",
    category: Category::Resources,
    points: 15,
    summary: "no child stays a zombie over 1 s, also when 50 end at once and their SIGCHLDs merge",
    hint: "reap in a loop, `waitpid(None, Some(WaitPidFlag::WNOHANG))` until it finds no ended \
           child, each time SIGCHLD arrives (not once per signal: signals merge), and without \
           waiting for the next client to do it",
    book: "forking.md#zombies-and-sigchld",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut watch = ZombieWatch::default();
        let when = "while 50 clients came and went one after another";
        for i in 1..=50 {
            let mut client = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
            client.echo(format!("client {i} comes and goes\n").as_bytes())?;
            drop(client);
            watch.look(&server, when)?;
        }
        watch.settle(&server, "after 50 clients came and went one after another")?;

        // Then 50 that leave together. The parent is paused while their children exit: the
        // kernel keeps one pending SIGCHLD however many children end meanwhile, as happens
        // whenever the parent is slow to run on a busy machine.
        let before = live_children(&server);
        let clients = Client::connect_many(server.addr(), 50)?;
        // A server that cannot fork for all 50 at once is graded by `child-per-connection`;
        // here the children it has are enough.
        let serving = poll(Duration::from_secs(3), || {
            let new = new_since(&live_children(&server), &before);
            (new.len() >= 50).then_some(new)
        })
        .unwrap_or_else(|| new_since(&live_children(&server), &before));
        {
            let _paused = Paused::new(&server)?;
            drop(clients);
            still_running(&server, &serving, Duration::from_secs(3));
        }
        ZombieWatch::default().settle(
            &server,
            "after 50 clients left at once (the grader paused the server with SIGSTOP while \
             their children exited, so their SIGCHLDs merged into one, and then resumed it)",
        )
    },
};

pub static SIGCHLD_IN_ACCEPT: Check = Check {
    id: "sigchld-in-accept",
    category: Category::Robustness,
    points: 10,
    summary: "a SIGCHLD that arrives while the parent waits in accept (EINTR) neither ends nor \
              stalls the server",
    hint: "a signal interrupts accept: nix's accept4 then fails with EINTR (unless the handler \
           was installed with SA_RESTART), which means \"try again\", not \"stop\"; and a \
           SIGCHLD handler must never wait for a child that is still running",
    book: "forking.md#signals-interrupt-system-calls-eintr",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut stayer = Client::connect_with(server.addr(), None, "client 1")?;
        stayer.echo(b"client 1 stays connected\n")?;
        for i in 2..=5 {
            let before = live_children(&server);
            let attempt = Client::connect_with(server.addr(), None, &format!("client {i}"))
                .and_then(|mut client| {
                    client.echo(format!("client {i} comes and goes\n").as_bytes())?;
                    Ok(client)
                });
            let client = match attempt {
                Ok(client) => client,
                // Before any child has ended: this server cannot serve two clients at once,
                // which `stalled-client` grades. There is no SIGCHLD to speak of yet.
                Err(_) if i == 2 => return Ok(()),
                Err(v) => return Err(after_leaver(&server, v, i - 1)),
            };
            if i < 5 {
                let serving = new_since(&live_children(&server), &before);
                drop(client);
                // Once its child has ended, the SIGCHLD has reached the parent, which has
                // nothing to do but wait in accept.
                still_running(&server, &serving, EXIT_GRACE);
            }
        }
        stayer
            .echo(b"client 1 is still here\n")
            .map_err(|v| v.context("after clients 2 to 5 came and went"))
    },
};

/// Remembers when each zombie was first seen, and fails once one has been a zombie too long.
#[derive(Default)]
pub(super) struct ZombieWatch {
    first_seen: HashMap<(i32, u64), Instant>,
}

impl ZombieWatch {
    /// Takes one look at the server's zombies.
    fn look(&mut self, server: &Server, when: &str) -> Outcome {
        let now = Instant::now();
        let zombies: Vec<Proc> = server
            .tree()
            .into_iter()
            .filter(|p| p.pid != server.pid() && p.is_zombie())
            .collect();
        self.first_seen
            .retain(|id, _| zombies.iter().any(|z| (z.pid, z.start) == *id));
        let old: Vec<i32> = zombies
            .iter()
            .filter(|z| {
                let seen = *self.first_seen.entry((z.pid, z.start)).or_insert(now);
                now.duration_since(seen) > ZOMBIE_GRACE
            })
            .map(|z| z.pid)
            .collect();
        if old.is_empty() {
            return Ok(());
        }
        let shown: Vec<String> = old.iter().take(5).map(i32::to_string).collect();
        let pids = format!(
            "pid {}{}",
            shown.join(", "),
            if old.len() > shown.len() { ", ..." } else { "" }
        );
        let (who, was) = match old.len() {
            1 => ("a child".to_string(), "a zombie"),
            n => (format!("{n} children"), "zombies"),
        };
        fail!(
            "{when}, {who} of the server stayed {was} for over {} ({pids}): the parent had \
             not collected their exit status",
            secs(ZOMBIE_GRACE)
        )
    }

    /// Looks until the server has no zombie and no child left (or 3 s have passed, if some
    /// child does not end: `children-exit` grades that).
    fn settle(&mut self, server: &Server, when: &str) -> Outcome {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            self.look(server, when)?;
            if server.tree().len() <= 1 || Instant::now() > deadline {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Adds what became of the server's main process to a client's failure after `event`: it
/// ended, or where in the kernel it sleeps (`do_wait`: waiting for a child).
pub(super) fn with_fate(server: &Server, verdict: Verdict, event: &str) -> Verdict {
    let fate = match server.wait_exit(Duration::from_millis(300)) {
        Some(exit) => format!("the server's main process had ended ({exit})"),
        None => match procfs::wchan(server.pid()) {
            Some(wchan) => format!(
                "the server's main process was still there, asleep in the kernel's `{wchan}`{}",
                match wchan.as_str() {
                    "do_wait" => " (waiting for a child to end)",
                    "inet_csk_accept" => " (in accept)",
                    _ => "",
                }
            ),
            _ => "the server's main process was still there".to_string(),
        },
    };
    Verdict::new(format!("{}; {event}, and {fate}", verdict.message))
}

/// [`with_fate`] after client `left` came and went while client 1 stayed connected.
pub(super) fn after_leaver(server: &Server, verdict: Verdict, left: usize) -> Verdict {
    let event = format!(
        "before that, client {left} had left while client 1 stayed connected, and its child had \
         ended while the server waited in accept"
    );
    with_fate(server, verdict, &event)
}
