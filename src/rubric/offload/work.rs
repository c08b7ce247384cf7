//! Where the work goes: off the loop thread, and not ahead of another client's line.

use std::thread;
use std::time::{Duration, Instant};

use super::threads::loop_thread;
use super::{work_began, LIMIT};
use crate::drive::client::Client;
use crate::probe::procfs;
use crate::rubric::check::{Category, Check};
use crate::rubric::diagnose::Explained;
use crate::rubric::epoll::{collect, difference, greeted};
use crate::verdict::Verdict;
use crate::{ensure, fail};

/// How long a client waits for its echoes in these checks, at most: far more than any
/// server that works the lines at all needs.
const WAIT: Duration = Duration::from_secs(10);

pub static HEAVY_NEIGHBOUR: Check = Check {
    id: "heavy-neighbour",
    category: Category::Concurrency,
    points: 10,
    summary: "while client A's ten CPU-heavy lines are worked on, client B's one line comes \
              back in less than half the time A's take",
    hint: "the loop must not do a line's work itself: it hands the line to a worker and goes \
           back to epoll_wait at once. And B's line must not queue behind A's: a pool that \
           takes every line in the order it came makes B wait for all of A's; let each \
           connection have one job in the pool at a time",
    book: "offload.md#fair-to-the-light-client",
    limit: LIMIT,
    // The numbers. A line costs 20 ms of CPU (`--work 20000`), so A's ten cost 200 ms. A loop
    // that works in line reads B's line only once all of A's are done and echoed: B's echo
    // comes after A's last, by B's own 20 ms, however fast or loaded the machine (CPU time
    // cannot be had faster than wall-clock time). With two workers (`--workers 2`, one per
    // core here), B's line runs beside A's: unloaded, its echo comes after one line's work
    // (about 25 ms measured, the "twice one line's work" of the issue), while A's last echo
    // comes about 250 ms after B's line. The bound is relative (B within half of what A's
    // lines still took) because a machine loaded by other work slows both alike: a bound of
    // 40 ms would fail on a machine busy with builds, while half of A is five times what an
    // unloaded run needs. A pool with one queue for every line, first come first served,
    // puts B's line behind A's ten, and B's echo comes with A's last: it fails too.
    run: |ctx| {
        let server = ctx.start_options(&["--workers", "2", "--work", "20000"])?;
        let mut a = Client::connect_with(server.addr(), None, "client A")?;
        a.echo(b"client A says hello\n")?;
        let mut b = Client::connect_with(server.addr(), None, "client B")?;
        b.echo(b"client B says hello\n")?;
        let lines: Vec<u8> = (1..=10)
            .flat_map(|k| format!("client A's line {k} of 10\n").into_bytes())
            .collect();
        let story = "client A sent ten lines in one write, each costing 20 ms of CPU (--work \
                     20000, --workers 2)";
        let before = server.cpu_ns();
        a.send(&lines)?;
        work_began(&server, before, 5_000_000, story)?;
        let line = b"client B's one line\n";
        let (sent, b_got, b_at, a_got, a_at) = thread::scope(|s| {
            // A's echoes are read on a thread of their own, so that when each side's last
            // byte came is known whichever comes first.
            let reader = s.spawn(|| {
                let got = a.expect(&lines, WAIT);
                (got, Instant::now())
            });
            let sent = Instant::now();
            let b_got = b.send(line).and_then(|()| b.expect(line, WAIT));
            let b_at = Instant::now();
            let (a_got, a_at) = reader.join().unwrap_or_else(|_| {
                let lost = Verdict::new("the grader's reading thread failed");
                (Err(lost), Instant::now())
            });
            (sent, b_got, b_at, a_got, a_at)
        });
        let context = |v: Verdict, who: &str| {
            v.context(format!(
                "{story}; once the server had begun working on them, client B sent one line; \
                 {who}"
            ))
        };
        b_got
            .map_err(|v| context(v, "B's echo"))
            .explained(&server)?;
        a_got
            .map_err(|v| context(v, "A's echoes"))
            .explained(&server)?;
        let (b_ms, a_ms) = (
            b_at.duration_since(sent).as_millis(),
            a_at.duration_since(sent).as_millis(),
        );
        if b_ms * 2 > a_ms {
            let waited = if b_ms >= a_ms {
                "B waited for all of A's work"
            } else {
                "B waited for much of A's work"
            };
            fail!(
                "{story}; once the server had begun working on them, client B sent one line. \
                 B's echo came {b_ms} ms later, A's last echo {a_ms} ms later: {waited}, \
                 where it should take about one line's work (20 ms) and at most half of what \
                 A's lines still took"
            );
        }
        Ok(())
    },
};

