//! A process's threads: what each is doing (its state, where it sleeps, its system call)
//! and the CPU time they have used.

use std::fs;
use std::path::Path;

use nix::time::{clock_getcpuclockid, clock_gettime};
use nix::unistd::Pid;

use super::fields_of;

/// Where in the kernel `pid` sleeps (`/proc/PID/wchan`: `do_wait`, `inet_csk_accept`, ...),
/// if it sleeps somewhere the kernel names.
pub fn wchan(pid: i32) -> Option<String> {
    wchan_at(Path::new(&format!("/proc/{pid}")))
}

/// The `wchan` of the process or thread whose `/proc` directory is `dir`.
fn wchan_at(dir: &Path) -> Option<String> {
    let wchan = fs::read_to_string(dir.join("wchan")).ok()?;
    (!wchan.is_empty() && wchan != "0").then_some(wchan)
}

/// One thread of a process, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Its thread id (the process's own pid for the main thread).
    pub tid: i32,
    /// `R` (running or ready to), `S` (asleep), `T` (stopped), ...
    pub state: char,
    /// Where in the kernel it sleeps, as [`wchan`] says.
    pub wchan: Option<String>,
    /// CPU time it has used, in nanoseconds (`/proc/PID/task/TID/schedstat`).
    pub cpu_ns: u64,
    /// Time it has spent runnable but waiting for a CPU, in nanoseconds (`schedstat` too).
    pub wait_ns: u64,
}

impl Task {
    /// Whether it sleeps in `epoll_wait` (the kernel's `do_epoll_wait`, or `ep_poll` on
    /// older kernels): an event loop waiting for its sockets.
    pub fn in_epoll_wait(&self) -> bool {
        self.state == 'S' && matches!(self.wchan.as_deref(), Some("do_epoll_wait" | "ep_poll"))
    }
}

/// Every thread of `pid` (empty if it is gone).
pub fn tasks(pid: i32) -> Vec<Task> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|task| {
            let path = task.path();
            let state = fields_of(path.join("stat").to_str()?)?
                .first()?
                .chars()
                .next()?;
            let (cpu_ns, wait_ns) = schedstat(&path).unwrap_or((0, 0));
            Some(Task {
                tid: task.file_name().to_str()?.parse().ok()?,
                state,
                wchan: wchan_at(&path),
                cpu_ns,
                wait_ns,
            })
        })
        .collect()
}

/// The CPU time of the thread whose `/proc` directory is `dir`, and the time it waited for a
/// CPU, in nanoseconds: the first two fields of its `schedstat`. (`stat`'s `utime` and
/// `stime` count whole clock ticks, 10 ms here, too coarse for a thread that runs a few
/// milliseconds.)
fn schedstat(dir: &Path) -> Option<(u64, u64)> {
    let text = fs::read_to_string(dir.join("schedstat")).ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse().ok());
    Some((fields.next()??, fields.next()??))
}

/// The sockets `pid`'s threads are blocked reading, each with the thread: a thread whose
/// current system call (`/proc/PID/task/TID/syscall`) is a read on a descriptor that is a
/// socket. That thread is the one serving the connection: the direct answer to "who serves
/// this client", whatever the process tree looks like.
pub fn reading_sockets(pid: i32) -> Vec<(i32, u64)> {
    const READS: [libc::c_long; 4] = [
        libc::SYS_read,
        libc::SYS_readv,
        libc::SYS_recvfrom,
        libc::SYS_recvmsg,
    ];
    let tasks = fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten();
    tasks
        .filter_map(|task| {
            let tid: i32 = task.file_name().to_str()?.parse().ok()?;
            let call = fs::read_to_string(task.path().join("syscall")).ok()?;
            let mut words = call.split_whitespace();
            let nr: libc::c_long = words.next()?.parse().ok()?;
            let fd = i64::from_str_radix(words.next()?.trim_start_matches("0x"), 16).ok()?;
            if !READS.contains(&nr) {
                return None;
            }
            let to = fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
            let inode = to.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some((tid, inode.parse().ok()?))
        })
        .collect()
}

/// CPU time `pid` has used, in nanoseconds: all its threads together, those that have
/// ended included (a server that starts a thread per job must not seem to do no work),
/// read from the process's CPU clock. One system call, however many threads: summing each
/// thread's `schedstat` read 10,000 files for a thread-per-connection server, and `stat`'s
/// `utime` and `stime` count in clock ticks (10 ms here).
pub fn cpu_ns(pid: i32) -> Option<u64> {
    let clock = clock_getcpuclockid(Pid::from_raw(pid)).ok()?;
    let t = clock_gettime(clock).ok()?;
    Some(t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
}
