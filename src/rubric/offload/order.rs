//! Order: a connection's echoes leave in the order of its lines, whichever worker finishes
//! first.

use std::time::Duration;

use super::{work_began, LIMIT};
use crate::contain::server::Server;
use crate::drive::client::Client;
use crate::fail;
use crate::rubric::check::{Category, Check};
use crate::rubric::epoll::{collect, difference, greeted};
use crate::verdict::Outcome;

pub static LINE_ORDER: Check = Check {
    id: "line-order",
    category: Category::Correctness,
    points: 10,
    summary: "with 4 workers, each connection's echoes come back in the order of its lines",
    hint: "workers finish in any order: a job of eight lines started first ends after a job of \
           one started next. Send a connection's echoes in the order its lines came, however \
           the work went: give it one job at a time (hold its reading until the echo is \
           back), or number its jobs and send each echo only after those before it",
    book: "offload.md#order",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start_options(&["--workers", "4", "--work", "5000"])?;
        let mut client = Client::connect_with(server.addr(), None, "client 1")?;
        client.echo(b"client 1 says hello\n")?;
        for round in 1..=4 {
            eight_then_one(&server, &mut client, round)?;
        }
        one_line_per_write(&server)
    },
};

/// Client 1 sends 8 lines in one write and, once the server works on them, a 9th: a server
/// that hands each read's lines to the next free worker and echoes whatever finishes first
/// sends the 9th line first, since one line's work ends long before eight lines'.
fn eight_then_one(server: &Server, client: &mut Client, round: usize) -> Outcome {
    let line = |k: usize| format!("round {round}, line {k} of 9\n").into_bytes();
    let eight: Vec<u8> = (1..=8).flat_map(line).collect();
    let story = format!(
        "client 1 sent 8 lines in one write (5 ms of CPU each: --work 5000, --workers 4), \
         round {round} of 4"
    );
    let before = server.cpu_ns();
    client.send(&eight)?;
    work_began(server, before, 2_000_000, &story)?;
    client.send(&line(9))?;
    let expected = [eight, line(9)].concat();
    let (got, ending) = client.read_exact_within(expected.len(), Duration::from_secs(5));
    if got != expected {
        fail!(
            "{story}, and once the server had begun working on them, a 9th line; {} ({ending}): \
             echoes must leave in the order of their lines, whichever worker finishes first",
            difference(&expected, &got)
        );
    }
    Ok(())
}

/// 4 more clients send 24 lines each, one line per write, interleaved: many small jobs of
/// each connection in the pool at once, for a server that allows that.
fn one_line_per_write(server: &Server) -> Outcome {
    const CLIENTS: usize = 4;
    let mut clients = greeted(server, 2, CLIENTS + 1, 1)?;
    let lines: Vec<Vec<Vec<u8>>> = (2..=CLIENTS + 1)
        .map(|i| {
            (1..=24)
                .map(|k| format!("client {i}, line {k} of 24\n").into_bytes())
                .collect()
        })
        .collect();
    for k in 0..24 {
        for (client, lines) in clients.iter_mut().zip(&lines) {
            client.send(&lines[k])?;
        }
    }
    let expected: Vec<Vec<u8>> = lines.iter().map(|l| l.concat()).collect();
    let wanted: Vec<&[u8]> = expected.iter().map(Vec::as_slice).collect();
    let got = collect(&mut clients, &wanted, Duration::from_secs(10));
    for (i, got) in got.iter().enumerate() {
        if *got != expected[i] {
            fail!(
                "4 clients sent 24 lines each, one line per write, interleaved (5 ms of CPU \
                 each: --work 5000, --workers 4); client {}'s {}: echoes must leave in the \
                 order of their lines, whichever worker finishes first",
                i + 2,
                difference(&expected[i], got)
            );
        }
    }
    Ok(())
}
