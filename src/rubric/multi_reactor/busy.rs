//! A busy loop: lines that cost CPU time (`--work`) keep one loop busy for 2 s, and a client
//! of another loop must be answered meanwhile.

use std::time::{Duration, Instant};

use super::LIMIT;
use crate::drive::client::{secs, show, Client};
use crate::rubric::check::{Category, Check};
use crate::rubric::diagnose::Explained;
use crate::rubric::epoll::keep_asking;
use crate::rubric::epoll::loops::{client_on, Placement};
use crate::verdict::Verdict;
use crate::{ensure, fail};

/// The CPU time each line costs, in microseconds (`--work`).
const WORK: u64 = 2_000;
/// Client A's lines: at `WORK` each, 2 s of work for its loop.
const LINES: usize = 1_000;

pub static BUSY_LOOP: Check = Check {
    id: "busy-loop",
    category: Category::Concurrency,
    points: 10,
    summary: "with `--work 2000`, one loop busy for 2 s with a client's 1,000 lines delays no \
              client of another loop by 500 ms",
    hint: "run each loop on a thread of its own and share nothing it holds while it works: a \
           lock held across a line's work (around a shared map of connections, a global \
           counter) makes every loop wait for the busiest",
    book: "multi-reactor.md#a-busy-loop",
    limit: LIMIT,
    run: |ctx| {
        // Far below the 2 s a loop waiting for the busy one keeps client B waiting, and wide
        // enough for a machine loaded past its two cores (B's own line costs 2 ms).
        const WITHIN: Duration = Duration::from_millis(500);
        const PROBING: Duration = Duration::from_millis(1500);
        let server = ctx.start_options(&["--workers", "2", "--work", &WORK.to_string()])?;
        let mut busy = Client::connect_with(server.addr(), None, "client A")?;
        busy.echo(b"client A says hello\n")?;
        let mut other = client_on(&server, &busy, "client B", Placement::Other)?;
        let lines: Vec<u8> = (1..=LINES)
            .flat_map(|k| format!("client A's line {k} of {LINES}\n").into_bytes())
            .collect();
        busy.send(&lines)?;
        let begun = Instant::now();
        let mut echoed = Vec::new();
        let drain = || {
            let left = lines.len() - echoed.len();
            echoed.extend(busy.read_exact_within(left, Duration::from_millis(1)).0);
        };
        if let Err(miss) = keep_asking(&mut other, PROBING, WITHIN, drain) {
            return Err(Verdict::new(format!(
                "client A sent {LINES} lines in one write, each costing 2 ms of CPU time \
                 (`--work {WORK}`): 2 s of work for its loop; {:.1} s later, client B, served \
                 by another loop, sent {} and {} within {}: a loop busy with its own clients' \
                 work must not hold up the others'",
                miss.at.duration_since(begun).as_secs_f64(),
                show(&miss.line),
                if miss.got.is_empty() {
                    "got nothing back".to_string()
                } else {
                    format!("got {}", show(&miss.got))
                },
                secs(WITHIN)
            )))
            .explained(&server);
        }
        let (rest, ending) =
            busy.read_exact_within(lines.len() - echoed.len(), Duration::from_secs(12));
        echoed.extend(rest);
        let took = begun.elapsed();
        if echoed != lines {
            fail!(
                "client A sent {LINES} lines in one write (`--work {WORK}`: 2 s of work) and \
                 {} bytes of the {} echoed came back within {} ({ending})",
                echoed.len(),
                lines.len(),
                secs(took)
            );
        }
        // A server that spends no time on a line has no busy loop: nothing was checked.
        ensure!(
            took >= Duration::from_secs(1),
            "client A's {LINES} lines came back in {}, though at `--work {WORK}` they cost 2 s \
             of CPU time: the server does not spend the work `--work` asks for on each line \
             (`workbook_kit::work`), so no loop was ever busy",
            secs(took)
        );
        Ok(())
    },
};
