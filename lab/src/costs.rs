//! `lab costs`: what the choices cost on this machine, measured rather than quoted. The seeds
//! repeat folklore ("a context switch costs 5–10 ms", "a thread takes megabytes"); the
//! choosing chapter quotes these figures instead.
//!
//! - a context switch: two threads, or two processes, bouncing a byte over a pair of pipes,
//!   on one CPU (each round trip is two switches) and on two;
//! - a system call (`getppid`), the floor under every step above;
//! - a fork: `fork`, the child's `_exit`, the parent's `waitpid`, from a small process and
//!   from one that has touched 256 MiB (the kernel copies its page tables);
//! - a thread: spawning and joining one, and what an idle one holds (its RSS, kernel stack
//!   and page tables);
//! - a forked child, idle: its RSS, and what it really adds (PSS, private dirty pages).
//!
//! This process forks only while it has a single thread, and its children call only
//! async-signal-safe functions (`read`, `write`, `_exit`) before they exit.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::wait::waitpid;
use nix::unistd::{fork, getppid, pipe, read, write, ForkResult};
use serde::{Deserialize, Serialize};

use crate::env::{cpus, pin_current_thread};
use crate::stats::{bytes, micros};

/// One measured cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cost {
    pub what: String,
    /// The figure, for a person.
    pub value: String,
    /// How it was measured.
    pub how: String,
}

pub fn main(out: PathBuf) -> Result<bool, String> {
    let cpus = cpus();
    let (a, b) = (Some(0), Some(if cpus > 1 { 1 } else { 0 }));
    let mut costs = Vec::new();
    let mut add = |what: &str, value: String, how: &str| {
        eprintln!("lab costs: {what}: {value}");
        costs.push(Cost {
            what: what.into(),
            value,
            how: how.into(),
        });
    };
    let io = |e: nix::Error| format!("a cost measurement failed: {e}");
    let rt = |n: u64, d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    const BOUNCES: u64 = 20_000;

    type PingPong = fn(Option<usize>, Option<usize>, usize, u64) -> nix::Result<Duration>;
    let pairs: [(&str, PingPong, &str); 2] = [
        (
            "threads",
            ping_pong_threads,
            "pipe ping-pong, 20,000 round trips; a round trip is two switches",
        ),
        (
            "processes",
            ping_pong_processes,
            "pipe ping-pong between a process and its child, 20,000 round trips",
        ),
    ];
    for (who, ping_pong, how) in pairs {
        let one = ping_pong(a, a, cpus, BOUNCES).map_err(io)?;
        add(
            &format!("context switch, two {who} on one CPU"),
            format!("{:.1} µs", rt(BOUNCES, one) / 2.0),
            how,
        );
        let two = ping_pong(a, b, cpus, BOUNCES).map_err(io)?;
        add(
            &format!("wakeup across CPUs, two {who}"),
            format!("{:.1} µs per round trip", rt(BOUNCES, two)),
            &format!("the same, one of the {who} on each CPU: each wakeup crosses to an idle CPU"),
        );
    }
    pin_current_thread(None, cpus)?;

    let start = Instant::now();
    for _ in 0..1_000_000 {
        std::hint::black_box(getppid());
    }
    add(
        "system call (getppid)",
        format!("{:.0} ns", start.elapsed().as_secs_f64() * 1e9 / 1e6),
        "1,000,000 calls",
    );

    let small = fork_cycle(500).map_err(io)?;
    add(
        "fork + exit + wait, small process",
        micros(small),
        "median of 500; the parent holds a few MiB",
    );
    let mut big = vec![0u8; 256 << 20];
    for page in big.chunks_mut(4096) {
        page[0] = 1;
    }
    let large = fork_cycle(20).map_err(io)?;
    drop(std::hint::black_box(big));
    add(
        "fork + exit + wait, 256 MiB process",
        micros(large),
        "median of 20; the parent has touched 256 MiB, whose page tables fork copies",
    );

    let spawn = thread_spawn(2_000);
    add("thread spawn + join", micros(spawn), "median of 2,000");
    let (rss, kernel) = idle_threads(1_000).map_err(io)?;
    add(
        "idle thread, user memory (RSS)",
        bytes(rss),
        "1,000 threads blocked in read(); VmRSS growth / 1,000",
    );
    add(
        "idle thread, kernel memory",
        bytes(kernel),
        "KernelStack + PageTables growth in /proc/meminfo / 1,000",
    );
    let (rss, pss, dirty) = idle_children(200).map_err(io)?;
    add(
        "idle forked child, RSS",
        bytes(rss),
        "200 children of this process blocked in read(); RSS counts shared pages in each",
    );
    add(
        "idle forked child, PSS",
        bytes(pss),
        "the same children: shared pages split between sharers",
    );
    add(
        "idle forked child, private dirty",
        bytes(dirty),
        "the pages each child alone holds (smaps_rollup Private_Dirty)",
    );

    let md = markdown(&costs);
    println!("{md}");
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(&costs).map_err(|e| e.to_string())?;
    fs::write(out.join("costs.json"), json).map_err(|e| e.to_string())?;
    fs::write(out.join("costs.md"), md).map_err(|e| e.to_string())?;
    eprintln!("lab costs: results in {}", out.display());
    Ok(true)
}

pub fn markdown(costs: &[Cost]) -> String {
    let mut t = String::from("| cost | measured here | how |\n|---|---|---|\n");
    for c in costs {
        t.push_str(&format!("| {} | {} | {} |\n", c.what, c.value, c.how));
    }
    t
}

