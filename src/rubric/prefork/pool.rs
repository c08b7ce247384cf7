//! The pool itself: workers forked before any client, as many as asked for whatever the
//! load, and the same workers for every connection.

use std::time::{Duration, Instant};

use workbook_kit::DEFAULT_WORKERS;

use super::{pids, pool_of, start_pool, worker_of, FORKING, LIMIT, WORKERS};
use crate::contain::server::Server;
use crate::drive::client::Client;
use crate::probe::procfs::Proc;
use crate::probe::settle::poll;
use crate::probe::sockets::{self, Holders};
use crate::rubric::check::{Category, Check};
use crate::rubric::forking::{live_children, new_since, Sockets};
use crate::verdict::{Outcome, Verdict};
use crate::{ensure, fail};

/// How long the number of workers must hold once it is right: a pool that grows under load
/// does so as soon as its workers are all busy.
const STEADY: Duration = Duration::from_millis(300);

pub static WORKER_POOL: Check = Check {
    id: "worker-pool",
    category: Category::Concurrency,
    points: 10,
    summary: "started with `--workers 3`: a master and 3 worker processes forked before any \
              client, each holding the listening socket",
    hint: "bind, then fork the workers at once, before any client comes: each inherits the \
           listener and runs an accept loop on it, while the master only supervises",
    book: "prefork.md#a-master-and-its-workers",
    limit: LIMIT,
    run: |ctx| {
        let server = start_pool(ctx)?;
        let workers = pool_of(&server)?;
        let listener = sockets::listener(server.addr())
            .ok_or_else(|| Verdict::new("no socket listens on the announced address any more"))?;
        let holders = Holders::of(workers.iter().map(|p| p.pid));
        let without: Vec<Proc> = workers
            .iter()
            .filter(|w| !holders.of_inode(listener).contains(&w.pid))
            .cloned()
            .collect();
        ensure!(
            without.is_empty(),
            "started with `--workers 3`, the server had {} processes besides its master, \
             but {} of them (pid {}) did not hold the listening socket: every worker \
             inherits the listener from the master and accepts on it",
            workers.len(),
            without.len(),
            pids(&without)
        );
        Ok(())
    },
};

pub static FIXED_POOL: Check = Check {
    id: "fixed-pool",
    category: Category::Resources,
    points: 10,
    summary: "exactly 3 workers besides the master with 0, 3 and 9 clients connected \
              (`--workers 3`), and 4 without `--workers`",
    hint: "fork exactly `Options::workers` workers (4 without the option: \
           `workbook_kit::DEFAULT_WORKERS`), never more whatever the load: clients beyond the \
           pool wait in the backlog",
    book: "prefork.md#sizing-the-pool",
    limit: LIMIT,
    run: |ctx| {
        let server = start_pool(ctx)?;
        pool_of(&server)?;
        let why = "a pool has its 3 workers whatever the load: it neither grows when they are \
                   all busy nor forks for a connection, and clients beyond it wait in the \
                   backlog";
        let mut clients = Vec::new();
        for (total, when) in [
            (0, "with no client connected"),
            (WORKERS, "with 3 clients connected and served"),
            (
                3 * WORKERS,
                "with 9 clients connected, 3 served and 6 waiting for a worker",
            ),
        ] {
            while clients.len() < total {
                let i = clients.len() + 1;
                let mut client = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
                let line = format!("client {i} counts the workers\n");
                if i <= WORKERS {
                    client.echo(line.as_bytes())?;
                } else {
                    client.send(line.as_bytes())?;
                }
                clients.push(client);
            }
            stays(
                &server,
                WORKERS,
                &format!("started with `--workers 3`, {when}"),
                why,
            )?;
        }
        drop(clients);
        let server = ctx.start()?;
        stays(
            &server,
            DEFAULT_WORKERS,
            "started without `--workers`",
            "the contract's pool has 4 workers when the option is not given \
             (`workbook_kit::DEFAULT_WORKERS`, which `Options::workers` holds then)",
        )
    },
};

/// Fails unless the server has exactly `n` workers within [`FORKING`] and keeps them for
/// [`STEADY`]: `when` says what was going on, `why` why `n` is right.
fn stays(server: &Server, n: usize, when: &str, why: &str) -> Outcome {
    let count = || live_children(server).len();
    if poll(FORKING, || (count() == n).then_some(())).is_some() {
        let begun = Instant::now();
        while count() == n {
            if begun.elapsed() >= STEADY {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let had = count();
    fail!(
        "{when}, the server had {had} process{} besides its master, not {n}: {why}",
        if had == 1 { "" } else { "es" }
    )
}

pub static NO_FORK_PER_CONNECTION: Check = Check {
    id: "no-fork-per-connection",
    category: Category::Resources,
    points: 10,
    summary: "20 clients one after another are all served by the workers forked at start: \
              no process is forked per connection",
    hint: "a worker serves connection after connection: when handle_connection returns it \
           goes back to accept, and neither it nor the master forks for a client",
    book: "prefork.md#why-prefork",
    limit: LIMIT,
    run: |ctx| {
        const CLIENTS: usize = 20;
        let server = start_pool(ctx)?;
        let first = pool_of(&server)?;
        let once = "a prefork server forks its workers once, at start, and each serves \
                    connection after connection: a process forked per connection is the \
                    forking server's cost, paid again by every client";
        for i in 1..=CLIENTS {
            let mut client = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
            client.echo(format!("client {i} of {CLIENTS}, one after another\n").as_bytes())?;
            // The processes alone say whether one was forked (reading who holds which
            // socket takes longer, with every connection of the machine to go through):
            // who serves the client is asked only to say so.
            let new = new_since(&live_children(&server), &first);
            if new.is_empty() {
                continue;
            }
            let serving = worker_of(&Sockets::of(&server), &client);
            if let Some(pid) = serving.filter(|w| new.iter().any(|p| p.pid == *w)) {
                fail!(
                    "client {i} was served by process {pid}, which the server forked after it \
                     started (its workers were {}): {once}",
                    pids(&first)
                );
            }
            fail!(
                "while client {i} of {CLIENTS} was connected (they came one after another), \
                 the server had {} process{} it did not have at start (pid {}), though no \
                 worker had been killed: {once}",
                new.len(),
                if new.len() == 1 { "" } else { "es" },
                pids(&new)
            );
        }
        Ok(())
    },
};
