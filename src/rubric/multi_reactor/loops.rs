//! How many loops, whose connections: the gate (`--workers N` loops, each on its own thread),
//! every connection in exactly one loop, and a fair share of 1,000 clients in each.

use std::time::Duration;

use super::LIMIT;
use crate::drive::client::Client;
use crate::probe::epoll::Instance;
use crate::probe::settle::poll;
use crate::probe::sockets::Table;
use crate::rubric::check::{Category, Check, Ctx};
use crate::rubric::epoll::greeted;
use crate::rubric::epoll::loops::{loops, loops_of, SEVERAL};
use crate::verdict::Outcome;
use crate::{ensure, fail};

pub static LOOPS: Check = Check {
    id: "loops",
    category: Category::Concurrency,
    points: 10,
    summary: "`--workers 3` runs 3 event loops (epoll instances), `--workers 5` runs 5, each on \
              a thread of its own",
    hint: "start one event loop per worker (`Options::workers`), each on a thread of its own \
           that creates its own epoll instance and waits on it: not one loop for all, and not \
           several loops taking turns on one thread",
    book: "multi-reactor.md#one-loop-per-core",
    limit: LIMIT,
    run: |ctx| {
        for workers in [3, 5] {
            count_loops(ctx, workers)?;
        }
        Ok(())
    },
};

/// Starts the server with `--workers n` and fails unless it has `n` epoll instances and at
/// least `n` threads.
fn count_loops(ctx: &Ctx, n: usize) -> Outcome {
    let server = ctx.start_options(&["--workers", &n.to_string()])?;
    Client::connect(server.addr())?.echo(b"how many loops?\n")?;
    // The loops may still be starting: wait for the n-th instance and the n-th thread,
    // within 2 s. Either may come first (a server may make its instances before it starts
    // their threads).
    let threads = || -> usize { server.tree().iter().map(|p| p.threads).sum() };
    let (found, threads) = poll(Duration::from_secs(2), || {
        let (found, threads) = (loops(&server), threads());
        (found.len() == n && threads >= n).then_some((found, threads))
    })
    .unwrap_or_else(|| (loops(&server), threads()));
    ensure!(
        found.len() == n,
        "started with `--workers {n}` and one client served, the server had {}: a \
         multi-reactor runs one event loop, with an epoll instance of its own, per worker",
        instances(found.len())
    );
    ensure!(
        threads >= n,
        "started with `--workers {n}`, the server had {n} epoll instances but {threads} \
         thread(s): loops that share a thread take turns, so while one works the others wait"
    );
    Ok(())
}

/// "3 epoll instances", "no epoll instance".
fn instances(n: usize) -> String {
    match n {
        0 => "no epoll instance".to_string(),
        1 => "1 epoll instance".to_string(),
        n => format!("{n} epoll instances"),
    }
}

/// "descriptors 5 and 8" (of the epoll instances at `at` in `all`).
fn descriptors(all: &[Instance], at: &[usize]) -> String {
    let fds: Vec<String> = at.iter().map(|&i| all[i].fd.to_string()).collect();
    format!("descriptor(s) {}", fds.join(", "))
}

pub static OWN_CONNECTIONS: Check = Check {
    id: "own-connections",
    category: Category::Concurrency,
    points: 10,
    summary: "with 3 loops and 60 clients served, every connection is watched by exactly one \
              loop's epoll instance",
    hint: "hand each accepted connection to one loop only, and register it only in that \
           loop's epoll instance: a connection in two loops is read and written by both, in \
           no agreed order",
    book: "multi-reactor.md#how-connections-reach-the-loops",
    limit: LIMIT,
    run: |ctx| {
        const CLIENTS: usize = 60;
        let server = ctx.start_options(&["--workers", "3"])?;
        let clients = greeted(&server, 1, CLIENTS, 0)?;
        let (all, table) = (loops(&server), Table::read(server.addr().port()));
        for client in &clients {
            let at = loops_of(&all, &table, &server, client);
            match at.len() {
                1 => {}
                0 => fail!(
                    "with 3 loops and {CLIENTS} clients served, {}'s connection was watched by \
                     none of the server's {}: each connection belongs to one loop, which \
                     watches it for as long as it is open",
                    client.name,
                    instances(all.len())
                ),
                k => fail!(
                    "with 3 loops and {CLIENTS} clients served, {}'s connection was watched by \
                     {k} epoll instances ({}): it is in {k} loops, and each of them reads its \
                     bytes and writes its echoes",
                    client.name,
                    descriptors(&all, &at)
                ),
            }
        }
        Ok(())
    },
};

pub static FAIR_SHARE: Check = Check {
    id: "fair-share",
    category: Category::Concurrency,
    points: 10,
    summary: "1,000 clients over 3 loops: every loop holds between 2/3 and 4/3 of an even share \
              (222 to 444)",
    hint: "deal new connections over every loop: SO_REUSEPORT listeners, one per loop, let the \
           kernel deal them; an acceptor deals them itself (round robin). A loop that never \
           gets a connection only costs a thread",
    book: "multi-reactor.md#fair-shares",
    limit: LIMIT,
    run: |ctx| {
        const CLIENTS: usize = 1000;
        let server = ctx.start_options(&["--workers", "3"])?;
        let clients = greeted(&server, 1, CLIENTS, 0)?;
        let (all, table) = (loops(&server), Table::read(server.addr().port()));
        let mut held = vec![0; all.len()];
        let mut several = 0;
        for client in &clients {
            match loops_of(&all, &table, &server, client)[..] {
                [one] => held[one] += 1,
                [] => {}
                _ => several += 1,
            }
        }
        ensure!(
            several == 0,
            "1,000 clients connected one after another to the server started with `--workers \
             3`, and {several} of their connections were {SEVERAL}: a loop's share counts \
             the connections it alone serves"
        );
        // Dealt at random, a loop's share is binomial: 333 on average, give or take 15. The
        // bounds are more than 7 of those from the mean, missed by chance less than once in
        // a billion gradings; round robin is within 1 of the mean.
        let share = CLIENTS / all.len().max(1);
        let (low, high) = (share * 2 / 3, share * 4 / 3);
        let unfair = held.is_empty() || held.iter().any(|&h| h < low || h > high);
        // Largest first: which loop is which says nothing.
        held.sort_unstable_by(|a, b| b.cmp(a));
        ensure!(
            !unfair,
            "1,000 clients connected one after another to the server started with `--workers \
             3`, and its {} held {} of their connections: an even share is about {share} \
             each, and a fair one between {low} and {high}",
            instances(all.len()),
            list(&held)
        );
        Ok(())
    },
};

/// "500, 300 and 200".
fn list(numbers: &[usize]) -> String {
    let words: Vec<String> = numbers.iter().map(usize::to_string).collect();
    match words.split_last() {
        None => "none".to_string(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}
