//! The async architecture's own checks: a task per connection on a runtime of `--workers`
//! threads (M tasks on N threads: the gate), CPU-heavy lines that do not stall the other
//! clients, idle connections that cost little, backpressure, and running out of
//! descriptors. Book: `book/src/async.md`. (The folder is not called `async`: that is a
//! keyword.)

mod threads;
mod work;

pub use threads::RUNTIME_THREADS;
pub use work::CPU_WORK;

use std::time::Duration;

use crate::rubric::check::{Category, Check};
use crate::rubric::{common, epoll};

const LIMIT: Duration = Duration::from_secs(20);

/// The async rubric: the shared checks, then this architecture's.
pub fn rubric() -> Vec<&'static Check> {
    let mut checks = common::rubric();
    checks.extend([
        &RUNTIME_THREADS,
        &CPU_WORK,
        &BACKPRESSURE,
        &IDLE_MEMORY,
        &EMFILE,
    ]);
    checks
}

pub static IDLE_MEMORY: Check = Check {
    id: "idle-memory",
    category: Category::Resources,
    points: 5,
    summary: "1,000 idle connections cost at most 8 KiB of resident memory each",
    hint: "an idle task is its future, boxed: everything it holds across an `.await` (a big \
           array declared in the task, a large BufReader) is part of it; keep the read buffer \
           small (4 KiB) and let long lines grow their own buffer",
    book: "async.md#what-an-idle-task-costs",
    limit: LIMIT,
    run: |ctx| epoll::idle_memory(ctx, 8, false),
};

pub static BACKPRESSURE: Check = Check {
    id: "backpressure",
    category: Category::Resources,
    points: 10,
    summary: "a client that sends 64 MiB and reads nothing grows the server by at most 16 MiB",
    hint: "await each echo's write before reading more: a task that stops reading while its \
           writes wait lets TCP push back on the client; a queue between a reader task and a \
           writer task (an unbounded channel) buffers without end",
    book: "async.md#backpressure-for-free",
    limit: LIMIT,
    run: epoll::backpressure,
};

pub static EMFILE: Check = Check {
    id: "emfile",
    category: Category::Robustness,
    points: 5,
    summary: "out of descriptors (limit 64, 101 clients), it neither dies nor spins, and recovers",
    hint: "when accept fails with EMFILE the connection stays queued and the listener stays \
           ready, so `accept().await` fails again at once: when \
           `workbook_kit::out_of_descriptors(&e)`, `tokio::time::sleep(OUT_OF_DESCRIPTORS_PAUSE)` \
           (awaited, so the other tasks go on) before the next accept",
    book: "async.md#running-out-of-descriptors",
    limit: LIMIT,
    run: |ctx| common::out_of_descriptors(ctx, |_| None),
};
