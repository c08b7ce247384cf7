//! One cell of the drill: one server at one number of connections, in a fresh process.
//!
//! 1. Start the server pinned (its shepherd, and so the server and all it starts, inherit
//!    the server's CPU) and read its memory at rest.
//! 2. Open the connections at a paced rate, each echoing one line (`connect.rs`).
//! 3. Read its memory again, once it has settled: per connection, user memory (PSS, summed
//!    over its processes) and the kernel's (slab, kernel stacks, page tables); its
//!    processes, threads and descriptors.
//! 4. A closed loop, then an open loop at each rate, on the connections that were served
//!    (`load.rs`), with the server's and the client's CPU time over each window.
//! 5. Classify (`classify.rs`) and kill the server's whole tree.

use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use workbook::contain::server::Server;
use workbook::contain::shepherd::Limits;
use workbook::probe::procfs;

use crate::classify::{classify, Class, Facts};
use crate::connect::{self, Connect};
use crate::env::{self, pin_current_thread, Placement};
use crate::load::{self, Load, Shape};
use crate::sample::Sampler;
use crate::targets::Target;

/// How a run measures each cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub conns: Vec<usize>,
    pub warmup_secs: f64,
    pub window_secs: f64,
    /// The open loop's rates, requests a second in all.
    pub rates: Vec<f64>,
    /// Connects a second.
    pub connect_rate: f64,
    /// Above this, an open loop's p99 makes a cell degraded.
    pub p99_bound_us: u64,
    pub work_micros: u64,
    pub workers: Option<usize>,
    pub placement: Placement,
    pub cpus: usize,
}

/// What one cell measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    pub conns: usize,
    pub class: Class,
    pub why: String,
    pub connect: Connect,
    pub memory: Memory,
    pub closed: Option<Load>,
    pub open: Vec<Load>,
    /// The server's living processes, their threads, and their descriptors, with every
    /// connection open.
    pub processes: usize,
    pub threads: usize,
    pub fds: usize,
    /// How long the cell took, start to kill.
    pub secs: f64,
}

/// Memory per connection, in bytes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Memory {
    pub pss_before_kib: u64,
    pub pss_after_kib: u64,
    /// The server's own memory per connection (PSS).
    pub user: f64,
    /// The kernel's, system-wide, per connection: both ends' sockets (about 3.2 KiB
    /// each here), and whatever the server's threads or processes add.
    pub kernel: f64,
}

/// Measures `target` with `n` connections.
pub fn measure(target: &Target, n: usize, s: &Settings, bar: &ProgressBar) -> Result<Cell, String> {
    let begun = Instant::now();
    let limits = Limits {
        // The server holds a descriptor per connection, a thread-per-connection server a
        // thread, a forking one a process: room for all, so that only a real limit caps.
        nofile: n as u64 + 64,
        max_procs: n + 50,
        max_tasks: n + 100,
        // Summed RSS counts a forked child's shared pages once per child (10,000 children
        // of ~600 KiB): a bound far above what they really hold, to catch only a runaway.
        max_rss_mib: 16 * 1024,
        // The shepherd reads /proc for every process of the tree each time it checks the
        // caps: every 25 ms would cost 10,000 forked children most of a CPU.
        tick_ms: 1_000,
        // Counting memfds reads every descriptor: 40 ms on end at 10,000 connections, on
        // the client's CPU (below). Once in a window, that stall was every server's p99 at
        // 10,000 connections (20 to 60 ms). Memory is still capped, memfds aside.
        memfd_every: 0,
        ..Limits::default()
    };
    pin_current_thread(s.placement.server, s.cpus)?;
    let started = Server::start(&target.program, &limits);
    pin_current_thread(s.placement.client, s.cpus)?;
    let server = started.map_err(|v| format!("could not start: {}", v.message))?;
    // The shepherd (started on the server's CPU, so that the server inherits it) moves to
    // the client's, in the background: what it spends is taken from neither.
    env::move_to_background(server.shepherd_pid(), s.placement.client);

    let pss_before = settled_pss(&server);
    let kernel_before = env::kernel_kib();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot make the client's runtime: {e}"))?;
    let local = tokio::task::LocalSet::new();
    let window = Duration::from_secs_f64(s.window_secs);
    let warmup = Duration::from_secs_f64(s.warmup_secs);

    let measured = std::thread::scope(|scope| {
        let cpu = Sampler::spawn(scope, || server.cpu_ns());
        local.block_on(&runtime, async {
            bar.set_length(n as u64);
            bar.set_message("connecting");
            let opened = connect::open(server.addr(), n, s.connect_rate, bar).await;
            let established = opened.report.established.max(1) as f64;
            let pss_after = settled_pss(&server);
            let memory = Memory {
                pss_before_kib: pss_before,
                pss_after_kib: pss_after,
                user: pss_after.saturating_sub(pss_before) as f64 * 1024.0 / established,
                kernel: env::kernel_kib().saturating_sub(kernel_before) as f64 * 1024.0
                    / established,
            };
            let tree = server.tree();
            let alive: Vec<_> = tree.iter().filter(|p| !p.is_zombie()).collect();
            let tree = (
                alive.len(),
                alive.iter().map(|p| p.threads).sum::<usize>(),
                server.fds().unwrap_or(0),
            );
            let mut streams = opened.served;
            let mut closed = None;
            let mut open = Vec::new();
            if !streams.is_empty() {
                bar.set_message("closed loop");
                let (kept, load) = load::run(streams, Shape::Closed, warmup, window, &cpu).await;
                (streams, closed) = (kept, Some(load));
                for &rate in &s.rates {
                    // Every connection failed or got stuck: nothing is left to load.
                    if streams.is_empty() {
                        break;
                    }
                    bar.set_message(format!("open loop at {rate}/s"));
                    let (kept, load) =
                        load::run(streams, Shape::Open(rate), warmup, window, &cpu).await;
                    streams = kept;
                    open.push(load);
                }
            }
            // Held open until every load has run: the server had all n the whole time.
            drop(opened.unserved);
            (opened.report, memory, tree, closed, open)
        })
    });
    let (connect, memory, tree, closed, open) = measured;
    let exit = server.exit().map(|exit| {
        let tail = server.stderr_tail();
        let last = tail
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        format!("{exit}; its stderr ended: {last:?}")
    });
    let (class, why) = classify(&Facts {
        limit: server.limit(),
        exit,
        connect: &connect,
        closed: closed.as_ref(),
        open: &open,
        p99_bound_us: s.p99_bound_us,
    });
    drop(server);
    Ok(Cell {
        conns: n,
        class,
        why,
        connect,
        memory,
        closed,
        open,
        processes: tree.0,
        threads: tree.1,
        fds: tree.2,
        secs: begun.elapsed().as_secs_f64(),
    })
}

/// The server's PSS in KiB, summed over its processes, once it has stopped changing (for
/// 200 ms, within 3 s): memory is freed and faulted in a little after the clients act.
fn settled_pss(server: &Server) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut last = tree_pss(server);
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_millis(200) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        let now = tree_pss(server);
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    last
}

fn tree_pss(server: &Server) -> u64 {
    server
        .tree()
        .iter()
        .filter_map(|p| procfs::pss_kib(p.pid))
        .sum()
}
