//! The epoll architecture's own checks: one thread serving 1,000 clients, partial reads and
//! writes, backpressure, memory per connection, descriptors, and running out of them. Book:
//! `book/src/epoll.md`.
//!
//! Checks that need many clients served connect them one after another, each exchanging a
//! greeting before the next connects: that way only `accept-burst` depends on how a server
//! drains its listen queue, and every other check keeps its meaning whatever the server
//! does there.

use std::io::Write;
use std::net::{Shutdown, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::contain::server::Server;
use crate::contain::shepherd::Limits;
use crate::drive::client::{secs, show, Client, Ending, REPLY};
use crate::drive::random::Rng;
use crate::probe::procfs;
use crate::rubric::check::{Category, Check};
use crate::rubric::common;
use crate::verdict::Verdict;
use crate::{ensure, fail};

const LIMIT: Duration = Duration::from_secs(20);

/// The epoll rubric: the shared checks, then this architecture's.
pub fn rubric() -> Vec<&'static Check> {
    let mut checks = common::rubric();
    checks.extend([
        &SINGLE_THREAD,
        &THOUSAND_CLIENTS,
        &PARTIAL_READS,
        &ACCEPT_BURST,
        &PARTIAL_WRITES,
        &BACKPRESSURE,
        &IDLE_MEMORY,
        &CLOSED_PEERS,
        &EMFILE,
    ]);
    checks
}

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

/// What `single-thread` expects, for [`common::one_task`].
const EPOLL: &str = "an epoll server has exactly one of each, however many clients it serves";

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
                })?;
        }
        Ok(())
    },
};

/// Connects clients `first..=last` one after another, each echoing a greeting before the next
/// connects (so none waits in the listen queue, whatever the server's accept loop does).
/// `already` clients are connected before the first.
fn greeted(
    server: &Server,
    first: usize,
    last: usize,
    already: usize,
) -> Result<Vec<Client>, Verdict> {
    let mut clients = Vec::with_capacity(last + 1 - first);
    for i in first..=last {
        let mut client = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
        let others = already + i - first;
        client
            .echo(format!("client {i} says hello\n").as_bytes())
            .map_err(|v| v.context(format!("with {others} other clients connected")))?;
        clients.push(client);
    }
    Ok(clients)
}

pub static PARTIAL_READS: Check = Check {
    id: "partial-reads",
    category: Category::Correctness,
    points: 10,
    summary:
        "100 clients send lines in fragments and in bulk, interleaved; each gets its own lines",
    hint: "a read returns what has arrived: part of a line, or many lines. Keep each \
           connection's unfinished line in that connection's own buffer (never one buffer for \
           all), and answer every complete line a read brings",
    book: "epoll.md#partial-reads",
    limit: LIMIT,
    run: |ctx| {
        const CLIENTS: usize = 100;
        let server = ctx.start()?;
        let mut clients = greeted(&server, 1, CLIENTS, 0)?;
        let scripts: Vec<Script> = (1..=CLIENTS).map(Script::new).collect();
        let rounds = scripts.iter().map(|s| s.pieces.len()).max().unwrap_or(0);
        for round in 0..rounds {
            for (client, script) in clients.iter_mut().zip(&scripts) {
                if let Some(piece) = script.pieces.get(round) {
                    client.send(piece)?;
                }
            }
            // Pacing, not synchronisation: each round should reach the server as reads of
            // its own, so that unfinished lines of many clients are pending at once.
            thread::sleep(Duration::from_millis(2));
        }
        let expected: Vec<&[u8]> = scripts.iter().map(|s| s.data.as_slice()).collect();
        let got = collect(&mut clients, &expected, Duration::from_secs(3));
        let story = |i: usize| {
            format!(
                "client {} sent {} bytes of lines in {} writes (fragments of lines, and one \
                 write of many lines), interleaved with the writes of {} other clients",
                i + 1,
                expected[i].len(),
                scripts[i].pieces.len(),
                CLIENTS - 1
            )
        };
        // Bytes of one client in another's echo say the most: look for those first.
        for (i, got) in got.iter().enumerate() {
            if let Some((at, other)) = foreign_tag(got, i + 1) {
                let at = at.min(got.len());
                fail!(
                    "{}; its echo holds bytes that client {other} sent (from byte {at}: {}): \
                     the unfinished lines of different connections were mixed",
                    story(i),
                    show(&got[at..(at + 60).min(got.len())])
                );
            }
        }
        for (i, got) in got.iter().enumerate() {
            if got != expected[i] {
                fail!("{}; {}", story(i), difference(expected[i], got));
            }
        }
        Ok(())
    },
};

