//! How connections end: the client's EOF, an over-long line, a reset.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::LIMIT;
use crate::contain::server::Server;
use crate::drive::client::{secs, show, Client, Ending, MARGIN, REPLY};
use crate::drive::traffic::{fill_until_blocked, lines_of};
use crate::rubric::check::{Category, Check};
use crate::rubric::diagnose::Explained;
use crate::verdict::{Outcome, Verdict};
use crate::{ensure, fail};

pub static HALF_CLOSE: Check = Check {
    id: "half-close",
    category: Category::Correctness,
    points: 10,
    summary: "after the client's EOF: the remaining echoes, the fragment dropped, then EOF",
    hint: "a read of 0 bytes means the client shut its write side: send what is still owed, \
           drop the unfinished fragment, and close the connection",
    book: "contract.md#the-end-of-a-connection",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut client = Client::connect(server.addr())?;
        let mut rng = ctx.rng(0);
        let expected = [&b"first\nsecond\n"[..], &rng.line(100)].concat();
        let fragment_len = 1 + rng.below(30);
        let fragment = rng.text(fragment_len);
        let sent = [&expected[..], &fragment].concat();
        client.send(&sent)?;
        client.shutdown_write()?;
        let (got, ending) = client.read_to_end(REPLY, expected.len() + MARGIN);
        // Judged while the client is still connected, for the diagnosis.
        let judged = || -> Outcome {
            ensure!(
                got == expected && ending == Ending::Eof,
                "sent {} and then EOF (shutdown of the write side); expected {} and then the \
                 server closing the connection, got {} {}",
                show(&sent),
                show(&expected),
                show(&got),
                match &ending {
                    Ending::Timeout => {
                        format!("and the connection stayed open for {}", secs(REPLY))
                    }
                    other => other.to_string(),
                }
            );
            Ok(())
        };
        judged().explained(&server)
    },
};

pub static TOO_LONG: Check = Check {
    id: "too-long",
    category: Category::Robustness,
    points: 10,
    summary:
        "an over-long line gets `ERR line too long` and a close; another client is still served",
    hint: "once 65,536 bytes have arrived without a `\\n`, send `ERR line too long\\n`, shut the \
           write side, drain the input briefly and close; never buffer without a bound",
    book: "contract.md#the-line-limit",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut long = Client::connect_with(server.addr(), None, "client 1")?;
        long.echo(b"a normal line first\n")?;
        let mut other = Client::connect_with(server.addr(), None, "client 2")?;
        over_long_line(&server, &mut long).explained(&server)?;
        drop(long);
        other
            .echo(b"still here\n")
            .map_err(|v| v.context("after client 1's over-long line was refused"))
    },
};

/// Sends an endless line on `client` (from another thread, up to 8 MiB) and expects
/// `ERR line too long\n` followed by EOF or a reset.
pub fn over_long_line(server: &Server, client: &mut Client) -> Outcome {
    const SEND_AT_MOST: usize = 8 << 20;
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = client
        .stream()
        .try_clone()
        .map_err(|e| Verdict::new(format!("cannot clone a socket: {e}")))?;
    let writer_stop = stop.clone();
    let sender = std::thread::spawn(move || {
        use std::io::Write;
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        let _ = writer.set_write_timeout(Some(Duration::from_millis(100)));
        while sent < SEND_AT_MOST && !writer_stop.load(Ordering::Relaxed) {
            match writer.write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                // EPIPE or ECONNRESET: the server has closed, as it may after the ERR line.
                Err(_) => break,
            }
        }
        sent
    });
    let (got, ending) = client.read_to_end(
        Duration::from_secs(6),
        workbook_kit::TOO_LONG.len() + MARGIN,
    );
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap_or(0);
    let expected = workbook_kit::TOO_LONG;
    if got == expected && matches!(ending, Ending::Eof | Ending::Reset) {
        return Ok(());
    }
    let after = format!(
        "{} sent {} bytes without a newline (the limit is 65,536 including it)",
        client.name, sent
    );
    if got.is_empty() && ending == Ending::Timeout {
        let rss = server.tree().iter().map(|p| p.rss_kib).sum::<u64>();
        fail!(
            "{after}; expected {}, then a close, but nothing came back within 6 s \
             (the server's resident memory is now {} MiB: is it buffering the line without a bound?)",
            show(expected),
            rss / 1024
        );
    }
    fail!(
        "{after}; expected {} and then a close, got {} {}",
        show(expected),
        show(&got),
        ending
    )
}

pub static RESET: Check = Check {
    id: "reset",
    category: Category::Robustness,
    points: 10,
    summary: "clients that reset mid-line or with echoes pending do not take the server down",
    hint: "a read or write on a reset connection fails with ECONNRESET or EPIPE: end that \
           connection only (no unwrap, and a C server must not die of SIGPIPE)",
    book: "contract.md#the-end-of-a-connection",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        for i in 1..=5 {
            let mut client = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
            client.send(b"half a line, then a reset")?;
            client.reset();
        }
        // A client that never reads its echoes, so that the server is blocked writing (or
        // holds pending output) when the reset comes.
        let hog = Client::connect_with(server.addr(), Some(4096), "client 6")?;
        fill_until_blocked(&hog, &lines_of(16 << 20, 3));
        hog.reset();
        let mut last = Client::connect_with(server.addr(), None, "client 7")?;
        last.echo(b"anyone there?\n").map_err(|v| {
            v.context("after 5 clients reset mid-line and one reset with echoes pending")
        })
    },
};
