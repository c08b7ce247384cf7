//! Checks every architecture must pass: the contract's correctness and robustness, and
//! descriptors back at their baseline. Book: `book/src/contract.md`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::check::{Category, Check, Outcome, Verdict};
use crate::client::{secs, show, Client, Ending, REPLY};
use crate::server::Server;
use crate::{ensure, fail};

const LIMIT: Duration = Duration::from_secs(20);

/// The checks shared by all architectures, in rubric order.
pub fn rubric() -> Vec<&'static Check> {
    vec![
        &ONE_LINE,
        &PIPELINED,
        &BYTE_BY_BYTE,
        &LINE_THEN_FRAGMENT,
        &BINARY,
        &EMPTY_LINES,
        &LONGEST_LINE,
        &HALF_CLOSE,
        &MEBIBYTE,
        &TOO_LONG,
        &RESET,
        &SIGTERM,
        &DESCRIPTORS,
    ]
}

pub static ONE_LINE: Check = Check {
    id: "one-line",
    category: Category::Correctness,
    points: 10,
    summary: "one line comes back unchanged",
    hint: "read until a `\\n`, then write the same bytes back, newline included",
    book: "contract.md#the-protocol",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        Client::connect(server.addr())?.echo(b"hello, workbook\n")
    },
};

pub static PIPELINED: Check = Check {
    id: "pipelined",
    category: Category::Correctness,
    points: 5,
    summary: "1,000 lines sent in one write all come back, in order",
    hint:
        "one read may hold many lines: answer every complete line in the buffer, not only the first",
    book: "contract.md#the-protocol",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut client = Client::connect(server.addr())?;
        let lines: Vec<u8> = (1..=1000)
            .flat_map(|i| format!("line {i:04} of 1000\n").into_bytes())
            .collect();
        client.send(&lines)?;
        client
            .expect(&lines, REPLY)
            .map_err(|v| v.context("after 1,000 lines in one write"))
    },
};

pub static BYTE_BY_BYTE: Check = Check {
    id: "byte-by-byte",
    category: Category::Correctness,
    points: 10,
    summary: "a line sent one byte at a time comes back only once it is complete",
    hint: "a read returns whatever has arrived, maybe a single byte: keep an unfinished line \
           buffered, and send nothing of it before its `\\n` arrives",
    book: "contract.md#the-protocol",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut client = Client::connect(server.addr())?;
        let line = b"one byte at a time\n";
        let (body, newline) = line.split_at(line.len() - 1);
        for byte in body {
            client.send(std::slice::from_ref(byte))?;
            // Pacing, not synchronisation: each byte should travel in its own segment.
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Err(early) = client.expect_silence(Duration::from_millis(300)) {
            fail!(
                "sent {} one byte per write, without its newline yet; expected nothing back \
                 before the `\\n`, got {}",
                show(body),
                show(&early)
            );
        }
        client.send(newline)?;
        client
            .expect(line, REPLY)
            .map_err(|v| v.context(format!("after {} one byte per write", show(line))))
    },
};

pub static LINE_THEN_FRAGMENT: Check = Check {
    id: "line-then-fragment",
    category: Category::Correctness,
    points: 5,
    summary: "a complete line is echoed at once, even when the start of the next came with it",
    hint: "send the echoes you owe before any read that may block: a fragment after the last \
           `\\n` is not a reason to wait",
    book: "contract.md#the-protocol",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut client = Client::connect(server.addr())?;
        let sent = b"a complete line\nand the start of the next";
        client.send(sent)?;
        client
            .expect(b"a complete line\n", REPLY)
            .map_err(|v| v.context(format!("after {} in one write", show(sent))))?;
        client.send(b" one\n")?;
        client
            .expect(b"and the start of the next one\n", REPLY)
            .map_err(|v| v.context("after the rest of the second line"))
    },
};

pub static BINARY: Check = Check {
    id: "binary",
    category: Category::Correctness,
    points: 5,
    summary: "NUL, `\\r` and invalid UTF-8 come back byte for byte",
    hint: "a line is bytes, not text: do not decode it as UTF-8, trim it or translate `\\r\\n`",
    book: "contract.md#lines-are-bytes",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut client = Client::connect(server.addr())?;
        let lines: [&[u8]; 4] = [
            b"nul \0 in the middle\n",
            b"carriage\rreturn\n",
            b"invalid utf-8: \xff\xfe\xc3\x28\n",
            b"crlf ending\r\n",
        ];
        for line in lines {
            client.echo(line)?;
        }
        Ok(())
    },
};

