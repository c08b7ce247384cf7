//! What comes back for what is sent: framing, bytes, and the edge of the line limit.

use std::time::Duration;

use super::LIMIT;
use crate::drive::client::{show, Client, REPLY};
use crate::drive::traffic::{exchange, lines_of};
use crate::fail;
use crate::rubric::check::{Category, Check};
use crate::rubric::diagnose::Explained;

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
        let mut client = Client::connect(server.addr())?;
        client.echo(b"hello, workbook\n")?;
        // And one no server can have been written to expect.
        client.echo(&ctx.rng(0).line(1000))
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
        let mut rng = ctx.rng(0);
        let lines: Vec<u8> = (1..=1000)
            .flat_map(|i| {
                let mut line = format!("line {i:04} of 1000: ").into_bytes();
                line.extend(rng.line(60));
                line
            })
            .collect();
        client.send(&lines)?;
        client
            .expect(&lines, REPLY)
            .map_err(|v| v.context("after 1,000 lines in one write"))
            .explained(&server)
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
        let mut line = b"one byte at a time: ".to_vec();
        line.extend(ctx.rng(0).line(12));
        let line = &line[..];
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
        let mut rng = ctx.rng(0);
        let complete = rng.line(200);
        let next = rng.line(200);
        let (start, rest) = next.split_at(rng.below(next.len() - 1) + 1);
        let sent = [&complete[..], start].concat();
        client.send(&sent)?;
        client
            .expect(&complete, REPLY)
            .map_err(|v| v.context(format!("after {} in one write", show(&sent))))?;
        client.send(rest)?;
        client
            .expect(&next, REPLY)
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
        let mut rng = ctx.rng(0);
        for _ in 0..3 {
            client.echo(&rng.binary_line(2000))?;
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
        client.echo(b"before\n\nafter\n")?;
        // Empty lines at random among others, all in one write.
        let mut rng = ctx.rng(0);
        let mixed: Vec<u8> = (0..20)
            .flat_map(|_| match rng.below(2) {
                0 => b"\n".to_vec(),
                _ => rng.line(30),
            })
            .collect();
        client.echo(&mixed)
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
        let mut rng = ctx.rng(0);
        let mut line = rng.text(workbook_kit::MAX_LINE - 1);
        line.push(b'\n');
        client.send(&line)?;
        client
            .expect(&line, REPLY)
            .map_err(|v| v.context("after one line of 65,536 bytes"))
            .explained(&server)?;
        // The same length again, split at a random point.
        let (head, tail) = line.split_at(1 + rng.below(line.len() - 1));
        client.send(head)?;
        std::thread::sleep(Duration::from_millis(20));
        client.send(tail)?;
        client
            .expect(&line, REPLY)
            .map_err(|v| v.context("after a 65,536-byte line sent in two writes"))
            .explained(&server)
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
        let mut client = Client::connect(server.addr())?;
        let data = lines_of(1 << 20, ctx.rng(0).below(usize::MAX) as u64);
        exchange(&mut client, &data, Duration::from_secs(10)).explained(&server)
    },
};