/// Bounces one byte `n` times between this thread (on `mine`) and another (on `theirs`).
fn ping_pong_threads(
    mine: Option<usize>,
    theirs: Option<usize>,
    cpus: usize,
    n: u64,
) -> nix::Result<Duration> {
    let (to_r, to_w) = pipe()?;
    let (from_r, from_w) = pipe()?;
    let echo = std::thread::spawn(move || {
        let _ = pin_current_thread(theirs, cpus);
        bounce(&to_r, &from_w, n)
    });
    let _ = pin_current_thread(mine, cpus);
    let start = Instant::now();
    serve(&from_r, &to_w, n)?;
    let took = start.elapsed();
    echo.join().map_err(|_| nix::Error::EIO)??;
    Ok(took)
}

/// The same between this process and a child.
fn ping_pong_processes(
    mine: Option<usize>,
    theirs: Option<usize>,
    cpus: usize,
    n: u64,
) -> nix::Result<Duration> {
    let (to_r, to_w) = pipe()?;
    let (from_r, from_w) = pipe()?;
    let _ = pin_current_thread(theirs, cpus);
    // Safe: this process has one thread, and the child only reads, writes and exits.
    match unsafe { fork() }? {
        ForkResult::Child => {
            let ok = bounce(&to_r, &from_w, n).is_ok();
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        ForkResult::Parent { child } => {
            drop((to_r, from_w));
            let _ = pin_current_thread(mine, cpus);
            let start = Instant::now();
            let served = serve(&from_r, &to_w, n);
            let took = start.elapsed();
            waitpid(child, None)?;
            served.map(|()| took)
        }
    }
}

/// Sends a byte, waits for it back, `n` times.
fn serve(from: &OwnedFd, to: &OwnedFd, n: u64) -> nix::Result<()> {
    let mut byte = [0u8];
    for _ in 0..n {
        write(to.as_fd(), b"x")?;
        read(from.as_fd(), &mut byte)?;
    }
    Ok(())
}

/// Waits for a byte, sends it back, `n` times.
fn bounce(from: &OwnedFd, to: &OwnedFd, n: u64) -> nix::Result<()> {
    let mut byte = [0u8];
    for _ in 0..n {
        read(from.as_fd(), &mut byte)?;
        write(to.as_fd(), &byte)?;
    }
    Ok(())
}

/// The median of `n` cycles of fork, the child's `_exit`, and `waitpid`, in µs.
fn fork_cycle(n: usize) -> nix::Result<u64> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        // Safe: one thread here, and the child only exits.
        match unsafe { fork() }? {
            ForkResult::Child => unsafe { libc::_exit(0) },
            ForkResult::Parent { child } => {
                waitpid(child, None)?;
            }
        }
        times.push(start.elapsed().as_micros() as u64);
    }
    Ok(median(times))
}

fn thread_spawn(n: usize) -> u64 {
    let times = (0..n)
        .map(|_| {
            let start = Instant::now();
            let _ = std::thread::spawn(|| {}).join();
            start.elapsed().as_micros() as u64
        })
        .collect();
    median(times)
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// `n` idle threads, each blocked reading its own pipe: (RSS, kernel) bytes per thread.
fn idle_threads(n: usize) -> nix::Result<(f64, f64)> {
    let (rss0, kernel0) = (self_rss_kib(), stack_and_tables_kib());
    let mut threads = Vec::with_capacity(n);
    for _ in 0..n {
        let (r, w) = pipe()?;
        let t = std::thread::spawn(move || {
            let mut byte = [0u8];
            // Returns at EOF, when the writer below is dropped.
            let _ = read(r.as_fd(), &mut byte);
        });
        threads.push((t, w));
    }
    std::thread::sleep(Duration::from_millis(300));
    let per = |after: u64, before: u64| after.saturating_sub(before) as f64 * 1024.0 / n as f64;
    let measured = (
        per(self_rss_kib(), rss0),
        per(stack_and_tables_kib(), kernel0),
    );
    for (t, w) in threads {
        drop(w);
        let _ = t.join();
    }
    Ok(measured)
}

/// `n` idle children, each blocked reading a pipe: (RSS, PSS, private dirty) bytes each.
fn idle_children(n: usize) -> nix::Result<(f64, f64, f64)> {
    let (r, w) = pipe()?;
    let mut children = Vec::with_capacity(n);
    for _ in 0..n {
        // Safe: one thread here; the child only reads (until EOF) and exits.
        match unsafe { fork() }? {
            ForkResult::Child => {
                drop(w);
                let mut byte = [0u8];
                let _ = read(r.as_fd(), &mut byte);
                unsafe { libc::_exit(0) }
            }
            ForkResult::Parent { child } => children.push(child),
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let field = |pid: nix::unistd::Pid, name: &str| -> f64 {
        let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        let kib: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        kib as f64 * 1024.0
    };
    let avg = |name: &str| children.iter().map(|&c| field(c, name)).sum::<f64>() / n as f64;
    let measured = (avg("Rss:"), avg("Pss:"), avg("Private_Dirty:"));
    drop(w);
    drop(r);
    for child in children {
        waitpid(child, None)?;
    }
    Ok(measured)
}

fn self_rss_kib() -> u64 {
    workbook::probe::procfs::read(std::process::id() as i32).map_or(0, |p| p.rss_kib)
}

fn stack_and_tables_kib() -> u64 {
    let text = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("KernelStack:") || l.starts_with("PageTables:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}
