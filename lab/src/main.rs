//! `lab`: what a connection costs each server, measured on this machine.
//!
//! ```text
//! cargo run --release -p workbook-lab                        # epoll against tokio
//! cargo run --release -p workbook-lab -- threaded epoll tokio --idle 10000
//! cargo run --release -p workbook-lab -- -- target/release/exercise-epoll
//! ```
//!
//! For each server, in one run and with the same client:
//! - **memory per idle connection**: the server's proportional set size (PSS, summed over
//!   its processes, so a forked child's pages shared with its parent count once) after
//!   `--idle` connections that have each sent one line and now wait, less its main process's
//!   before any client (a pool's workers, forked at start, count as the connections' cost:
//!   each holds one). The kernel's own socket memory (about 3.2 KiB a socket) is not in it:
//!   it is the same for every server.
//! - **echo rate**: `--conns` connections each send a 64-byte line and wait for its echo,
//!   over and over (a closed loop), for `--secs` after a second of warm-up; with the
//!   round-trip times' median and 99th percentile, and the server's CPU time per echo.
//!
//! Numbers from one machine mean little on another, and on two cores the client competes
//! with the server: so the server is pinned to CPU 0 and the client to CPU 1, and the tokio
//! reference runs in the same session. Read the ratios, not the absolute figures.

mod load;
mod serve;

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use nix::sched::{sched_setaffinity, CpuSet};
use nix::unistd::Pid;

use workbook::contain::server::{Program, Server};
use workbook::contain::shepherd::{self, Limits};
use workbook::drive::client::thousands;
use workbook::probe::procfs;

#[derive(Parser)]
#[command(about = "Measures memory per idle connection and echo rate, against tokio")]
struct Cli {
    /// Servers to measure: forking, threaded, epoll, prefork, thread-pool, multi-reactor, async
    /// (the reference solutions), tokio (a tokio `current_thread` echo, the yardstick for one loop)
    /// or tokio-mt (tokio's `multi_thread` runtime, the yardstick for several).
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(serve::NAMES))]
    servers: Vec<String>,
    /// Idle connections for the memory measurement.
    #[arg(long, default_value_t = 1_000)]
    idle: usize,
    /// Busy connections for the echo rate.
    #[arg(long, default_value_t = 1_000)]
    conns: usize,
    /// Seconds of measured load, after one of warm-up.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// `--workers`, passed to every server: the multi-reactor's loops and tokio-mt's workers
    /// (default 2); the pools' workers (prefork, thread-pool), by default one for every
    /// connection of the larger phase, since a pool serves only as many connections at once
    /// as it has workers and the lab keeps all of them open.
    #[arg(long)]
    workers: Option<usize>,
    /// Let the scheduler place server and client (by default: server on CPU 0, client on 1).
    #[arg(long)]
    no_pin: bool,
    /// Measure this program instead (it must follow the contract), beside the tokio yardstick.
    #[arg(last = true)]
    program: Vec<OsString>,
}

