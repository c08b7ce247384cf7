//! Partial writes and backpressure: slow readers and readers that never read.

use std::io::Write;
use std::net::Shutdown;
use std::thread;
use std::time::{Duration, Instant};

use super::loops::same_loop;
use super::reads::difference;
use super::LIMIT;
use crate::contain::server::Server;
use crate::drive::client::{secs, show, Client};
use crate::drive::random::Rng;
use crate::ensure;
use crate::rubric::check::{Category, Check, Ctx};
use crate::rubric::diagnose::{self, Explained};
use crate::verdict::{Outcome, Verdict};

pub static PARTIAL_WRITES: Check = Check {
    id: "partial-writes",
    category: Category::Concurrency,
    points: 10,
    summary:
        "a client that reads nothing for 2 s gets all 8 MiB later; others are served meanwhile",
    hint: "a non-blocking write may take only part of the bytes: keep the rest in that \
           connection's output buffer, ask epoll for EPOLLOUT, and send it when the socket is \
           writable; never block (or spin) waiting for one client",
    book: "epoll.md#partial-writes",
    limit: LIMIT,
    run: |ctx| {
        const PAUSE: Duration = Duration::from_secs(2);
        // Far below the 2 s a blocking server would keep client B waiting, and wide enough
        // for a machine loaded well past its two cores (200 ms failed once in 50 gradings
        // there).
        const WITHIN: Duration = Duration::from_millis(500);
        let server = ctx.start()?;
        let mut slow = Client::connect_with(server.addr(), Some(4096), "client A")?;
        slow.echo(b"I will read slowly\n")?;
        // On client A's loop: another loop would answer B however stuck A's loop is.
        let mut other = same_loop(&server, &slow, "client B")?;
        other.echo(b"I read at once\n")?;
        let data = long_lines(8 << 20, 11);
        let writer = Writer::start(&slow, data.clone(), data.len(), Duration::from_secs(15))?;
        let begun = Instant::now();
        if let Err(miss) = keep_asking(&mut other, PAUSE, WITHIN, || ()) {
            writer.stop();
            let what = if miss.got.is_empty() {
                format!(
                    "nothing came back within {}: one client that does not read must not hold \
                     up the others",
                    secs(WITHIN)
                )
            } else {
                difference(&miss.line, &miss.got)
            };
            return Err(Verdict::new(format!(
                "client A sent 8 MiB of lines (from another thread) and read none of the \
                 echoes yet; {:.1} s later, client B sent {}; {what}",
                miss.at.duration_since(begun).as_secs_f64(),
                show(&miss.line),
            )))
            .explained(&server);
        }
        let (got, ending) = slow.read_exact_within(data.len(), Duration::from_secs(6));
        // Diagnosed before the writer stops: the end of stream it sends could make the
        // server read what it had left unread.
        let cause = (got != data).then(|| diagnose::cause(&server)).flatten();
        let sent = writer.stop();
        if got != data {
            return Err(Verdict::new(format!(
                "client A sent 8 MiB of lines ({sent} bytes had been taken when it stopped \
                 sending) and read none of the echoes for 2 s, then read them; {} ({ending})",
                difference(&data, &got)
            ))
            .because(cause));
        }
        Ok(())
    },
};

/// A line of [`keep_asking`]'s that did not come back in time.
pub(crate) struct Miss {
    /// When it was sent.
    pub at: Instant,
    pub line: Vec<u8>,
    /// What came back instead, within the time allowed.
    pub got: Vec<u8>,
}

