//! Resources: memory per idle connection, closed peers, running out of descriptors.

use std::thread;
use std::time::{Duration, Instant};

use super::crowd::greeted;
use super::writes::rss_kib;
use super::{fds, settle, LIMIT};
use crate::drive::client::{secs, Client};
use crate::rubric::check::{Category, Check, Ctx};
use crate::rubric::common::{self, Held};
use crate::rubric::diagnose;
use crate::verdict::Outcome;
use crate::{ensure, fail};

pub static IDLE_MEMORY: Check = Check {
    id: "idle-memory",
    category: Category::Resources,
    points: 5,
    summary: "1,000 idle connections cost at most 16 KiB of resident memory each",
    hint: "an idle connection needs no buffer: read into one scratch buffer for all, and give a \
           connection memory only while it holds an unfinished line or unsent output",
    book: "epoll.md#memory-per-connection",
    limit: LIMIT,
    run: |ctx| idle_memory(ctx, 16, false),
};

/// The body of every `idle-memory` check: 1,000 clients connect (each served one line
/// first, if `served`), then stay idle, and the server's resident memory may grow by at most
/// `limit_kib` KiB per connection.
pub(crate) fn idle_memory(ctx: &Ctx, limit_kib: u64, served: bool) -> Outcome {
    const CLIENTS: usize = 1000;
    let server = ctx.start()?;
    let mut first = Client::connect(server.addr())?;
    first.echo(b"measure me\n")?;
    let fds_before = fds(&server)?;
    let rss_before = rss_kib(&server);
    let clients = if served {
        greeted(&server, 2, CLIENTS + 1, 1)?
    } else {
        Client::connect_many(server.addr(), CLIENTS)?
    };
    // Wait until the server has taken them all (or stopped taking more), then until its
    // memory stops changing.
    let held = settle(
        || fds(&server).map(|n| n.saturating_sub(fds_before)),
        CLIENTS,
    )?;
    let rss = settle(|| Ok(rss_kib(&server) as usize), usize::MAX)?;
    drop(clients);
    ensure!(
        held > 0,
        "1,000 clients connected, but the server's descriptors did not grow within 3 s: it \
         did not accept them"
    );
    let grown = (rss as u64).saturating_sub(rss_before);
    let clients = if served {
        "1,000 clients connected, were served a line each, and stayed idle"
    } else {
        "1,000 idle clients connected"
    };
    // In bytes: a limit of 1 KiB is too fine for whole KiB.
    let each = grown * 1024 / held as u64;
    ensure!(
        each <= limit_kib * 1024,
        "{clients} (the server holds {held} of them) and the server's resident memory grew \
         by {grown} KiB: {:.1} KiB per connection, over the {limit_kib} KiB allowed",
        each as f64 / 1024.0
    );
    Ok(())
}

pub static CLOSED_PEERS: Check = Check {
    id: "closed-peers",
    category: Category::Resources,
    points: 5,
    summary:
        "after 1,000 clients leave (closing, resetting, mid-line), descriptors are back at baseline",
    hint: "whenever a connection ends (EOF, or a read or write error such as a reset), remove \
           it from the epoll set and from your map, so that its socket is closed",
    book: "epoll.md#closing-connections",
    limit: LIMIT,
    run: closed_peers,
};

fn closed_peers(ctx: &Ctx) -> Outcome {
    let server = ctx.start()?;
    let mut first = Client::connect(server.addr())?;
    first.echo(b"count the descriptors\n")?;
    let before = Held::now(&server)?;
    for batch in 0..5 {
        let clients = greeted(&server, batch * 200 + 1, batch * 200 + 200, 1)?;
        for (i, mut client) in clients.into_iter().enumerate() {
            if i % 4 >= 2 {
                client.send(b"half a line")?;
            }
            if i % 2 == 1 {
                client.reset();
            }
        }
    }
    // A correct server is back in milliseconds; the margin is for a machine so busy that its
    // loop waits for a CPU (seen: 4 descriptors still open after 3 s, with a dozen gradings
    // beside it).
    let margin = Duration::from_secs(10);
    let deadline = Instant::now() + margin;
    loop {
        let now = Held::now(&server)?;
        if now.back(&before) {
            return Ok(());
        }
        if Instant::now() > deadline {
            fail!(
                "with one client connected, then 1,000 more clients coming and going, 200 at a \
                 time (half closed normally, half reset the connection, half of each in the \
                 middle of a line), {} after the last one left the server had {}",
                secs(margin),
                now.leak(&before, &server)
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
}

pub static EMFILE: Check = Check {
    id: "emfile",
    category: Category::Robustness,
    points: 5,
    summary: "out of descriptors (limit 64, 101 clients), it neither dies nor spins, and recovers",
    hint: "when accept fails with EMFILE the connection stays queued and a level-triggered \
           listener stays ready: close a spare descriptor, accept and close the connection, \
           reopen the spare (or stop watching the listener for a moment); never just retry",
    book: "epoll.md#running-out-of-descriptors",
    limit: LIMIT,
    // A loop can spin for another reason than the accept: it may ask for what it will not
    // act on.
    run: |ctx| common::out_of_descriptors(ctx, diagnose::idle_epollout),
};
