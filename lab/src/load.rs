//! The two load shapes, on connections already open and served.
//!
//! - **Closed loop** (throughput): each connection sends a line, waits for its echo, and
//!   sends the next at once, as rust_echo_bench does. The rate is what the server (or the
//!   client) can give; the latency is the round trip, which by Little's law grows with the
//!   number of connections whatever the server does.
//! - **Open loop** (latency): requests are due at a fixed total rate, spread evenly over
//!   the connections, whether or not the previous echo has come back (wrk2's semantics). A
//!   request's latency is counted from when it was *due*, not from when the client got round
//!   to sending it: a server that stalls for a second is charged for every request that
//!   second should have carried, not for one slow reply. That correction for "coordinated
//!   omission" is what makes an open loop's p99 honest.
//!
//! Both run every connection as a task on the caller's `LocalSet`, in one client thread,
//! and record into one HdrHistogram. A connection still waiting when the window closes gets
//! [`GRACE`] to finish; after that it is dropped and counted as stuck.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use nix::time::{clock_gettime, ClockId};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::sample::{self, Sampler};
use crate::stats::{self, Latency};

/// Every request is one line of this many bytes, its `\n` included.
pub const LINE: usize = 64;

/// How long a connection may still take to finish its round trip once the window closes.
pub const GRACE: Duration = Duration::from_secs(2);

pub fn line() -> [u8; LINE] {
    let mut line = [b'x'; LINE];
    line[LINE - 1] = b'\n';
    line
}

/// The shape of a load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    Closed,
    /// Requests due at this many a second in all.
    Open(f64),
}

/// What one load measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Load {
    /// The open loop's rate, or `None` for the closed loop.
    pub rate: Option<f64>,
    pub connections: usize,
    /// Echoes that arrived inside the window, and the rate they make.
    pub echoes: u64,
    pub per_second: f64,
    /// Closed loop: round trips. Open loop: from each request's due time (corrected).
    pub latency: Latency,
    /// Open loop only: from when each request was really sent (what a naive client reports).
    pub uncorrected: Option<Latency>,
    /// Connections that got no echo in the window.
    pub starved: usize,
    /// Connections still waiting [`GRACE`] after the window: dropped.
    pub stuck: usize,
    /// The server's and the client's CPU time over the window, as shares of one CPU.
    pub server_cpu: f64,
    pub client_cpu: f64,
    /// The server's CPU time per echo, in µs.
    pub cpu_per_echo_us: f64,
}

/// One connection's account, kept outside its task so that a dropped task still reports.
#[derive(Default)]
struct Slot {
    echoes: Cell<u64>,
    /// When the request now in flight was due (open loop) or sent (closed loop).
    in_flight: Cell<Option<Instant>>,
}

struct Shared {
    shape: Shape,
    /// The window: round trips are counted between these.
    from: Instant,
    to: Instant,
    corrected: RefCell<Histogram<u64>>,
    uncorrected: RefCell<Histogram<u64>>,
}

/// Runs `shape` on `streams` for `warmup` then `window`; `sampler` reads the server's CPU
/// time. Returns the connections that are still usable, and the figures.
pub async fn run(
    streams: Vec<TcpStream>,
    shape: Shape,
    warmup: Duration,
    window: Duration,
    sampler: &Sampler,
) -> (Vec<TcpStream>, Load) {
    let n = streams.len();
    let start = Instant::now();
    let shared = Rc::new(Shared {
        shape,
        from: start + warmup,
        to: start + warmup + window,
        corrected: stats::histogram().into(),
        uncorrected: stats::histogram().into(),
    });
    let slots: Vec<Rc<Slot>> = (0..n).map(|_| Rc::default()).collect();
    let tasks: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            // The open loop's connections take turns: together, one request every 1/rate s.
            let first = match shape {
                Shape::Closed => start,
                Shape::Open(rate) => start + Duration::from_secs_f64(i as f64 / rate),
            };
            tokio::task::spawn_local(client(s, shared.clone(), slots[i].clone(), first, n))
        })
        .collect();
    tokio::time::sleep_until(shared.from.into()).await;
    let client0 = client_cpu_ns();
    let first = sampler.sample().await;
    // Asked for early by half a reading, so that it is dated at the window's end.
    tokio::time::sleep_until((shared.to - first.took / 2).into()).await;
    let last = sampler.sample().await;
    let client1 = client_cpu_ns();
    let echoes_in_window: u64 = slots.iter().map(|s| s.echoes.get()).sum();
    let starved = slots.iter().filter(|s| s.echoes.get() == 0).count();

    let deadline = tokio::time::Instant::from(shared.to + GRACE);
    let mut survivors = Vec::with_capacity(n);
    let mut stuck = 0;
    for (task, slot) in tasks.into_iter().zip(&slots) {
        let abort = task.abort_handle();
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(Some(stream))) => survivors.push(stream),
            Ok(_) => {}
            Err(_) => {
                abort.abort();
                stuck += 1;
                // Its request waited at least this long: counted, never left out.
                if let Some(due) = slot.in_flight.get().filter(|&d| d < shared.to) {
                    stats::record(&mut shared.corrected.borrow_mut(), Instant::now() - due);
                }
            }
        }
    }
    let secs = window.as_secs_f64();
    let server_cpu = sample::share(first, last);
    let load = Load {
        rate: rate_or_none(shape),
        connections: n,
        echoes: echoes_in_window,
        per_second: echoes_in_window as f64 / secs,
        latency: Latency::of(&shared.corrected.borrow()),
        uncorrected: rate_or_none(shape).map(|_| Latency::of(&shared.uncorrected.borrow())),
        starved,
        stuck,
        server_cpu,
        client_cpu: client1.saturating_sub(client0) as f64 / 1e9 / secs,
        cpu_per_echo_us: server_cpu * secs * 1e6 / echoes_in_window.max(1) as f64,
    };
    (survivors, load)
}