pub static EMPTY_LINES: Check = Check {
    id: "empty-lines",
    category: Category::Correctness,
    points: 5,
    summary: "a `\\n` alone is a line and comes back as `\\n`",
    hint: "an empty line is still a complete line: echo its single `\\n`",
    book: "contract.md#lines-are-bytes",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut client = Client::connect(server.addr())?;
        client.echo(b"\n")?;
        client.echo(b"\n\n\n")?;
        client.echo(b"before\n\nafter\n")
    },
};

pub static LONGEST_LINE: Check = Check {
    id: "longest-line",
    category: Category::Correctness,
    points: 5,
    summary: "a line of exactly 65,536 bytes (its `\\n` included) comes back whole",
    hint: "the limit is 65,536 bytes including the newline: a line that long is still valid",
    book: "contract.md#the-line-limit",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut client = Client::connect(server.addr())?;
        let line = patterned(workbook_kit::MAX_LINE);
        client.send(&line)?;
        client
            .expect(&line, REPLY)
            .map_err(|v| v.context("after one line of 65,536 bytes"))?;
        // The same length again, split where a 64 KiB read buffer would end.
        let (head, tail) = line.split_at(40_000);
        client.send(head)?;
        std::thread::sleep(Duration::from_millis(20));
        client.send(tail)?;
        client
            .expect(&line, REPLY)
            .map_err(|v| v.context("after a 65,536-byte line sent in two writes"))
    },
};

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
        client.send(b"first\nsecond\nunfinished fragment")?;
        client.shutdown_write()?;
        let (got, ending) = client.read_to_end(REPLY);
        let expected = b"first\nsecond\n";
        ensure!(
            got == expected && ending == Ending::Eof,
            "sent {} and then EOF (shutdown of the write side); expected {} and then the server \
             closing the connection, got {} {}",
            show(b"first\nsecond\nunfinished fragment"),
            show(expected),
            show(&got),
            match ending {
                Ending::Timeout => format!("and the connection stayed open for {}", secs(REPLY)),
                other => other.to_string(),
            }
        );
        Ok(())
    },
};

