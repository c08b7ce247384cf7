//! The pool itself: a fixed number of threads whatever the load, and every one of them
//! serving.

use super::{pool_holds, pool_started, start_pool, waiting, LIMIT, WORKERS};
use crate::drive::client::Client;
use crate::rubric::check::{Category, Check};
use crate::verdict::Verdict;

pub static WORKER_THREADS: Check = Check {
    id: "worker-threads",
    category: Category::Concurrency,
    points: 10,
    summary: "started with `--workers 3`: one process of 4 threads (3 workers and the \
              acceptor) with 0, 3 and 9 clients connected",
    hint: "start `--workers` threads (`Options::workers`) before accepting, each with \
           thread::Builder::spawn, and let the main thread be the acceptor; never start a \
           thread for a connection, and never fork",
    book: "thread-pool.md#a-fixed-set-of-workers",
    limit: LIMIT,
    run: |ctx| {
        let server = start_pool(ctx)?;
        pool_started(&server)?;
        // Whether they are served is for the other checks to say: here, only that the
        // threads do not follow the connections.
        let _first = waiting(&server, 1..=WORKERS)?;
        pool_holds(&server, "with 3 clients connected, each having sent a line")?;
        let _more = waiting(&server, WORKERS + 1..=3 * WORKERS)?;
        pool_holds(&server, "with 9 clients connected, each having sent a line").map_err(|v| {
            v.context(
                "(the clients beyond the pool wait, in the queue or in the listen backlog; \
                 none gets a thread of its own)",
            )
        })
    },
};

pub static SERVES_N_AT_ONCE: Check = Check {
    id: "serves-n-at-once",
    category: Category::Concurrency,
    points: 10,
    summary: "started with `--workers 3`: 3 clients that stay connected are all served, \
              whichever speaks first",
    hint: "let go of the queue's lock as soon as a connection is taken, before serving it: \
           `while let Ok(s) = rx.lock().unwrap().recv()` holds the guard for the whole loop \
           body, so the other workers cannot take a connection until this one ends",
    book: "thread-pool.md#taking-a-connection-from-the-queue",
    limit: LIMIT,
    run: |ctx| {
        let server = start_pool(ctx)?;
        pool_started(&server)?;
        let mut clients: Vec<Client> = Vec::new();
        for i in 1..=WORKERS {
            let mut client = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
            client
                .echo(format!("client {i} is served beside the others\n").as_bytes())
                .map_err(|v| at_once(v, i))?;
            clients.push(client);
        }
        // The other way round now: the last to come speaks first.
        for client in clients.iter_mut().rev() {
            let line = format!("{} speaks again\n", client.name);
            client.echo(line.as_bytes()).map_err(|v| {
                v.context("all 3 clients had been served once and stayed connected")
            })?;
        }
        Ok(())
    },
};

/// The verdict when client `i` was not served while the clients before it stayed connected.
fn at_once(verdict: Verdict, i: usize) -> Verdict {
    let before = match i - 1 {
        0 => return verdict,
        1 => "client 1 stayed connected and idle after its echo".to_string(),
        n => format!("clients 1 to {n} stayed connected and idle after their echoes"),
    };
    Verdict::new(format!(
        "started with `--workers 3`, {before}, and then: {}. 3 workers serve 3 clients at \
         once; here client {i} waited while {} {} served",
        verdict.message,
        i - 1,
        if i == 2 { "other was" } else { "others were" }
    ))
}