pub static LOOP_CPU: Check = Check {
    id: "loop-cpu",
    category: Category::Resources,
    points: 10,
    summary: "while 20 lines of 20 ms each are worked on, the loop thread spends at most 10% \
              of that CPU time",
    hint: "the loop thread (the one that waits in epoll_wait) only reads lines, hands them to \
           the workers, and writes the echoes they send back; the work itself \
           (workbook_kit::work) must run on a worker",
    book: "offload.md#who-spends-the-cpu",
    limit: LIMIT,
    run: |ctx| {
        const CLIENTS: usize = 4;
        // 20 lines of 20 ms: 400 ms of work. Reading and writing them costs a loop well
        // under a millisecond; a loop that works them itself spends all 400 ms.
        const WORK_MS: u64 = 400;
        let server = ctx.start_options(&["--workers", "2", "--work", "20000"])?;
        let mut clients = greeted(&server, 1, CLIENTS, 0)?;
        let loop_tid = loop_thread(&server)?;
        let before = procfs::tasks(server.pid());
        let cpu_before = procfs::cpu_ns(server.pid()).unwrap_or(0);
        let lines: Vec<Vec<u8>> = (1..=CLIENTS)
            .map(|i| {
                (1..=5)
                    .flat_map(|k| format!("client {i}'s line {k} of 5\n").into_bytes())
                    .collect()
            })
            .collect();
        for (client, lines) in clients.iter_mut().zip(&lines) {
            client.send(lines)?;
        }
        let expected: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        let got = collect(&mut clients, &expected, WAIT);
        let story = "4 clients sent 5 lines each in one write, 20 ms of CPU each (--work 20000, \
                     --workers 2)";
        for (i, got) in got.iter().enumerate() {
            if *got != lines[i] {
                fail!("{story}; client {}'s {}", i + 1, difference(&lines[i], got));
            }
        }
        let after = procfs::tasks(server.pid());
        let spent = |tid: i32| -> u64 {
            let then = before.iter().find(|t| t.tid == tid).map_or(0, |t| t.cpu_ns);
            let now = after
                .iter()
                .find(|t| t.tid == tid)
                .map_or(then, |t| t.cpu_ns);
            now.saturating_sub(then) / 1_000_000
        };
        // All the process's CPU time, threads that have ended included (a server may start
        // one per job).
        let total = procfs::cpu_ns(server.pid())
            .unwrap_or(0)
            .saturating_sub(cpu_before)
            / 1_000_000;
        let in_loop = spent(loop_tid);
        ensure!(
            total >= WORK_MS / 2,
            "{story}; the server's threads ran for {total} ms in all, not the {WORK_MS} ms of \
             work asked for: lines must cost the CPU time `--work` asks for, spent by \
             workbook_kit::work"
        );
        ensure!(
            in_loop * 10 <= WORK_MS,
            "{story}; the server's threads ran for {total} ms, {in_loop} ms of them on the loop \
             thread (the one waiting in epoll_wait), where at most {} ms is allowed: the loop \
             did the work itself",
            WORK_MS / 10
        );
        Ok(())
    },
};
