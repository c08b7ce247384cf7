//! Who serves whom: the workers, one client each, the rest waiting in the backlog; never the
//! master.

use std::time::Duration;

use super::{busy, pool_of, start_pool, LIMIT, WORKERS};
use crate::drive::client::Client;
use crate::probe::procfs;
use crate::rubric::check::{Category, Check};
use crate::rubric::common;
use crate::rubric::forking::Sockets;
use crate::{ensure, fail};

/// How often, and for how long, the master is looked at before any client comes.
const LOOKS: usize = 20;
const LOOK_EVERY: Duration = Duration::from_millis(10);

pub static BUSY_POOL_QUEUES: Check = Check {
    id: "busy-pool-queues",
    category: Category::Concurrency,
    points: 15,
    summary: "3 workers serve 3 clients at once; a 4th client waits in the backlog, never \
              refused, and is served as soon as one of them leaves",
    hint: "each worker serves one connection at a time, to its end, and only then accepts the \
           next: no thread per connection in a worker, no accept in the master, and never \
           close a connection because the pool is busy",
    book: "prefork.md#the-101st-client",
    limit: LIMIT,
    run: |ctx| {
        let server = start_pool(ctx)?;
        pool_of(&server)?;
        let clients = busy(&server, WORKERS, "started with `--workers 3`")?;
        let next = common::client_beyond(
            &server,
            "each worker serves one connection at a time, so the 4th client of a pool of 3 \
             waits in the backlog until a worker is free",
            "in the backlog",
        )?;
        common::next_is_served(clients, next, |v| v)
    },
};

pub static MASTER_NEVER_SERVES: Check = Check {
    id: "master-never-serves",
    category: Category::Concurrency,
    points: 10,
    summary: "the master never accepts: it does not wait in accept, and holds no client's \
              socket while 4 clients compete for 3 workers",
    hint: "after forking its workers the master only supervises (waits for signals, reaps, \
           replaces, stops); a master that accepts too cannot replace a dead worker while it \
           serves, and serves more clients than the pool has workers",
    book: "prefork.md#the-master-only-supervises",
    limit: LIMIT,
    run: |ctx| {
        let server = start_pool(ctx)?;
        pool_of(&server)?;
        for _ in 0..LOOKS {
            ensure!(
                procfs::wchan(server.pid()).as_deref() != Some("inet_csk_accept"),
                "with no client connected, the server's master (pid {}) was asleep in accept \
                 (the kernel's `inet_csk_accept`), beside its workers: a master that accepts \
                 takes clients the pool should have, and cannot supervise while it serves",
                server.pid()
            );
            std::thread::sleep(LOOK_EVERY);
        }
        // One more client than workers, all staying: whoever accepts beyond the workers
        // gets the last one.
        let mut clients = busy(&server, WORKERS, "started with `--workers 3`")?;
        let mut last = Client::connect_with(server.addr(), None, "client 4")?;
        let line = b"client 4 comes when the workers are busy\n";
        last.send(line)?;
        // Served or not (`busy-pool-queues` grades that), it has had time to be accepted.
        let _ = last.read_exact_within(line.len(), common::QUEUED);
        clients.push(last);
        let sockets = Sockets::of(&server);
        for client in &clients {
            if sockets.holders(client).is_some_and(|h| h.main) {
                fail!(
                    "with clients 1 to 4 connected to a pool of 3 workers, {}'s connection was \
                     held by the server's master (pid {}): the master must never accept, \
                     only its workers do",
                    client.name,
                    server.pid()
                );
            }
        }
        Ok(())
    },
};
