//! The server's own life: it ends on SIGTERM, and its descriptors return to their baseline.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::LIMIT;
use crate::contain::server::Server;
use crate::drive::client::Client;
use crate::rubric::check::{Category, Check};
use crate::rubric::common::Held;
use crate::verdict::{Outcome, Verdict};
use crate::{ensure, fail};

pub static SIGTERM: Check = Check {
    id: "sigterm",
    category: Category::Robustness,
    points: 5,
    summary: "SIGTERM and SIGINT end the server within 2 s",
    hint: "leave SIGTERM and SIGINT at their default action, or make your handler end the \
           server promptly; never ignore them",
    book: "contract.md#stopping",
    limit: LIMIT,
    run: |ctx| {
        for signal in [Signal::SIGTERM, Signal::SIGINT] {
            let server = ctx.start()?;
            Client::connect(server.addr())?.echo(b"before the signal\n")?;
            // /proc, not only the shepherd's report, which lags by a tick.
            let gone = crate::probe::procfs::read(server.pid()).is_none_or(|p| p.is_zombie());
            if gone || server.exit().is_some() {
                fail!(
                    "the server's main process had already ended while its clients were \
                     still served: a server must stay in the foreground, not daemonize"
                );
            }
            server.signal(signal);
            // A server that stopped itself must wake up to act on the signal.
            server.signal(Signal::SIGCONT);
            ensure!(
                server.wait_exit(Duration::from_secs(2)).is_some(),
                "the server was still running 2 s after {}",
                signal.as_str()
            );
        }
        Ok(())
    },
};

pub static DESCRIPTORS: Check = Check {
    id: "descriptors",
    category: Category::Resources,
    points: 10,
    summary: "after 20 clients come and go, the server's descriptors are back at their baseline",
    hint: "close each client's socket when its connection ends (in Rust: let the TcpStream \
           drop); a forking parent must drop its copy right after fork",
    book: "contract.md#the-end-of-a-connection",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        fd_leak_after(&server, 20, |addr, i| {
            let mut client = Client::connect_with(addr, None, &format!("client {i}"))?;
            client.echo(format!("client {i} says hello\n").as_bytes())
        })
    },
};

/// Runs `n` clients one after another (each must finish its own exchange) and fails unless
/// the server is back at its baseline within 3 s: no more connection sockets, and its other
/// descriptors within what its threads explain ([`Held`]).
///
/// The baseline is taken after a first client has come and gone, so that whatever a server
/// sets up lazily (an epoll instance, a log file) counts as baseline, not as a leak.
pub fn fd_leak_after(
    server: &Server,
    n: usize,
    client: impl Fn(std::net::SocketAddr, usize) -> Outcome,
) -> Outcome {
    client(server.addr(), 0)?;
    let baseline = settled(server)?;
    for i in 1..=n {
        client(server.addr(), i)?;
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let now = Held::now(server)?;
        if now.back(&baseline) {
            return Ok(());
        }
        if Instant::now() > deadline {
            fail!(
                "{n} clients came and went, and 3 s after the last one left the server had {}",
                now.leak(&baseline, server)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The server's descriptors once their count has stopped changing (it may still be closing
/// the warm-up connection).
fn settled(server: &Server) -> Result<Held, Verdict> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut last = usize::MAX;
    let mut steady = 0;
    loop {
        let now = Held::now(server)?;
        let count = now.total();
        steady = if count == last { steady + 1 } else { 0 };
        last = count;
        if steady >= 5 || Instant::now() > deadline {
            return Ok(now);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