/// Has `client` send a numbered line (`"client B's line 1\n"`, ...) every 100 ms or so for
/// `during`, each to be echoed within `within`, calling `between` after each echo: whether a
/// client is still served while something else holds the server (or one of its loops) up.
pub(crate) fn keep_asking(
    client: &mut Client,
    during: Duration,
    within: Duration,
    mut between: impl FnMut(),
) -> Result<(), Miss> {
    let begun = Instant::now();
    let mut probe = 0;
    while begun.elapsed() < during {
        probe += 1;
        let line = format!("{}'s line {probe}\n", client.name).into_bytes();
        let at = Instant::now();
        // A failed send shows as nothing coming back.
        let _ = client.send(&line);
        let (got, _) = client.read_exact_within(line.len(), within);
        if got != line {
            return Err(Miss { at, line, got });
        }
        between();
        thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// `len` bytes of long lines (1,000 to 4,000 bytes), numbered, reproducible from `seed`.
///
/// Long lines make it near certain that a read ends inside a line.
pub(super) fn long_lines(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(len);
    let mut n = 0;
    while out.len() < len {
        n += 1;
        let start = out.len();
        write!(out, "line {n:06} ").expect("writing to a Vec cannot fail");
        let body = 1000 + rng.below(3000);
        out.extend((0..body).map(|j| b'a' + ((n + j) % 26) as u8));
        out.push(b'\n');
        if out.len() > len {
            out.truncate(start);
            out.extend(std::iter::repeat_n(b'.', len - start - 1));
            out.push(b'\n');
        }
    }
    out
}

/// Sends bytes on a clone of a client's socket from another thread.
pub(super) struct Writer {
    stream: std::net::TcpStream,
    thread: thread::JoinHandle<usize>,
}

impl Writer {
    /// Starts sending `data` over and over until `total` bytes are sent; each write may block
    /// at most `patience`, then sending stops.
    fn start(
        client: &Client,
        data: Vec<u8>,
        total: usize,
        patience: Duration,
    ) -> Result<Writer, Verdict> {
        // Bytes per write: no divisor of anything in sight, so that writes (and so, often,
        // the server's reads) end at arbitrary points of the lines, not at their ends.
        const PIECE: usize = 40_000;
        let clone = |c: &Client| {
            c.stream()
                .try_clone()
                .map_err(|e| Verdict::new(format!("cannot clone a socket: {e}")))
        };
        let mut stream = clone(client)?;
        let ours = clone(client)?;
        let thread = thread::Builder::new()
            .name("epoll-writer".into())
            .spawn(move || {
                let _ = stream.set_write_timeout(Some(patience));
                // Twice over if sent more than once, so that a piece may run on from the end
                // into the start.
                let len = data.len();
                let cycle = if total > len { data.repeat(2) } else { data };
                let mut sent = 0;
                while sent < total {
                    let at = sent % len;
                    let piece = &cycle[at..at + PIECE.min(len).min(total - sent)];
                    // An error is a timeout (the server stopped reading) or the end of the
                    // connection: either way, stop sending.
                    if stream.write_all(piece).is_err() {
                        break;
                    }
                    sent += piece.len();
                }
                sent
            })
            .map_err(|e| Verdict::new(format!("the grader cannot start a thread: {e}")))?;
        Ok(Writer {
            stream: ours,
            thread,
        })
    }

    /// Stops sending (shutting the socket's write side) and returns the bytes sent.
    fn stop(self) -> usize {
        let _ = self.stream.shutdown(Shutdown::Write);
        self.thread.join().unwrap_or(0)
    }
}

pub static BACKPRESSURE: Check = Check {
    id: "backpressure",
    category: Category::Resources,
    points: 10,
    summary: "a client that sends 64 MiB and reads nothing grows the server by at most 16 MiB",
    hint: "stop reading from a connection (drop EPOLLIN from its interest) while its pending \
           output is over a bound, and resume once it has taken some: the kernel's buffers then \
           fill, and the client's own writes block",
    book: "epoll.md#backpressure",
    limit: LIMIT,
    run: backpressure,
};

/// The body of `backpressure`, shared with every architecture that may buffer a client's
/// echoes (each has its own `Check` around it, with its own hint): client A sends 64 MiB of
/// lines and reads nothing; the server may grow by at most 16 MiB, and client B must still be
/// served.
pub(crate) fn backpressure(ctx: &Ctx) -> Outcome {
    const LIMIT_MIB: u64 = 16;
    let server = ctx.start()?;
    let mut hog = Client::connect_with(server.addr(), None, "client A")?;
    hog.echo(b"I will never read again\n")?;
    // On client A's loop, as in `partial-writes`.
    let mut other = same_loop(&server, &hog, "client B")?;
    other.echo(b"before the flood\n")?;
    let baseline = rss_kib(&server);
    let lines = long_lines(64 * 1024, 5);
    let writer = Writer::start(&hog, lines, 64 << 20, Duration::from_millis(500))?;
    let begun = Instant::now();
    let mut peak = baseline;
    // Until the writer is stuck (the server stopped reading) or done, then a little
    // longer for what is still in the socket buffers.
    let mut settle = None;
    while settle.is_none_or(|t: Instant| t.elapsed() < Duration::from_millis(300)) {
        peak = peak.max(rss_kib(&server));
        if settle.is_none()
            && (writer.thread.is_finished() || begun.elapsed() > Duration::from_secs(5))
        {
            settle = Some(Instant::now());
        }
        thread::sleep(Duration::from_millis(10));
    }
    let sent = writer.stop();
    let grown = peak.saturating_sub(baseline);
    ensure!(
        grown <= LIMIT_MIB * 1024,
        "client A sent {} MiB of lines and read none of the echoes; meanwhile the \
         server's resident memory grew by {} MiB (at most {LIMIT_MIB} MiB is allowed): it \
         kept reading from a client whose echoes pile up",
        sent >> 20,
        grown / 1024
    );
    other.echo(b"am I still served?\n").map_err(|v| {
        v.context(format!(
            "after client A sent {} MiB of lines and read none of the echoes",
            sent >> 20
        ))
    })
}

/// The server's resident memory (all its processes), in KiB.
pub(super) fn rss_kib(server: &Server) -> u64 {
    server.tree().iter().map(|p| p.rss_kib).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_have_the_asked_length() {
        let data = long_lines(1 << 20, 3);
        assert_eq!(data.len(), 1 << 20);
        assert_eq!(data.last(), Some(&b'\n'));
        assert!(data.split(|&b| b == b'\n').all(|l| l.len() < 4100));
    }
}