/// One client's lines for `partial-reads`, cut into the pieces it writes.
struct Script {
    data: Vec<u8>,
    pieces: Vec<Vec<u8>>,
}

impl Script {
    /// Client `i`'s lines, each tagged `cNNN:`, cut at reproducible pseudo-random points; one
    /// piece is a 12 KiB run of whole lines, more than a small read buffer takes at once.
    fn new(i: usize) -> Script {
        let mut rng = Rng::new(i as u64 * 7919 + 17);
        let tag = format!("c{i:03}:");
        let line = |k: usize, len: usize| -> Vec<u8> {
            let mut l = format!("{tag}{k:03} ").into_bytes();
            l.extend((0..len).map(|j| b'a' + ((i + k + j) % 26) as u8));
            l.push(b'\n');
            l
        };
        let mut k = 0;
        let mut next_lines = |rng: &mut Rng, count: usize, short: bool| -> Vec<u8> {
            (0..count)
                .flat_map(|_| {
                    k += 1;
                    let len = if short {
                        rng.below(40)
                    } else {
                        rng.below(3000)
                    };
                    line(k, len)
                })
                .collect()
        };
        let head = next_lines(&mut rng, 6, false);
        let mut bulk = Vec::new();
        while bulk.len() < 12 * 1024 {
            bulk.extend(next_lines(&mut rng, 1, true));
        }
        let tail = next_lines(&mut rng, 6, false);
        let mut pieces = cut(&head, 6, &mut rng);
        pieces.push(bulk.clone());
        pieces.extend(cut(&tail, 6, &mut rng));
        let data = [head, bulk, tail].concat();
        Script { data, pieces }
    }
}

