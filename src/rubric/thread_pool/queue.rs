//! The clients beyond the pool: one waits its turn and is served when a worker is free, a
//! thousand wait without the server holding a connection (or a thread) for each, and out
//! of descriptors the acceptor neither dies nor spins.

use super::{not_a_pool, pool_started, start_pool, waiting, LIMIT, POOL_THREADS, WORKERS};
use crate::drive::client::thousands;
use crate::probe::sockets::Table;
use crate::rubric::check::{Category, Check};
use crate::rubric::common;
use crate::rubric::epoll::{fds, settle};
use crate::rubric::threaded::{connect_and_echo, threads};
use crate::{ensure, fail};

/// Clients that wait in `bounded-queue` while the pool is busy.
const CROWD: usize = 1000;

/// The most connections `bounded-queue` lets the server hold beyond those its workers serve
/// and the one in the acceptor's hand: a queue of a few connections per worker, not one
/// for every client.
const QUEUE_MOST: usize = 64;

pub static NEXT_IN_LINE: Check = Check {
    id: "next-in-line",
    category: Category::Concurrency,
    points: 10,
    summary: "with 3 workers busy, a 4th client waits, is never refused, and is served as \
              soon as one of the 3 leaves",
    hint: "a worker loops: when its client leaves, it takes the next connection from the \
           queue; and a connection beyond the pool waits in the queue (or the backlog) for a \
           worker, it is never closed because the pool is busy",
    book: "thread-pool.md#the-101st-client",
    limit: LIMIT,
    run: |ctx| {
        let server = start_pool(ctx)?;
        pool_started(&server)?;
        let clients = connect_and_echo(&server, WORKERS)?;
        let next = common::client_beyond(
            &server,
            "3 workers serve 3 clients at once, and the 4th waits until one of them is free",
            "for a worker",
        )?;
        common::next_is_served(clients, next, |mut v| {
            if let Ok(now) = threads(&server) {
                if now < POOL_THREADS {
                    v.message.push_str(&format!(
                        ". The server has {now} threads now, {POOL_THREADS} before client 2 \
                         left: its worker ended with its client's connection, where it should \
                         have taken the next one from the queue"
                    ));
                }
            }
            v
        })
    },
};

pub static BOUNDED_QUEUE: Check = Check {
    id: "bounded-queue",
    category: Category::Resources,
    points: 10,
    summary: "with 3 clients served and 1,000 waiting: still 4 threads, at most 64 \
              connections queued, and none of the 1,000 turned away",
    hint: "bound the queue (`sync_channel(n)`, or a Condvar the acceptor waits on while it is \
           full): the acceptor then stops accepting while the workers are busy, and the \
           kernel's listen backlog holds the other clients; never start an extra thread, and \
           never close a client, because the queue is full",
    book: "thread-pool.md#when-the-queue-is-full",
    limit: LIMIT,
    run: |ctx| {
        let server = start_pool(ctx)?;
        pool_started(&server)?;
        let baseline = fds(&server)?;
        let _served = connect_and_echo(&server, WORKERS)?;
        let crowd = waiting(&server, WORKERS + 1..=WORKERS + CROWD)?;
        let peers: Vec<u16> = crowd
            .iter()
            .filter_map(|c| c.stream().local_addr().ok())
            .map(|a| a.port())
            .collect();
        // Until the server has taken all it will take: its descriptors stop changing.
        let held = settle(
            || fds(&server).map(|n| n.saturating_sub(baseline)),
            usize::MAX,
        )?;
        let when = "with 3 clients served and 1,000 more connected, each waiting for the echo \
                    of a line";
        if let Some(why) = not_a_pool(&server, when)? {
            fail!(
                "{why}. A pool does not grow with its queue: the clients beyond it wait, in the \
                 queue or in the kernel's backlog, and cost the server nothing until then"
            );
        }
        let most = WORKERS + 1 + QUEUE_MOST;
        ensure!(
            held <= most,
            "{when}, the server held {} connections (its descriptors grew by that much), \
             {} more than its 3 workers serve: its queue has no bound. A queue without a \
             bound keeps a descriptor and a socket's memory for every client that comes, \
             however long it must wait; a bounded one (at most {QUEUE_MOST} connections pass \
             here) makes the acceptor wait while it is full, and the kernel's listen backlog \
             holds the rest",
            thousands(held as u64),
            thousands((held - WORKERS) as u64)
        );
        let ended = Table::read(server.addr().port()).ended(&peers);
        ensure!(
            ended == 0,
            "{when}, {ended} of those 1,000 clients had their connection ended by the server: \
             a full queue must make the acceptor wait, not turn clients away. They would have \
             been served in their turn"
        );
        Ok(())
    },
};

/// Workers in `emfile`: with a queue of as many, more connections than the 64 descriptors
/// the check allows, so that the acceptor runs out before the queue fills.
const EMFILE_WORKERS: &str = "50";

pub static EMFILE: Check = Check {
    id: "emfile",
    category: Category::Robustness,
    points: 5,
    summary: "with `--workers 50`, out of descriptors (limit 64, 101 clients), it neither \
              dies nor spins, and recovers",
    hint: "when accept fails with EMFILE the connection stays queued, so accepting again at \
           once fails again at once, for as long as no client leaves: when \
           `workbook_kit::out_of_descriptors(&e)`, sleep for `OUT_OF_DESCRIPTORS_PAUSE` \
           before the next accept",
    book: "thread-pool.md#running-out-of-descriptors",
    limit: LIMIT,
    run: |ctx| common::out_of_descriptors_with(ctx, &["--workers", EMFILE_WORKERS], |_| None),
};
