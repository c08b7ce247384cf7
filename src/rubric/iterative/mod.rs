//! The iterative server's own checks. Book: `book/src/iterative.md`.

use std::time::Duration;

use crate::drive::client::Client;
use crate::rubric::check::{Category, Check};
use crate::rubric::common;

/// The iterative rubric: the shared checks, then this architecture's.
pub fn rubric() -> Vec<&'static Check> {
    let mut checks = common::rubric();
    checks.extend([&SINGLE_PROCESS, &QUEUED_CLIENT]);
    checks
}

pub static SINGLE_PROCESS: Check = Check {
    id: "single-process",
    category: Category::Concurrency,
    points: 10,
    summary: "one process and one thread throughout, also while clients come and go",
    hint: "the iterative server serves connections one after another in its main thread: no \
           fork, no thread::spawn",
    book: "iterative.md#one-loop-one-client-at-a-time",
    limit: Duration::from_secs(20),
    run: |ctx| {
        let server = ctx.start()?;
        for i in 1..=5 {
            let mut client = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
            client.echo(b"count your threads\n")?;
            common::one_task(
                &server,
                &format!("while client {i} was connected"),
                "an iterative server has exactly one of each",
            )?;
        }
        Ok(())
    },
};

pub static QUEUED_CLIENT: Check = Check {
    id: "queued-client",
    category: Category::Concurrency,
    points: 5,
    summary: "a client that connects while another is served is served once the first leaves",
    hint: "the second connection waits in the kernel's backlog: keep calling accept after each \
           connection ends, and never close a connection you have not served",
    book: "iterative.md#the-backlog",
    limit: Duration::from_secs(20),
    run: |ctx| {
        let server = ctx.start()?;
        let mut first = Client::connect_with(server.addr(), None, "client 1")?;
        first.echo(b"first in line\n")?;
        let mut second = Client::connect_with(server.addr(), None, "client 2")?;
        second.send(b"second in line\n")?;
        // Client 1 is served once more with client 2 waiting: a server that turns newcomers
        // away has seen it by then, whatever the timing.
        first
            .echo(b"still first in line\n")
            .map_err(|v| v.context("after client 2 connected"))?;
        drop(first);
        second
            .expect(b"second in line\n", Duration::from_secs(5))
            .map_err(|v| {
                v.context(
                    "client 2 connected while client 1 was served, then client 1 sent another \
                     line and left",
                )
            })
    },
};
