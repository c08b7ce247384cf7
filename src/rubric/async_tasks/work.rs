//! CPU-heavy lines: the blocking trap, in async form.

use std::time::Duration;

use super::LIMIT;
use crate::drive::client::Client;
use crate::ensure;
use crate::probe::settle::poll;
use crate::rubric::check::{Category, Check};
use crate::verdict::Verdict;

/// The runtime's workers, and the CPU time each line costs (`--work`, in microseconds).
const WORKERS: &str = "2";
const WORK_MICROS: u64 = 20_000;

/// Clients that each send [`LINES`] CPU-heavy lines at once: twice as many as there are
/// workers, so that a server which spends the work on its workers has every one of them
/// busy for 2 s (100 lines of 20 ms).
const HOGS: usize = 4;
const LINES: usize = 100;

/// How long the fifth client's line may take, while the others' lines are being worked on.
/// A server that offloads the work answers it after a few lines' worth (20 ms each, the
/// blocking pool's queue ahead of it), well under this even on a loaded machine; one that
/// works on its workers keeps it waiting for seconds.
const WITHIN: Duration = Duration::from_secs(1);

pub static CPU_WORK: Check = Check {
    id: "cpu-work",
    category: Category::Concurrency,
    points: 10,
    summary: "with --workers 2 --work 20000, 4 clients' 100 CPU-heavy lines each do not hold \
              up a 5th client's line",
    hint: "a line's --work is computation, not waiting: spent in the task, it holds the \
           worker thread, and every task queued on it waits; spend it on the blocking pool \
           (tokio::task::spawn_blocking, one job per line) and await the job",
    book: "async.md#the-blocking-trap",
    limit: LIMIT,
    run: |ctx| {
        let work = Duration::from_micros(WORK_MICROS);
        let server =
            ctx.start_options(&["--workers", WORKERS, "--work", &WORK_MICROS.to_string()])?;
        let mut fifth = Client::connect_with(server.addr(), None, "client 5")?;
        // The server's CPU time, not the echo's delay, which a loaded machine stretches too.
        let before = server.cpu_ns();
        fifth.echo(b"client 5 warms up\n")?;
        let spent = Duration::from_nanos(server.cpu_ns().saturating_sub(before));
        ensure!(
            spent >= work / 2,
            "client 5's first line cost the server {:.1} ms of CPU time, but --work \
             {WORK_MICROS} makes every line cost 20 ms before its echo: the server does not \
             spend it (call workbook_kit::work with each complete line)",
            spent.as_secs_f64() * 1e3
        );
        let mut hogs = Vec::with_capacity(HOGS);
        for i in 1..=HOGS {
            let mut hog = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
            let lines: String = (1..=LINES)
                .map(|k| format!("client {i}'s heavy line {k}\n"))
                .collect();
            hog.send(lines.as_bytes())?;
            hogs.push(hog);
        }
        // Until the server is at work on them: its CPU time has grown by two lines' worth.
        let before = server.cpu_ns();
        let busy = 2 * work.as_nanos() as u64;
        let _ = poll(Duration::from_secs(1), || {
            (server.cpu_ns().saturating_sub(before) >= busy).then_some(())
        });
        let line = b"client 5 is still here\n";
        fifth.send(line)?;
        fifth.expect(line, WITHIN).map_err(|v| {
            Verdict::new(format!(
                "{HOGS} clients each sent {LINES} lines at once, every line costing 20 ms of \
                 CPU time (--work {WORK_MICROS}), to a server of {WORKERS} workers; while it \
                 worked on them, client 5 sent one line and {}: the work held the worker \
                 threads, so no other task could run",
                v.message
            ))
        })
    },
};
