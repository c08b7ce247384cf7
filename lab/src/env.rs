//! The machine a run measured, said at the top of every report: figures from one machine
//! mean little on another, and on a small virtual machine where the server and the client
//! run matters more than anything else (a wakeup across two vCPUs costs tens of µs).
//!
//! Also the two things the lab changes about its own process before it measures: the
//! descriptor limit (the client holds every connection) and its CPU.

use std::fs;

use nix::sched::{sched_setaffinity, CpuSet};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// Where the server and the client ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub server: Option<usize>,
    pub client: Option<usize>,
}

impl Placement {
    /// Server on CPU 0 and client on CPU 1, when there are two CPUs and pinning is wanted.
    pub fn choose(pin: bool, cpus: usize) -> Placement {
        if pin && cpus >= 2 {
            Placement {
                server: Some(0),
                client: Some(1),
            }
        } else {
            Placement {
                server: None,
                client: None,
            }
        }
    }

    pub fn describe(&self) -> String {
        match (self.server, self.client) {
            (Some(s), Some(c)) => format!("server pinned to CPU {s}, client to CPU {c}"),
            _ => "not pinned: the scheduler placed server and client".into(),
        }
    }
}

/// Moves the calling thread to `cpu` (or lets it run anywhere, for `None`). Threads and
/// processes it starts afterwards inherit the choice: that is how a server is pinned
/// whole, every thread and child included, from its first instruction.
pub fn pin_current_thread(cpu: Option<usize>, cpus: usize) -> Result<(), String> {
    let mut set = CpuSet::new();
    let wanted: Vec<usize> = match cpu {
        Some(cpu) => vec![cpu],
        None => (0..cpus).collect(),
    };
    for cpu in wanted {
        set.set(cpu).map_err(|e| format!("no CPU {cpu}: {e}"))?;
    }
    sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| format!("cannot pin to {cpu:?}: {e}"))
}

/// Moves process `pid` (a shepherd: one thread) to `cpu`, in the idle scheduling class:
/// it then runs when that CPU has nothing else to do, in short turns otherwise. What it does
/// each tick is cheap for one process, not for 10,000 forked children (a tenth of a second
/// of reading `/proc`), and as an ordinary process it would stall the client on `cpu` that
/// long, every tick: a stall an open loop charges to the server.
pub fn move_to_background(pid: i32, cpu: Option<usize>) {
    if let Some(cpu) = cpu {
        let mut set = CpuSet::new();
        if set.set(cpu).is_ok() {
            let _ = sched_setaffinity(Pid::from_raw(pid), &set);
        }
    }
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid `sched_param` that outlives the call, which only reads
    // it (nix has no `sched_setscheduler`). On failure the shepherd stays as it was.
    let _ = unsafe { libc::sched_setscheduler(pid, libc::SCHED_IDLE, &param) };
}

/// The CPUs this process may use, counted before any pinning.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Raises this process's descriptor limit to at least `need` (the soft limit up to the hard
/// one; the hard one too where allowed, as for root), and returns the limits now in force.
/// An error says what to do: the lab never discovers `EMFILE` half-way through a drill.
pub fn raise_nofile(need: u64) -> Result<(u64, u64), String> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
    if hard < need {
        // Only a privileged process may raise its hard limit; try, and say so if not.
        let _ = setrlimit(Resource::RLIMIT_NOFILE, need, need);
    }
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
    let _ = setrlimit(Resource::RLIMIT_NOFILE, hard.max(soft), hard);
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
    if soft < need {
        return Err(format!(
            "the largest run needs {need} descriptors in the lab (one per client connection, \
             and as many again in the server), but this shell allows {soft} (hard limit \
             {hard}); raise it (`ulimit -n {need}`, or as root `ulimit -Hn {need}`) or ask for \
             fewer connections (--conns)"
        ));
    }
    Ok((soft, hard))
}

/// The environment header.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Env {
    pub kernel: String,
    pub cpu_model: String,
    pub cpus: usize,
    pub virtualized: bool,
    pub placement: Placement,
    pub nofile: (u64, u64),
    pub nproc: (u64, u64),
    /// `(name, value)` of the sysctls that bound a run: backlog, ports, processes, threads.
    pub sysctls: Vec<(String, String)>,
    /// `/proc/loadavg` before the run: other work on the machine skews every figure.
    pub loadavg: String,
}

const SYSCTLS: &[&str] = &[
    "net/core/somaxconn",
    "net/ipv4/ip_local_port_range",
    "net/ipv4/tcp_tw_reuse",
    "kernel/pid_max",
    "kernel/threads-max",
    "vm/max_map_count",
];

impl Env {
    pub fn read(cpus: usize, placement: Placement, nofile: (u64, u64)) -> Env {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            cpuinfo
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let nproc = getrlimit(Resource::RLIMIT_NPROC).unwrap_or((0, 0));
        Env {
            kernel: workbook::probe::procfs::kernel_release(),
            cpu_model: field("model name"),
            cpus,
            virtualized: field("flags").split_whitespace().any(|f| f == "hypervisor"),
            placement,
            nofile,
            nproc,
            sysctls: SYSCTLS
                .iter()
                .map(|name| {
                    let value = fs::read_to_string(format!("/proc/sys/{name}")).unwrap_or_default();
                    (
                        name.replace('/', "."),
                        value.split_whitespace().collect::<Vec<_>>().join(" "),
                    )
                })
                .collect(),
            loadavg: fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// The header, as Markdown lines.
    pub fn markdown(&self) -> String {
        let limit = |(soft, hard): (u64, u64)| {
            let show = |v: u64| {
                if v == u64::MAX {
                    "unlimited".to_string()
                } else {
                    v.to_string()
                }
            };
            format!("{} (hard {})", show(soft), show(hard))
        };
        let sysctls: Vec<String> = self
            .sysctls
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        format!(
            "- Linux {}, {} CPU(s): {}{}\n- {}\n- load average before the run: {}\n\
             - descriptors (`ulimit -n`): {}; processes (`ulimit -u`): {}\n- {}\n",
            self.kernel,
            self.cpus,
            self.cpu_model,
            if self.virtualized {
                ", virtualized"
            } else {
                ""
            },
            self.placement.describe(),
            self.loadavg,
            limit(self.nofile),
            limit(self.nproc),
            sysctls.join("; "),
        )
    }
}

/// `TcpExt: ListenOverflows` and `ListenDrops` from `/proc/net/netstat`: connections the
/// kernel dropped because a listen queue was full (the network namespace's, so every
/// server's; the lab runs one at a time).
pub fn listen_drops() -> (u64, u64) {
    let text = fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return (0, 0);
    };
    let find = |wanted: &str| {
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(name, _)| *name == wanted)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    };
    (find("ListenOverflows"), find("ListenDrops"))
}

/// The kernel's own memory that grows with connections, in KiB, from `/proc/meminfo`:
/// slab (sockets, and the task structs of threads and processes), kernel stacks and page
/// tables. System-wide: it counts both ends of every loopback connection.
pub fn kernel_kib() -> u64 {
    let text = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .filter(|l| {
            ["Slab:", "KernelStack:", "PageTables:"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}