fn main() -> ExitCode {
    shepherd::run_if_requested();
    if let Some(code) = serve::run_if_requested() {
        return code;
    }
    let cli = Cli::parse();
    let mut targets: Vec<(String, Program)> = Vec::new();
    let me = match std::env::current_exe() {
        Ok(me) => me,
        Err(e) => {
            eprintln!("lab: cannot find its own executable: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(program) = Program::from_command(&cli.program) {
        targets.push((program.display(), program));
    }
    let mut names = cli.servers.clone();
    if names.is_empty() {
        names = if targets.is_empty() {
            vec!["epoll".into(), "tokio".into()]
        } else {
            vec!["tokio".into()]
        };
    }
    for name in names {
        let mut program = Program::new(&me);
        let workers = match cli.workers {
            Some(n) => n,
            None if serve::POOLS.contains(&name.as_str()) => cli.idle.max(cli.conns),
            None => 2,
        }
        .to_string();
        program.args = [serve::ARG, &name, "--workers", &workers]
            .map(OsString::from)
            .to_vec();
        let label = match name.as_str() {
            "tokio" => "tokio current_thread".to_string(),
            "tokio-mt" => format!("tokio multi_thread, {workers} workers"),
            "multi-reactor" => format!("solution-multi-reactor, {workers} loops"),
            _ => format!("solution-{name}"),
        };
        targets.push((label, program));
    }

    // Counted before pinning, which would leave this thread one CPU to see.
    let cpus = cpus();
    let pin = !cli.no_pin && cpus >= 2;
    if pin {
        // The client runs in this thread; the server, once started, on CPU 0.
        let _ = sched_setaffinity(Pid::from_raw(0), &cpu_set(1));
    }
    raise_nofile();
    print_header(&cli, cpus, pin);
    let mut failed = false;
    for (label, program) in &targets {
        match measure(program, &cli, pin) {
            Ok(row) => println!("{}", row.render(label)),
            Err(e) => {
                println!("| {label} | failed: {e} | | | | |");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One server's figures.
struct Row {
    idle_bytes: f64,
    rate: load::Rate,
    cpu_per_echo: Duration,
    server_cpu: f64,
}

impl Row {
    fn render(&self, label: &str) -> String {
        format!(
            "| {label} | {} B | {} req/s | {} µs | {} µs | {:.1} µs ({:.0}% of a CPU) |",
            thousands(self.idle_bytes.round() as u64),
            thousands(self.rate.per_second().round() as u64),
            thousands(self.rate.p50.as_micros() as u64),
            thousands(self.rate.p99.as_micros() as u64),
            self.cpu_per_echo.as_secs_f64() * 1e6,
            self.server_cpu * 100.0
        )
    }
}

fn measure(program: &Program, cli: &Cli, pin: bool) -> Result<Row, String> {
    // Room for both phases at once: the idle connections' processes or threads may still
    // be ending while the busy ones start.
    let most = cli.idle + cli.conns;
    let limits = Limits {
        nofile: most as u64 + 64,
        max_procs: most + 50,
        max_tasks: most + 100,
        max_rss_mib: 4_096,
        ..Limits::default()
    };
    let server = Server::start(program, &limits).map_err(|v| v.message)?;
    // Settled first, so that a pool's workers, forked at start, are all there to be pinned
    // and measured: a process forked later inherits its parent's CPU.
    settled_pss(&server);
    if pin {
        pin_server(&server)?;
    }
    let died = |what: &str, e: String| match (server.limit(), server.exit()) {
        (Some(limit), _) => format!("{what}: the lab's shepherd stopped the server: {limit}"),
        (None, Some(exit)) => format!("{what}: the server ended ({exit})"),
        (None, None) => format!("{what}: {e}"),
    };

    // What the server holds with no client: its main process alone. For most servers that
    // is all there is; a pool's workers exist before any client, but each idle connection
    // holds a worker of its own, so they are the connections' cost. (After the forks the
    // main process shares its pages with the workers, and its PSS is smaller than it was
    // alone: the figure is overstated by that difference, under 1% for prefork here.)
    let before = procfs::pss_kib(server.pid()).unwrap_or(0);
    let idle = load::open_idle(server.addr(), cli.idle)
        .map_err(|e| died("idle connections", e.to_string()))?;
    let after = settled_pss(&server);
    drop(idle);
    let idle_bytes = after.saturating_sub(before) as f64 * 1024.0 / cli.idle.max(1) as f64;

    // Again: the threads a server starts after announcing (its loops, a runtime's workers)
    // are all there by now.
    if pin {
        pin_server(&server)?;
    }
    let mut samples = Vec::new();
    let rate = load::closed_loop(
        server.addr(),
        cli.conns,
        Duration::from_secs(1),
        Duration::from_secs(cli.secs),
        || samples.push((Instant::now(), tree_cpu_ns(&server))),
    )
    .map_err(|e| died("echo load", e.to_string()))?;
    let (window, cpu) = match samples[..] {
        [(t0, c0), (t1, c1)] => (t1 - t0, Duration::from_nanos(c1.saturating_sub(c0))),
        _ => return Err("the load did not report its window".into()),
    };
    Ok(Row {
        idle_bytes,
        rate,
        cpu_per_echo: cpu / rate.requests.max(1) as u32,
        server_cpu: cpu.as_secs_f64() / window.as_secs_f64(),
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

/// CPU time used by the server's processes (all their threads), in nanoseconds. Only the
/// living count: in a closed loop no connection ends, so neither does any process serving one.
fn tree_cpu_ns(server: &Server) -> u64 {
    server
        .tree()
        .iter()
        .filter_map(|p| procfs::cpu_ns(p.pid))
        .sum()
}

/// Confines every thread of the server's processes to CPU 0 (a thread started later by one of
/// them inherits it): the affinity belongs to each thread, not to the process.
fn pin_server(server: &Server) -> Result<(), String> {
    for process in server.tree() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", process.pid)) else {
            continue; // gone meanwhile
        };
        for tid in tasks
            .flatten()
            .filter_map(|t| t.file_name().to_str()?.parse().ok())
        {
            sched_setaffinity(Pid::from_raw(tid), &cpu_set(0))
                .map_err(|e| format!("cannot pin the server's thread {tid} to CPU 0: {e}"))?;
        }
    }
    Ok(())
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn cpu_set(cpu: usize) -> CpuSet {
    let mut set = CpuSet::new();
    let _ = set.set(cpu);
    set
}

/// The client holds every connection too: take the hard limit on descriptors.
fn raise_nofile() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

fn print_header(cli: &Cli, cpus: usize, pin: bool) {
    let kernel = procfs::kernel_release();
    println!(
        "Linux {}, {} CPUs; {}.",
        kernel.trim(),
        cpus,
        if pin {
            "server pinned to CPU 0, client to CPU 1"
        } else {
            "not pinned"
        }
    );
    println!(
        "Memory: PSS added by {} idle connections, per connection (the kernel's ~3.2 KiB per \
         socket not included). Load: {} connections, {}-byte lines, closed loop, {} s after 1 s \
         of warm-up.\n",
        cli.idle,
        cli.conns,
        load::LINE,
        cli.secs
    );
    println!(
        "| server | memory per idle connection | echo rate | p50 | p99 | server CPU per echo |"
    );
    println!("|---|---|---|---|---|---|");
}
