//! Opening N connections, at a paced rate, each echoing one line before it counts as served.
//!
//! A burst of 10,000 connects overflows any listen queue (4,096 here at most), and the
//! kernel drops the SYNs that do not fit; their clients retry a second later, then three,
//! then seven. A drill that opened its connections all at once would measure those retries,
//! not the server. So connects are paced (5,000 a second by default), every server listens
//! with a backlog of 4,096 (`workbook_kit::BACKLOG`), and the kernel's own count of dropped
//! connections (`ListenOverflows`, `ListenDrops`) is reported with each cell.
//!
//! Waiting is bounded by progress, not by a fixed time: the phase ends once every connection
//! has been served, or when nothing has happened for [`STALL`]. An iterative server serves
//! its first client and no other; after two quiet seconds the lab records the rest as never
//! served and moves on.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::env;
use crate::load::{line, LINE};
use crate::stats::{self, Latency};

/// How long one connect may take: time for one SYN retry (sent after 1 s), not for more.
pub const CONNECT_PATIENCE: Duration = Duration::from_secs(3);

/// How long the phase waits with nothing happening (no connect ending, no echo arriving)
/// before it calls the rest never served.
pub const STALL: Duration = Duration::from_secs(2);

/// The longest the phase may last beyond its pacing, whatever progress it makes.
const CAP: Duration = Duration::from_secs(30);

/// What opening the connections showed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Connect {
    pub requested: usize,
    /// Connects that completed.
    pub established: usize,
    /// Connections whose first line came back.
    pub served: usize,
    /// Connects that failed, by reason.
    pub failed: BTreeMap<String, usize>,
    /// From `connect()` to established.
    pub latency: Latency,
    /// From established to the first line's echo: how long a new client waits to be served.
    pub first_echo: Latency,
    /// From the first connect to the last one established.
    pub secs: f64,
    /// The kernel's listen-queue drops during the phase (`/proc/net/netstat`).
    pub listen_overflows: u64,
    pub listen_drops: u64,
    /// Whether the phase stopped waiting (after [`STALL`] or its cap) with clients unserved.
    pub gave_up: bool,
}

/// The connections opened, by what became of them.
pub struct Opened {
    /// Served: ready for load.
    pub served: Vec<TcpStream>,
    /// Established but never served: held open, so the server still has them, never used.
    pub unserved: Vec<TcpStream>,
    pub report: Connect,
}

enum Outcome {
    Failed(String),
    Unserved(TcpStream),
    Served(TcpStream),
}

/// Shared by the phase's tasks, all on one thread.
struct Shared {
    activity: Cell<Instant>,
    last_established: Cell<Instant>,
    connects: std::cell::RefCell<Histogram<u64>>,
    echoes: std::cell::RefCell<Histogram<u64>>,
    established: Cell<u64>,
}

/// Opens `n` connections to `addr`, `rate` a second. Runs on the caller's `LocalSet`.
pub async fn open(addr: SocketAddr, n: usize, rate: f64, bar: &ProgressBar) -> Opened {
    let start = Instant::now();
    let (overflows, drops) = env::listen_drops();
    let shared = Rc::new(Shared {
        activity: Cell::new(start),
        last_established: Cell::new(start),
        connects: stats::histogram().into(),
        echoes: stats::histogram().into(),
        established: Cell::new(0),
    });
    let (give_up, given_up) = watch::channel(false);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        tokio::time::sleep_until((start + Duration::from_secs_f64(i as f64 / rate)).into()).await;
        tasks.push(tokio::task::spawn_local(open_one(
            addr,
            shared.clone(),
            given_up.clone(),
        )));
        bar.set_position(shared.established.get());
    }
    shared.activity.set(Instant::now());
    let paced = start.elapsed();
    let mut gave_up = false;
    while !tasks.iter().all(|t| t.is_finished()) {
        bar.set_position(shared.established.get());
        if shared.activity.get().elapsed() > STALL || start.elapsed() > paced + CAP {
            let _ = give_up.send(true);
            gave_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut opened = Opened {
        served: Vec::new(),
        unserved: Vec::new(),
        report: Connect::default(),
    };
    for task in tasks {
        match task.await {
            Ok(Outcome::Served(s)) => opened.served.push(s),
            Ok(Outcome::Unserved(s)) => opened.unserved.push(s),
            Ok(Outcome::Failed(why)) => *opened.report.failed.entry(why).or_default() += 1,
            Err(e) => {
                *opened
                    .report
                    .failed
                    .entry(format!("lab task: {e}"))
                    .or_default() += 1
            }
        }
    }
    let (overflows_after, drops_after) = env::listen_drops();
    let r = &mut opened.report;
    r.requested = n;
    r.established = opened.served.len() + opened.unserved.len();
    r.served = opened.served.len();
    r.latency = Latency::of(&shared.connects.borrow());
    r.first_echo = Latency::of(&shared.echoes.borrow());
    r.secs = (shared.last_established.get() - start).as_secs_f64();
    r.listen_overflows = overflows_after.saturating_sub(overflows);
    r.listen_drops = drops_after.saturating_sub(drops);
    r.gave_up = gave_up && r.served < n;
    opened
}

async fn open_one(
    addr: SocketAddr,
    shared: Rc<Shared>,
    mut given_up: watch::Receiver<bool>,
) -> Outcome {
    let begun = Instant::now();
    let connect = tokio::time::timeout(CONNECT_PATIENCE, TcpStream::connect(addr));
    let mut stream = tokio::select! {
        connected = connect => match connected {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                shared.activity.set(Instant::now());
                return Outcome::Failed(reason(&e));
            }
            Err(_) => {
                shared.activity.set(Instant::now());
                return Outcome::Failed(format!("no answer within {} s", CONNECT_PATIENCE.as_secs()));
            }
        },
        _ = given_up.wait_for(|&g| g) => return Outcome::Failed("still connecting when the lab gave up".into()),
    };
    let established = Instant::now();
    shared.activity.set(established);
    shared.last_established.set(established);
    shared.established.set(shared.established.get() + 1);
    stats::record(&mut shared.connects.borrow_mut(), established - begun);
    let _ = stream.set_nodelay(true);
    let mut echo = [0; LINE];
    let hello = async {
        stream.write_all(&line()).await?;
        stream.read_exact(&mut echo).await
    };
    let served = tokio::select! {
        done = hello => done.is_ok(),
        _ = given_up.wait_for(|&g| g) => false,
    };
    if !served {
        return Outcome::Unserved(stream);
    }
    let now = Instant::now();
    shared.activity.set(now);
    stats::record(&mut shared.echoes.borrow_mut(), now - established);
    Outcome::Served(stream)
}

/// Why a connect failed, in a few words that group alike failures.
fn reason(e: &io::Error) -> String {
    match (e.kind(), e.raw_os_error()) {
        (_, Some(libc::EMFILE | libc::ENFILE)) => "the lab ran out of descriptors".into(),
        (_, Some(libc::EADDRNOTAVAIL)) => "no local port left".into(),
        (io::ErrorKind::ConnectionRefused, _) => "refused".into(),
        (io::ErrorKind::ConnectionReset, _) => "reset".into(),
        (io::ErrorKind::TimedOut, _) => "timed out".into(),
        _ => e.to_string(),
    }
}