pub static MEBIBYTE: Check = Check {
    id: "mebibyte",
    category: Category::Correctness,
    points: 10,
    summary: "1 MiB of lines from a client that reads while it writes comes back intact",
    hint: "keep writing the echoes while more input arrives; never drop or reorder bytes when \
           a write is short",
    book: "contract.md#the-protocol",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let client = Client::connect(server.addr())?;
        let data = lines_of(1 << 20, 7);
        exchange(client, &data, Duration::from_secs(10))
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
        over_long_line(&server, &mut long)?;
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
    let (got, ending) = client.read_to_end(Duration::from_secs(6));
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

/// Writes `data` to a client that never reads, until its writes block for 200 ms (the
/// buffers on both sides are full and the server cannot write its echoes) or all is sent.
fn fill_until_blocked(client: &Client, data: &[u8]) {
    use std::io::Write;
    let mut stream = client.stream();
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    for chunk in data.chunks(64 * 1024) {
        if stream.write_all(chunk).is_err() {
            return;
        }
    }
}

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
            let gone = crate::procfs::read(server.pid()).is_none_or(|p| p.is_zombie());
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
/// the server's main process is back at its baseline of open descriptors within 3 s.
///
/// The baseline is taken after a first client has come and gone, so that whatever a server
/// sets up lazily (an epoll instance, a log file) counts as baseline, not as a leak.
pub fn fd_leak_after(
    server: &Server,
    n: usize,
    client: impl Fn(std::net::SocketAddr, usize) -> Outcome,
) -> Outcome {
    client(server.addr(), 0)?;
    let baseline = settled_fds(server)?;
    for i in 1..=n {
        client(server.addr(), i)?;
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let now = server
            .fds()
            .ok_or_else(|| Verdict::new("the server's main process is gone"))?;
        if now <= baseline {
            return Ok(());
        }
        if Instant::now() > deadline {
            fail!(
                "the server had {baseline} descriptors open before {n} clients came and went, \
                 and {now} 3 s after the last one left: {} descriptors leaked, about one per \
                 client",
                now - baseline
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The server's descriptor count once it has stopped changing (it may still be closing the
/// warm-up connection).
fn settled_fds(server: &Server) -> Result<usize, Verdict> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut last = usize::MAX;
    let mut steady = 0;
    loop {
        let now = server
            .fds()
            .ok_or_else(|| Verdict::new("the server's main process is gone"))?;
        steady = if now == last { steady + 1 } else { 0 };
        last = now;
        if steady >= 5 || Instant::now() > deadline {
            return Ok(now);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes `data` from one thread while reading the echo on this one, and compares.
pub fn exchange(client: Client, data: &[u8], within: Duration) -> Outcome {
    let mut client = client;
    let mut writer = client
        .stream()
        .try_clone()
        .map_err(|e| Verdict::new(format!("cannot clone a socket: {e}")))?;
    let to_send = data.to_vec();
    let sender = std::thread::spawn(move || {
        use std::io::Write;
        let _ = writer.set_write_timeout(Some(Duration::from_secs(10)));
        // Uneven chunks, so that line boundaries fall anywhere in a read.
        let mut rest = &to_send[..];
        let mut size = 1000;
        while !rest.is_empty() {
            let n = size.min(rest.len());
            writer.write_all(&rest[..n])?;
            rest = &rest[n..];
            size = size * 7 % 65_521 + 1;
        }
        Ok::<(), std::io::Error>(())
    });
    let (got, ending) = client.read_exact_within(data.len(), within);
    let sent = sender.join().unwrap_or(Ok(()));
    if got == data {
        return Ok(());
    }
    let at = data.iter().zip(&got).position(|(a, b)| a != b);
    let where_ = match at {
        Some(at) => format!(
            "the echo differs at byte {at}: expected {}, got {}",
            show(&data[at..(at + 40).min(data.len())]),
            show(&got[at..(at + 40).min(got.len())])
        ),
        None => format!(
            "only {} of the {} bytes came back, {ending}",
            got.len(),
            data.len()
        ),
    };
    let send_note = match sent {
        Err(e) => format!(" (sending failed too: {e})"),
        Ok(()) => String::new(),
    };
    fail!(
        "{} sent {} bytes of lines while reading the echo; {where_}{send_note}",
        client.name,
        data.len()
    )
}

/// `len` bytes of lines of varied length (1 to 200 bytes), reproducible from `seed`.
pub fn lines_of(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut line = 0u64;
    while out.len() < len {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let body = (state >> 33) as usize % 200;
        let text = format!("{line:08} ");
        let mut bytes: Vec<u8> = text.into_bytes();
        bytes.extend((0..body).map(|i| b'a' + ((line as usize + i) % 26) as u8));
        bytes.push(b'\n');
        let room = len - out.len();
        if bytes.len() > room {
            bytes.truncate(room.max(1) - 1);
            bytes.push(b'\n');
        }
        out.extend_from_slice(&bytes);
        line += 1;
    }
    out
}

/// One line of `len` bytes (the last is `\n`) whose bytes vary, so a shift shows.
pub fn patterned(len: usize) -> Vec<u8> {
    let mut line: Vec<u8> = (0..len - 1).map(|i| b'a' + (i % 26) as u8).collect();
    line.push(b'\n');
    line
}

/// Fails unless the server's tree is one process with one thread (zombies aside): `when`
/// says what was going on, `promise` what the architecture promises.
pub fn one_task(server: &Server, when: &str, promise: &str) -> Outcome {
    let tree = server.tree();
    let processes = tree.iter().filter(|p| !p.is_zombie()).count();
    let threads: usize = tree.iter().map(|p| p.threads).sum();
    ensure!(
        processes == 1 && threads == 1,
        "{when}, the server had {processes} processes and {threads} threads; {promise}"
    );
    Ok(())
}

/// Clients 2 to 4 connect, one after another, and each must be served while client 1 is in
/// the `situation` described; they stay connected (returned) so that serving one cannot
/// depend on another leaving.
pub fn others_served(server: &Server, situation: &str) -> Result<Vec<Client>, Verdict> {
    (2..=4)
        .map(|i| {
            let mut client = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
            client
                .echo(format!("client {i} is not waiting for client 1\n").as_bytes())
                .map_err(|v| v.context(situation))?;
            Ok(client)
        })
        .collect()
}

/// Sends `line` on every client, then keeps those that get it back within [`REPLY`] (for
/// them all). A client the server closed at once may see its send fail: that is no failure.
pub fn round(mut clients: Vec<Client>, line: &[u8]) -> Vec<Client> {
    for client in &mut clients {
        let _ = client.send(line);
    }
    let deadline = Instant::now() + REPLY;
    clients
        .into_iter()
        .filter_map(|mut client| {
            // The last ones still get a moment: their replies may well be there already.
            let left = deadline.saturating_duration_since(Instant::now());
            let (got, _) =
                client.read_exact_within(line.len(), left.max(Duration::from_millis(50)));
            (got == line).then_some(client)
        })
        .collect()
}

/// Calls `f` every 10 ms until it returns `Some`, for at most `within`.
pub fn poll<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = f() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_lines_have_the_asked_length_and_end_in_newlines() {
        for len in [1, 10, 1000, 1 << 20] {
            let data = lines_of(len, 1);
            assert_eq!(data.len(), len);
            assert_eq!(data.last(), Some(&b'\n'));
        }
        let line = patterned(65_536);
        assert_eq!(line.len(), 65_536);
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    }
}
