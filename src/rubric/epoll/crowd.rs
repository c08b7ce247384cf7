//! Many clients on one thread: the thread count, 1,000 clients, a burst of connects.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::reads::collect;
use super::{EPOLL, LIMIT};
use crate::contain::server::Server;
use crate::drive::client::{secs, show, Client, REPLY};
use crate::fail;
use crate::rubric::check::{Category, Check};
use crate::rubric::common;
use crate::rubric::diagnose::Explained;
use crate::verdict::{Outcome, Verdict};

pub static SINGLE_THREAD: Check = Check {
    id: "single-thread",
    category: Category::Concurrency,
    points: 10,
    summary: "one process and one thread throughout, also while 1,000 clients are connected",
    hint: "an epoll server serves every connection from one loop in its main thread: no fork, \
           no thread per connection, no pool",
    book: "epoll.md#one-thread-many-connections",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut first = Client::connect_with(server.addr(), None, "client 1")?;
        first.echo(b"count your threads\n")?;
        common::one_task(&server, "with 1 client connected", EPOLL)?;
        let mut clients = Vec::with_capacity(1000);
        for i in 2..=1000 {
            clients.push(Client::connect_with(
                server.addr(),
                None,
                &format!("client {i}"),
            )?);
            if i % 100 == 0 {
                common::one_task(&server, &format!("with {i} clients connected"), EPOLL)?;
            }
        }
        first
            .echo(b"still one thread?\n")
            .map_err(|v| v.context("with 1,000 clients connected"))?;
        common::one_task(
            &server,
            "with 1,000 clients connected, after client 1's second line",
            EPOLL,
        )
    },
};

pub static THOUSAND_CLIENTS: Check = Check {
    id: "thousand-clients",
    category: Category::Concurrency,
    points: 10,
    summary: "1,000 clients connected at once, each sending several lines, all echoed correctly",
    hint: "keep every connection in a map (by token) for as long as it is open: no fixed-size \
           table, no limit on connections below what the descriptor limit allows",
    book: "epoll.md#the-event-loop-step-by-step",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut clients = greeted(&server, 1, 1000, 0)?;
        let lines = |i: usize| -> Vec<u8> {
            (1..=4)
                .flat_map(|k| format!("client {i}, line {k} of 4\n").into_bytes())
                .collect()
        };
        for (i, client) in (1..).zip(clients.iter_mut()) {
            client.send(&lines(i))?;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (i, client) in (1..).zip(clients.iter_mut()) {
            let left = deadline.saturating_duration_since(Instant::now());
            client
                .expect(&lines(i), left.max(REPLY / 10))
                .map_err(|v| {
                    v.context(format!(
                        "with 1,000 clients connected, each sent 4 lines in one write, then all \
                     waited for their echoes; {}",
                        client.name
                    ))
                })
                .explained(&server)?;
        }
        Ok(())
    },
};

/// Connects clients `first..=last` one after another, each echoing a greeting before the next
/// connects (so none waits in the listen queue, whatever the server's accept loop does).
/// `already` clients are connected before the first.
pub(crate) fn greeted(
    server: &Server,
    first: usize,
    last: usize,
    already: usize,
) -> Result<Vec<Client>, Verdict> {
    let mut clients = Vec::with_capacity(last + 1 - first);
    greet_into(&mut clients, server, first, last, already)?;
    Ok(clients)
}

/// [`greeted`], adding the clients to `clients` as they connect: when one fails, the others
/// are still connected, so that what the server is doing with them can still be seen.
pub(crate) fn greet_into(
    clients: &mut Vec<Client>,
    server: &Server,
    first: usize,
    last: usize,
    already: usize,
) -> Outcome {
    for i in first..=last {
        let mut client = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
        let others = already + i - first;
        client
            .echo(format!("client {i} says hello\n").as_bytes())
            .map_err(|v| v.context(format!("with {others} other clients connected")))?;
        clients.push(client);
    }
    Ok(())
}

pub static ACCEPT_BURST: Check = Check {
    id: "accept-burst",
    category: Category::Concurrency,
    points: 5,
    summary: "200 connections queued at once are all accepted promptly",
    hint: "when the listener is ready, accept in a loop until accept says WouldBlock: one \
           accept per wakeup leaves the rest of the queue waiting (for ever, with EPOLLET)",
    book: "epoll.md#accepting-a-burst",
    limit: LIMIT,
    run: |ctx| {
        const CLIENTS: usize = 200;
        let server = ctx.start()?;
        Client::connect(server.addr())?.echo(b"warming up\n")?;
        // The burst arrives while the server cannot run (as if busy with other work): the
        // kernel completes every handshake and queues all 200 for accept.
        server.signal(Signal::SIGSTOP);
        let clients = Client::connect_many(server.addr(), CLIENTS);
        server.signal(Signal::SIGCONT);
        let mut clients = clients?;
        let lines: Vec<Vec<u8>> = (1..=CLIENTS)
            .map(|i| format!("client {i} of the burst\n").into_bytes())
            .collect();
        for (client, line) in clients.iter_mut().zip(&lines) {
            client.send(line)?;
        }
        let expected: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        let within = Duration::from_secs(2);
        let got = collect(&mut clients, &expected, within);
        let unserved: Vec<usize> = (0..CLIENTS).filter(|&i| got[i] != lines[i]).collect();
        if let Some(&first) = unserved.first() {
            fail!(
                "200 clients connected while the server was paused (as if busy), then each sent \
                 a line; {} of them got no correct echo within {} (the first was client {}, \
                 which got {}): their connections were left waiting in the listen queue",
                unserved.len(),
                secs(within),
                first + 1,
                show(&got[first])
            );
        }
        Ok(())
    },
};