fn rate_or_none(shape: Shape) -> Option<f64> {
    match shape {
        Shape::Closed => None,
        Shape::Open(rate) => Some(rate),
    }
}

/// One connection: round trips until the window has closed. In the open loop, request `k`
/// is due at `first + k × interval`, where the interval gives each of the `n` connections
/// its share of the rate. Returns the stream, unless it failed.
async fn client(
    mut stream: TcpStream,
    shared: Rc<Shared>,
    slot: Rc<Slot>,
    first: Instant,
    n: usize,
) -> Option<TcpStream> {
    let interval = match shared.shape {
        Shape::Closed => Duration::ZERO,
        Shape::Open(rate) => Duration::from_secs_f64(n as f64 / rate),
    };
    let line = line();
    let mut echo = [0; LINE];
    let mut due = first;
    loop {
        if shared.shape != Shape::Closed {
            if due >= shared.to {
                return Some(stream);
            }
            let now = Instant::now();
            if now >= shared.to {
                // Behind schedule when the window closed: the requests still due in it
                // were never sent. Each has waited at least since it was due; count that,
                // rather than leave the slowest requests out.
                let mut h = shared.corrected.borrow_mut();
                while due < shared.to {
                    if due >= shared.from {
                        stats::record(&mut h, now - due);
                    }
                    due += interval;
                }
                return Some(stream);
            }
            until(due).await;
        } else if Instant::now() >= shared.to {
            return Some(stream);
        }
        let sent = Instant::now();
        let started = if shared.shape == Shape::Closed {
            sent
        } else {
            due
        };
        slot.in_flight.set(Some(started));
        stream.write_all(&line).await.ok()?;
        stream.read_exact(&mut echo).await.ok()?;
        slot.in_flight.set(None);
        let done = Instant::now();
        let counted = match shared.shape {
            // Round trips that began and ended inside the window.
            Shape::Closed => sent >= shared.from && done <= shared.to,
            // Requests due inside the window, whenever they came back.
            Shape::Open(_) => started >= shared.from && started < shared.to,
        };
        if counted {
            stats::record(&mut shared.corrected.borrow_mut(), done - started);
            stats::record(&mut shared.uncorrected.borrow_mut(), done - sent);
        }
        if done >= shared.from && done <= shared.to {
            slot.echoes.set(slot.echoes.get() + 1);
        }
        due += interval;
    }
}

/// How early tokio's timer is asked to wake a connection whose request is due: it fires on
/// a grid of milliseconds, up to one late, and an open loop would charge that lateness to
/// the server (every p99 read about 2 ms, whatever the server).
const TIMER_SLACK: Duration = Duration::from_millis(2);

/// Waits until `due`, to within microseconds: the timer for all but the last
/// [`TIMER_SLACK`], then yields until the time has come, the other connections' I/O going on
/// meanwhile. The client has a CPU of its own (`env.rs`), which those last stretches keep
/// busy: an open loop's client CPU reads near 100%.
async fn until(due: Instant) {
    if let Some(coarse) = due.checked_sub(TIMER_SLACK) {
        tokio::time::sleep_until(coarse.into()).await;
    }
    while Instant::now() < due {
        tokio::task::yield_now().await;
    }
}

/// CPU time of this thread, the client's (every task runs on it), in ns.
fn client_cpu_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}
