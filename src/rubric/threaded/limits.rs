//! Threads end with their connections, a thread that cannot start costs one client only, and
//! running out of descriptors (one per connection) neither kills nor spins the server.

use std::time::{Duration, Instant};

use super::crowd::connect_and_echo;
use super::{settled_threads, threads, IDLE, LIMIT};
use crate::contain::server::Server;
use crate::contain::shepherd::Limits;
use crate::drive::client::{secs, Client, REPLY};
use crate::drive::traffic::round;
use crate::probe::procfs;
use crate::rubric::check::{Category, Check};
use crate::rubric::common;
use crate::verdict::{Outcome, Verdict};
use crate::{ensure, fail};

pub static THREADS_END: Check = Check {
    id: "threads-end",
    category: Category::Resources,
    points: 10,
    summary: "when 50 clients leave, the server's thread count returns to its baseline",
    hint: "a connection's thread must return once its client has gone: do not keep it waiting \
           on a channel, a lock or a join that nobody will answer",
    book: "threaded.md#detach-dont-join",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        Client::connect(server.addr())?.echo(b"warming up\n")?;
        let baseline = settled_threads(&server)?;
        let clients = connect_and_echo(&server, IDLE)?;
        let during = threads(&server)?;
        drop(clients);
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let now = threads(&server)?;
            if now <= baseline {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "the server had {baseline} threads before {IDLE} clients connected, {during} \
                 while they were connected, and still {now} 3 s after all of them left: \
                 {} threads outlived their clients",
                now - baseline
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    },
};

/// Threads the server may have in `spawn-failure` (its `RLIMIT_NPROC`).
pub(super) const THREAD_CAP: usize = 20;

/// Clients connected at once in `spawn-failure`: more than the server can have threads.
pub(super) const OVER_CAP: usize = 30;

pub static SPAWN_FAILURE: Check = Check {
    id: "spawn-failure",
    category: Category::Robustness,
    points: 5,
    summary: "when no more threads can be created, the server lives on and serves its clients",
    hint: "thread::spawn panics when the OS refuses a thread; use thread::Builder::spawn and, \
           when it returns an error, close that client and keep accepting",
    book: "threaded.md#when-a-thread-cannot-be-created",
    limit: LIMIT,
    run: |ctx| {
        let limits = Limits {
            max_tasks: THREAD_CAP,
            ..Limits::default()
        };
        let server = ctx.start_with(&limits)?;
        if procfs::uid(server.pid()) == Some(0) {
            fail!(
                "the server runs as root here, which RLIMIT_NPROC does not bind, so the grader \
                 cannot limit its threads: its binary must be reachable by an unprivileged \
                 user (a checkout under /root is not)"
            );
        }
        served_past_the_cap(&server).map_err(|v| match server.wait_exit(Duration::from_secs(1)) {
            Some(exit) => Verdict::new(format!(
                "{OVER_CAP} clients connected while the server could have at most {THREAD_CAP} \
                 threads (the grader sets RLIMIT_NPROC), so creating a thread failed, and the \
                 server ended ({exit}); thread::spawn panics when that happens"
            )),
            None => v,
        })
    },
};

pub static EMFILE: Check = Check {
    id: "emfile",
    category: Category::Robustness,
    points: 5,
    summary: "out of descriptors (limit 64, 101 clients), it neither dies nor spins, and recovers",
    hint: "when accept fails with EMFILE the connection stays queued, so accepting again at \
           once fails again at once, for as long as no client leaves: when \
           `workbook_kit::out_of_descriptors(&e)`, sleep for `OUT_OF_DESCRIPTORS_PAUSE` \
           before the next accept",
    book: "threaded.md#running-out-of-descriptors",
    limit: LIMIT,
    run: |ctx| common::out_of_descriptors(ctx, |_| None),
};

/// Connects [`OVER_CAP`] clients to a server limited to [`THREAD_CAP`] threads, each sending
/// a line; then the clients that got their echo send a second line, and at least one of them
/// must get it back.
///
/// A client beyond the cap may be closed (the reference does that) or kept waiting; either
/// is fine. What matters is that the server survives and goes on serving the clients it has
/// threads for.
pub(super) fn served_past_the_cap(server: &Server) -> Outcome {
    let mut clients = Vec::new();
    for i in 1..=OVER_CAP {
        clients.push(Client::connect_with(
            server.addr(),
            None,
            &format!("client {i}"),
        )?);
    }
    let served = round(clients, b"a thread for me?\n");
    ensure!(
        !served.is_empty(),
        "none of {OVER_CAP} clients got an echo of its line within {}",
        secs(REPLY)
    );
    let before = served.len();
    let still = round(served, b"still served?\n");
    ensure!(
        !still.is_empty(),
        "{OVER_CAP} clients connected while the server could have at most {THREAD_CAP} \
         threads; {before} of them got an echo of their first line, but none an echo of a \
         second one within {}",
        secs(REPLY)
    );
    // Not `exit()`, which may not know yet: a server whose accept thread panicked can still
    // be dying (unwinding, printing the panic) while the threads it already had answer both
    // rounds, and the shepherd reports an exit up to a tick later. On a busy machine the
    // known-buggy `threaded-spawn-panics` passed that way.
    match server.wait_exit(Duration::from_millis(500)) {
        Some(exit) => fail!("the server ended ({exit}) while serving {OVER_CAP} clients"),
        None => Ok(()),
    }
}
