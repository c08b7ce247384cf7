//! Partial reads: many clients, each line cut at random points, interleaved.

use std::thread;
use std::time::{Duration, Instant};

use super::crowd::greeted;
use super::LIMIT;
use crate::drive::client::{show, Client, Ending};
use crate::drive::random::Rng;
use crate::fail;
use crate::rubric::check::{Category, Check};
use crate::rubric::diagnose::Explained;
use crate::verdict::Outcome;

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
        // Judged while the clients are still connected, for the diagnosis.
        let judged = || -> Outcome {
            // Bytes of one client in another's echo say the most: look for those first.
            for (i, got) in got.iter().enumerate() {
                if let Some((at, other)) = foreign_tag(got, i + 1) {
                    let at = at.min(got.len());
                    fail!(
                        "{}; its echo holds bytes that client {other} sent (from byte {at}: \
                         {}): the unfinished lines of different connections were mixed",
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
        };
        judged().explained(&server)
    },
};

/// One client's lines for `partial-reads`, cut into the pieces it writes.
pub(super) struct Script {
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
pub(super) fn cut(bytes: &[u8], n: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
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
pub(super) fn foreign_tag(got: &[u8], own: usize) -> Option<(usize, usize)> {
    got.windows(5).enumerate().find_map(|(at, w)| {
        let digits = std::str::from_utf8(&w[1..4]).ok()?;
        let other: usize = digits.parse().ok()?;
        (w[0] == b'c' && w[4] == b':' && other != own && other > 0).then_some((at, other))
    })
}

/// Reads from every client in turn, in rounds, until each has its expected bytes or
/// `within` passes: a client that is stuck costs no more time than the rest.
pub(crate) fn collect(
    clients: &mut [Client],
    expected: &[&[u8]],
    within: Duration,
) -> Vec<Vec<u8>> {
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
pub(crate) fn difference(expected: &[u8], got: &[u8]) -> String {
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
}
