//! The master's two duties: replace a worker that dies, and end them all when told to stop.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::{busy, pids, pool_of, start_pool, worker_of, LIMIT, WORKERS};
use crate::drive::client::{secs, show, Client, Ending, MARGIN, REPLY};
use crate::probe::procfs::Proc;
use crate::probe::settle::poll;
use crate::rubric::check::{Category, Check};
use crate::rubric::forking::{live_children, new_since, same, Sockets};
use crate::{ensure, fail};

/// How soon a dead worker must be collected and replaced.
const REPLACE: Duration = Duration::from_secs(1);

/// How soon the master and every worker must be gone after SIGTERM or SIGINT.
const STOP: Duration = Duration::from_secs(2);

pub static KILLED_WORKER: Check = Check {
    id: "killed-worker",
    category: Category::Robustness,
    points: 15,
    summary: "a worker killed with SIGKILL is reaped and replaced within 1 s; its client is \
              dropped, the other clients and a new one are served",
    hint: "on SIGCHLD, collect every ended worker with `waitpid(None, WNOHANG)` in a loop and \
           fork one replacement for each, at once: a worker may die of a signal, and the pool \
           must not shrink",
    book: "prefork.md#when-a-worker-dies",
    limit: LIMIT,
    run: |ctx| {
        let server = start_pool(ctx)?;
        let first = pool_of(&server)?;
        let mut clients = busy(&server, WORKERS, "started with `--workers 3`")?;
        // Each client held by a worker of its own: otherwise `busy-pool-queues` and
        // `master-never-serves` say what is wrong, and there is no one worker to kill.
        let sockets = Sockets::of(&server);
        let held: Vec<Option<i32>> = clients.iter().map(|c| worker_of(&sockets, c)).collect();
        let distinct = held.iter().flatten().count() == WORKERS
            && !held.iter().enumerate().any(|(i, h)| held[..i].contains(h));
        let victim = first.iter().find(|p| Some(p.pid) == held[1]);
        let Some(victim) = victim.filter(|_| distinct).cloned() else {
            return Ok(());
        };
        server.signal_member(&victim, Signal::SIGKILL);
        let event = format!(
            "the grader killed worker {} (which served client 2) with SIGKILL",
            victim.pid
        );
        let reaped = |p: &Proc| !server.tree().iter().any(|t| same(t, p));
        let replaced = poll(REPLACE, || {
            let new = new_since(&live_children(&server), &first);
            (reaped(&victim) && new.len() == 1).then_some(())
        });
        if replaced.is_none() {
            let new = new_since(&live_children(&server), &first);
            let zombie = server
                .tree()
                .iter()
                .any(|p| same(p, &victim) && p.is_zombie());
            let replacement = match new.len() {
                0 => "no worker had replaced it".to_string(),
                1 => format!("worker {} had replaced it", new[0].pid),
                n => format!("{n} new processes had replaced it (pid {})", pids(&new)),
            };
            let then = format!("{event}; {} later {replacement}", secs(REPLACE));
            ensure!(
                !zombie,
                "{then}, and the dead worker was still a zombie: the master must collect a dead \
                 worker with waitpid as soon as SIGCHLD says one has ended"
            );
            fail!(
                "{then}: the master must fork one replacement as soon as a worker dies, or the \
                 pool shrinks with every crash"
            );
        }
        let mut dropped = clients.remove(1);
        let (got, ending) = dropped.read_to_end(REPLY, MARGIN);
        ensure!(
            got.is_empty() && matches!(ending, Ending::Eof | Ending::Reset),
            "{event}; client 2 then got {} {ending}, where its connection should have ended \
             with its worker: does another process of the server hold its socket?",
            show(&got)
        );
        for client in &mut clients {
            let line = format!("{} did not lose its worker\n", client.name);
            client
                .echo(line.as_bytes())
                .map_err(|v| v.context(&event))?;
        }
        let mut next = Client::connect_with(server.addr(), None, "client 4")?;
        next.echo(b"client 4 needs the new worker\n").map_err(|v| {
            v.context(format!(
                "{event} and it was replaced; clients 1 and 3 still hold their workers, so \
                 the new worker serves client 4"
            ))
        })
    },
};

pub static SIGTERM_ENDS_WORKERS: Check = Check {
    id: "sigterm-ends-workers",
    category: Category::Robustness,
    points: 10,
    summary: "SIGTERM or SIGINT to the master ends it and every worker, busy or idle, within \
              2 s: nothing is left orphaned",
    hint: "on SIGTERM and SIGINT the master sends SIGTERM to each worker and waits for them \
           (waitpid) before it exits; a master that just dies leaves its workers serving on, \
           orphaned, with the port still open",
    book: "prefork.md#stopping-the-pool",
    limit: LIMIT,
    run: |ctx| {
        for signal in [Signal::SIGTERM, Signal::SIGINT] {
            let server = start_pool(ctx)?;
            pool_of(&server)?;
            // Two workers busy with a client, one waiting in accept.
            let _clients = busy(&server, WORKERS - 1, "started with `--workers 3`")?;
            server.signal(signal);
            // A server that stopped itself must wake up to act on the signal.
            server.signal(Signal::SIGCONT);
            let running = || -> Vec<Proc> {
                let tree = server.tree().into_iter().filter(|p| !p.is_zombie());
                tree.collect()
            };
            if poll(STOP, || running().is_empty().then_some(())).is_some() {
                continue;
            }
            let left = running();
            let name = signal.as_str();
            ensure!(
                !left.iter().any(|p| p.pid == server.pid()),
                "the server's master was still running {} after {name}",
                secs(STOP)
            );
            fail!(
                "with 2 of its 3 workers serving a client, the master got {name} and ended, \
                 yet {} later {} of its processes were still running (pid {}), orphaned: the \
                 master must end every worker before it exits, or they serve on with nobody \
                 to replace or stop them",
                secs(STOP),
                left.len(),
                pids(&left)
            );
        }
        Ok(())
    },
};