/// Cuts `bytes` into `n` pieces at pseudo-random points (none empty).
fn cut(bytes: &[u8], n: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = (1..n).map(|_| 1 + rng.below(bytes.len() - 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut pieces = Vec::new();
    let mut start = 0;
    for p in points.into_iter().chain([bytes.len()]) {
        pieces.push(bytes[start..p].to_vec());
        start = p;
    }
    pieces
}

/// Where `got` first holds a `cNNN:` tag of a client other than `own`, and that client.
fn foreign_tag(got: &[u8], own: usize) -> Option<(usize, usize)> {
    got.windows(5).enumerate().find_map(|(at, w)| {
        let digits = std::str::from_utf8(&w[1..4]).ok()?;
        let other: usize = digits.parse().ok()?;
        (w[0] == b'c' && w[4] == b':' && other != own && other > 0).then_some((at, other))
    })
}

/// Reads from every client in turn, in rounds, until each has its expected bytes or
/// `within` passes: a client that is stuck costs no more time than the rest.
fn collect(clients: &mut [Client], expected: &[&[u8]], within: Duration) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + within;
    let mut got: Vec<Vec<u8>> = vec![Vec::new(); clients.len()];
    let mut ended = vec![false; clients.len()];
    loop {
        let mut waiting = false;
        for (i, client) in clients.iter_mut().enumerate() {
            let want = expected[i].len().saturating_sub(got[i].len());
            if want == 0 || ended[i] {
                continue;
            }
            waiting = true;
            let (bytes, ending) = client.read_exact_within(want, Duration::from_millis(2));
            got[i].extend_from_slice(&bytes);
            ended[i] = matches!(ending, Ending::Eof | Ending::Reset | Ending::Error(_));
        }
        if !waiting || Instant::now() > deadline {
            return got;
        }
    }
}

/// How `got` differs from `expected`, in words.
fn difference(expected: &[u8], got: &[u8]) -> String {
    let excerpt = |b: &[u8], at: usize| show(&b[at..(at + 60).min(b.len())]);
    match expected.iter().zip(got).position(|(a, b)| a != b) {
        Some(at) => format!(
            "its echo differs at byte {at}: expected {}, got {}",
            excerpt(expected, at),
            excerpt(got, at)
        ),
        None if got.len() < expected.len() => format!(
            "only {} of the {} bytes came back (the next expected were {})",
            got.len(),
            expected.len(),
            excerpt(expected, got.len())
        ),
        None => format!(
            "{} bytes more than it sent came back: {}",
            got.len() - expected.len(),
            excerpt(got, expected.len())
        ),
    }
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
        const WITHIN: Duration = Duration::from_millis(200);
        let server = ctx.start()?;
        let mut slow = Client::connect_with(server.addr(), Some(4096), "client A")?;
        slow.echo(b"I will read slowly\n")?;
        let mut other = Client::connect_with(server.addr(), None, "client B")?;
        other.echo(b"I read at once\n")?;
        let data = long_lines(8 << 20, 11);
        let writer = Writer::start(&slow, data.clone(), data.len(), Duration::from_secs(15))?;
        let begun = Instant::now();
        let mut probe = 0;
        while begun.elapsed() < PAUSE {
            probe += 1;
            let line = format!("client B's line {probe}\n");
            let sent = Instant::now();
            other.send(line.as_bytes())?;
            let (got, _) = other.read_exact_within(line.len(), WITHIN);
            if got != line.as_bytes() {
                writer.stop();
                let what = if got.is_empty() {
                    format!(
                        "nothing came back within {}: one client that does not read must not \
                         hold up the others",
                        secs(WITHIN)
                    )
                } else {
                    difference(line.as_bytes(), &got)
                };
                fail!(
                    "client A sent 8 MiB of lines (from another thread) and read none of the \
                     echoes yet; {:.1} s later, client B sent {}; {what}",
                    sent.duration_since(begun).as_secs_f64(),
                    show(line.as_bytes()),
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
        let (got, ending) = slow.read_exact_within(data.len(), Duration::from_secs(6));
        let sent = writer.stop();
        if got != data {
            fail!(
                "client A sent 8 MiB of lines ({sent} bytes had been taken when it stopped \
                 sending) and read none of the echoes for 2 s, then read them; {} ({ending})",
                difference(&data, &got)
            );
        }
        Ok(())
    },
};

/// `len` bytes of long lines (1,000 to 4,000 bytes), numbered, reproducible from `seed`.
///
/// Long lines make it near certain that a read ends inside a line.
fn long_lines(len: usize, seed: u64) -> Vec<u8> {
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
struct Writer {
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
    run: |ctx| {
        const LIMIT_MIB: u64 = 16;
        let server = ctx.start()?;
        let mut other = Client::connect_with(server.addr(), None, "client B")?;
        other.echo(b"before the flood\n")?;
        let mut hog = Client::connect_with(server.addr(), None, "client A")?;
        hog.echo(b"I will never read again\n")?;
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
    },
};

/// The server's resident memory (all its processes), in KiB.
fn rss_kib(server: &Server) -> u64 {
    server.tree().iter().map(|p| p.rss_kib).sum()
}

pub static IDLE_MEMORY: Check = Check {
    id: "idle-memory",
    category: Category::Resources,
    points: 5,
    summary: "1,000 idle connections cost at most 16 KiB of resident memory each",
    hint: "an idle connection needs no buffer: read into one scratch buffer for all, and give a \
           connection memory only while it holds an unfinished line or unsent output",
    book: "epoll.md#memory-per-connection",
    limit: LIMIT,
    run: |ctx| {
        const CLIENTS: usize = 1000;
        const LIMIT_KIB: u64 = 16;
        let server = ctx.start()?;
        let mut first = Client::connect(server.addr())?;
        first.echo(b"measure me\n")?;
        let fds_before = fds(&server)?;
        let rss_before = rss_kib(&server);
        let clients = Client::connect_many(server.addr(), CLIENTS)?;
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
            "1,000 clients connected, but the server's descriptors did not grow within 3 s: \
             it did not accept them"
        );
        let grown = (rss as u64).saturating_sub(rss_before);
        let each = grown / held as u64;
        ensure!(
            each <= LIMIT_KIB,
            "1,000 idle clients connected (the server holds {held} of them) and the server's \
             resident memory grew by {} KiB: {each} KiB per connection, over the {LIMIT_KIB} KiB \
             allowed",
            grown
        );
        Ok(())
    },
};

/// The server's open descriptors, or a verdict if it is gone.
fn fds(server: &Server) -> Result<usize, Verdict> {
    server
        .fds()
        .ok_or_else(|| Verdict::new("the server's main process is gone"))
}

/// Polls `value` until it reaches `target` or stays the same for 200 ms (within 3 s), and
/// returns it.
fn settle(value: impl Fn() -> Result<usize, Verdict>, target: usize) -> Result<usize, Verdict> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut last = value()?;
    let mut since = Instant::now();
    while last < target && since.elapsed() < Duration::from_millis(200) && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(10));
        let now = value()?;
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    Ok(last)
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
    run: |ctx| {
        let server = ctx.start()?;
        let mut first = Client::connect(server.addr())?;
        first.echo(b"count the descriptors\n")?;
        let baseline = fds(&server)?;
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
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let now = fds(&server)?;
            if now <= baseline {
                return Ok(());
            }
            if Instant::now() > deadline {
                fail!(
                    "with one client connected the server had {baseline} descriptors open; then \
                     1,000 more clients came and went, 200 at a time (half closed normally, half \
                     reset the connection, half of each in the middle of a line), and 3 s later \
                     it had {now}: {} descriptors leaked",
                    now - baseline
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    },
};

/// Connects clients named by `numbers`, one after another, without a word.
fn connect_numbered(
    addr: SocketAddr,
    numbers: std::ops::RangeInclusive<usize>,
) -> Result<Vec<Client>, Verdict> {
    numbers
        .map(|i| Client::connect_with(addr, None, &format!("client {i}")))
        .collect()
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
    run: |ctx| {
        const EXTRA: usize = 100;
        let server = ctx.start_with(&Limits {
            nofile: 64,
            ..Limits::default()
        })?;
        let mut first = Client::connect_with(server.addr(), None, "client 1")?;
        first.echo(b"before the crowd\n")?;
        let crowd = connect_numbered(server.addr(), 2..=EXTRA + 1)?;
        let story = "the server may open 64 descriptors, and 101 clients connected";
        // A spinning server is runnable whenever we look, however busy the machine is (its
        // share of CPU time is not: on a loaded machine a spinner may get little of it). So
        // sample its state, and report the CPU it used as well.
        let tps = procfs::ticks_per_second();
        let ticks = || procfs::cpu_ticks(server.pid()).unwrap_or(0);
        let before = ticks();
        let window = Duration::from_secs(1);
        let (mut samples, mut running) = (0, 0);
        let end = Instant::now() + window;
        while Instant::now() < end {
            samples += 1;
            if procfs::read(server.pid()).is_some_and(|p| p.state == 'R') {
                running += 1;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let percent = ticks().saturating_sub(before) * 100 / tps.max(1);
        ensure!(
            running * 2 < samples,
            "{story}; over the next {} the server was running in {running} of {samples} \
             looks (it used {percent}% of a CPU) while nothing was being sent: it is spinning \
             on an accept that keeps failing",
            secs(window)
        );
        first
            .echo(b"still there?\n")
            .map_err(|v| v.context(format!("{story}; then client 1 sent another line")))?;
        drop(crowd);
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let name = format!("newcomer {attempt}");
            let served = Client::connect_with(server.addr(), None, &name).and_then(|mut c| {
                c.send(b"room for me now?\n")?;
                c.expect(b"room for me now?\n", Duration::from_millis(100))
            });
            match served {
                Ok(()) => return Ok(()),
                Err(v) if Instant::now() > deadline => fail!(
                    "{story}; then 100 of them left, and for 3 s no new client was served \
                     (the last try: {})",
                    v.message
                ),
                Err(_) => thread::sleep(Duration::from_millis(50)),
            }
        }
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_cut_into_pieces_that_add_up() {
        for i in [1, 42, 100] {
            let s = Script::new(i);
            assert_eq!(s.pieces.concat(), s.data);
            assert!(s.pieces.iter().all(|p| !p.is_empty()));
            assert!(s.pieces.iter().any(|p| p.len() >= 12 * 1024));
            assert_eq!(foreign_tag(&s.data, i), None);
            assert!(foreign_tag(&s.data, i + 1).is_some());
        }
    }

    #[test]
    fn long_lines_have_the_asked_length() {
        let data = long_lines(1 << 20, 3);
        assert_eq!(data.len(), 1 << 20);
        assert_eq!(data.last(), Some(&b'\n'));
        assert!(data.split(|&b| b == b'\n').all(|l| l.len() < 4100));
    }
}
