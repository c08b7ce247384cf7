//! The shepherd: one small process per server under test, which owns that server's whole tree.
//!
//! The grader re-executes its own binary as `EXE __workbook-shepherd [LIMITS] -- PROGRAM ARGS`.
//! Why a separate process rather than threads in the grader:
//! - it is a child subreaper (`PR_SET_CHILD_SUBREAPER`), so every descendant of the server,
//!   even one that double-forked and called `setsid`, stays below it and can be found and
//!   killed; and it may reap with `waitpid(-1)` without stealing another check's statuses;
//! - its standard input is a socket to the grader. When the grader ends for any reason,
//!   `SIGKILL` included, that socket reads EOF and the shepherd kills the whole tree. Nothing
//!   is left behind, whatever happens to the grader.
//!
//! It also caps what the server may create (processes, threads, memory), sets resource limits
//! that the server inherits, and, when run as root, drops the server to a uid of its own so
//! that `RLIMIT_NPROC` binds (it does not bind root) and the server cannot signal the grader.
//!
//! What it says to the grader, and the grader to it, is in [`protocol`](super::protocol).

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{Pid, Uid};

use crate::contain::protocol::{Exit, Order, Status};
use crate::probe::procfs;

/// The first argument that turns any binary using [`crate::harness`] or the `workbook` CLI
/// into a shepherd.
pub const ARG: &str = "__workbook-shepherd";

/// Environment variable naming the run a server belongs to (`GRADERPID:N`), so that stray
/// processes can be recognised even if they escaped (they cannot while the shepherd lives).
pub const TAG_VAR: &str = "WORKBOOK_RUN";

/// Limits the shepherd enforces on a server's whole tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `RLIMIT_NOFILE` for the server (soft and hard).
    pub nofile: u64,
    /// Most processes the tree may have at once; past it the tree is killed.
    pub max_procs: usize,
    /// Most tasks (threads of all its processes) the tree may have at once.
    pub max_tasks: usize,
    /// Most resident memory the tree may use, in MiB.
    pub max_rss_mib: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            nofile: 4_096,
            max_procs: 300,
            max_tasks: 1_200,
            max_rss_mib: 1_024,
        }
    }
}

impl Limits {
    pub(crate) fn to_args(&self) -> Vec<String> {
        vec![
            self.nofile.to_string(),
            self.max_procs.to_string(),
            self.max_tasks.to_string(),
            self.max_rss_mib.to_string(),
        ]
    }

    fn from_args(args: &[String]) -> Option<Limits> {
        Some(Limits {
            nofile: args.first()?.parse().ok()?,
            max_procs: args.get(1)?.parse().ok()?,
            max_tasks: args.get(2)?.parse().ok()?,
            max_rss_mib: args.get(3)?.parse().ok()?,
        })
    }
}

/// Runs the shepherd if this process was started as one; returns otherwise.
///
/// Call it first thing in `main` of any program that grades (the CLI, the test harness).
pub fn run_if_requested() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some(ARG) {
        return;
    }
    let code = match parse(&args[2..]) {
        Some((limits, cwd, tag, program)) => shepherd(&limits, &cwd, &tag, &program),
        None => {
            eprintln!("workbook shepherd: malformed arguments {args:?}");
            2
        }
    };
    std::process::exit(code);
}

type Parsed = (Limits, String, String, Vec<String>);

fn parse(args: &[String]) -> Option<Parsed> {
    let split = args.iter().position(|a| a == "--")?;
    let (head, program) = (&args[..split], &args[split + 1..]);
    let limits = Limits::from_args(head)?;
    let cwd = head.get(4)?.clone();
    let tag = head.get(5)?.clone();
    (!program.is_empty()).then(|| (limits, cwd, tag, program.to_vec()))
}

/// How often the shepherd reaps and measures the tree.
const TICK: Duration = Duration::from_millis(25);

fn shepherd(limits: &Limits, cwd: &str, tag: &str, program: &[String]) -> i32 {
    let me = std::process::id() as i32;
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        say(Status::SpawnFailed(format!(
            "cannot become a subreaper: {e}"
        )));
        return 1;
    }
    // Limits set here are inherited by the server. Root ignores RLIMIT_NPROC, which is why
    // the server gets a uid of its own below; the watchdog counts as well in any case.
    let uid = Uid::effective().is_root().then(|| 200_000 + me as u32);
    let nproc = limits.max_tasks as u64 + uid.map_or_else(own_task_count, |_| 0);
    let _ = setrlimit(Resource::RLIMIT_NPROC, nproc, nproc);
    let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
    let _ = setrlimit(Resource::RLIMIT_FSIZE, 64 << 20, 64 << 20);
    let _ = setrlimit(Resource::RLIMIT_CPU, 300, 300);
    let _ = setrlimit(Resource::RLIMIT_NOFILE, limits.nofile, limits.nofile);

    let command = |exe: &str, drop_to: Option<u32>| {
        let mut cmd = Command::new(exe);
        cmd.arg0(&program[0])
            .args(&program[1..])
            .env_clear()
            .envs(std::env::vars().filter(|(k, _)| matches!(k.as_str(), "PATH" | "HOME" | "LANG")))
            .env(TAG_VAR, tag)
            .env("RUST_BACKTRACE", "0")
            .current_dir(cwd)
            .stdin(Stdio::null())
            .process_group(0);
        if let Some(id) = drop_to {
            // std also clears the supplementary groups when root drops to another uid.
            cmd.uid(id).gid(id);
        }
        cmd
    };
    let denied = |spawned: &io::Result<std::process::Child>| {
        uid.is_some() && matches!(spawned, Err(e) if e.kind() == io::ErrorKind::PermissionDenied)
    };
    let mut spawned = command(&program[0], uid).spawn();
    if denied(&spawned) {
        // The binary sits where the new uid cannot search (a private directory, /root): open
        // it here, as root, and let the new uid run it through that descriptor, which needs
        // no search permission on the directories above it.
        if let Some(binary) = native_binary(&program[0]) {
            spawned = command(&format!("/proc/self/fd/{}", binary.as_raw_fd()), uid).spawn();
        }
    }
    if denied(&spawned) {
        // Not even that (a script, or a file only root may run): run as root, and rely on
        // the watchdog alone.
        spawned = command(&program[0], None).spawn();
    }
    let server = match spawned {
        Ok(child) => child.id() as i32,
        Err(e) => {
            say(Status::SpawnFailed(format!("{}: {e}", program[0])));
            return 1;
        }
    };
    say(Status::Started(server));
    // Only now, so that the server keeps the ordinary priority: the shepherd must keep
    // running while a fork bomb fills both cores with thousands of runnable processes.
    // Lowering one's nice value needs root; elsewhere this fails and changes nothing.
    // SAFETY: setpriority only reads its integer arguments.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -20) };

    let mut reported_exit = false;
    loop {
        reap(server, &mut reported_exit);
        if let Some(over) = over_limit(me, limits) {
            // Said first, so that the grader explains the kill rather than reporting a
            // mysterious SIGKILL.
            say(Status::Limit(over));
            kill_tree(me, server, uid.map(Uid::from_raw), &mut reported_exit);
        }
        match read_order() {
            Heard::Nothing => {}
            Heard::Order(Order::Kill) => {
                kill_tree(me, server, uid.map(Uid::from_raw), &mut reported_exit);
                reap(server, &mut reported_exit);
                say(Status::Killed);
            }
            Heard::Eof => {
                kill_tree(me, server, uid.map(Uid::from_raw), &mut reported_exit);
                return 0;
            }
        }
    }
}

/// What one tick of listening to the grader brought.
enum Heard {
    Nothing,
    Order(Order),
    Eof,
}

/// Waits up to one tick for an order from the grader.
fn read_order() -> Heard {
    let stdin = io::stdin();
    let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::from(TICK.as_millis() as u16)) {
        Ok(0) | Err(Errno::EINTR) => return Heard::Nothing,
        Ok(_) => {}
        Err(_) => return Heard::Eof,
    }
    let mut buf = [0u8; 64];
    match nix::unistd::read(stdin.as_fd(), &mut buf) {
        Ok(0) | Err(_) => Heard::Eof,
        // Orders are short lines written at once: one read holds one whole.
        Ok(n) => match String::from_utf8_lossy(&buf[..n]).trim().parse() {
            Ok(order) => Heard::Order(order),
            Err(_) => Heard::Nothing,
        },
    }
}

/// Sends one line to the grader. A failure means the grader is gone: the next read of the
/// socket sees EOF and the tree is killed then.
fn say(status: Status) {
    let _ = nix::unistd::write(io::stdin(), format!("{status}\n").as_bytes());
}

/// Collects every child that has ended (orphans are reparented to us), reporting the
/// server's own exit once.
fn reap(server: i32, reported: &mut bool) {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid.as_raw() == server && !*reported => {
                *reported = true;
                say(Status::Exited(server, Exit::Code(code)));
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid.as_raw() == server && !*reported => {
                *reported = true;
                say(Status::Exited(server, Exit::Signal(sig as i32)));
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
            Err(Errno::EINTR) | Ok(_) => continue,
            Err(_) => return,
        }
    }
}

/// Names the cap the tree has exceeded, if any.
fn over_limit(me: i32, limits: &Limits) -> Option<String> {
    let tree = procfs::descendants(me);
    let procs = tree.iter().filter(|p| !p.is_zombie()).count();
    let tasks: usize = tree.iter().map(|p| p.threads).sum();
    let rss_mib = tree.iter().map(|p| p.rss_kib).sum::<u64>() / 1024;
    if procs > limits.max_procs {
        Some(format!(
            "{procs} processes at once (the cap is {}): the server was killed",
            limits.max_procs
        ))
    } else if tasks > limits.max_tasks {
        Some(format!(
            "{tasks} threads at once (the cap is {}): the server was killed",
            limits.max_tasks
        ))
    } else if rss_mib > limits.max_rss_mib {
        Some(format!(
            "{rss_mib} MiB of memory (the cap is {} MiB): the server was killed",
            limits.max_rss_mib
        ))
    } else {
        None
    }
}

/// Kills every process below the shepherd and reaps them all.
///
/// A loop, not one pass: a fork bomb creates processes while we kill. Each round kills the
/// server's process group, then (when the server has a uid of its own) every process of that
/// uid at once, then stops and kills each descendant a scan of `/proc` still finds (a
/// stopped process cannot fork; the scan catches those that left the group with `setsid`).
/// It ends when a fresh scan finds nothing alive below us.
fn kill_tree(me: i32, server: i32, uid: Option<Uid>, reaped: &mut bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Until the server is reaped its pid names its group, which cannot be reused; after
        // that the number could name a stranger's group, so only the scans below remain.
        if !*reaped {
            let _ = killpg(Pid::from_raw(server), Signal::SIGSTOP);
            let _ = killpg(Pid::from_raw(server), Signal::SIGKILL);
        }
        if let Some(uid) = uid {
            kill_uid(uid);
        }
        reap(server, reaped);
        let live: Vec<Pid> = procfs::descendants(me)
            .iter()
            .filter(|p| !p.is_zombie())
            .map(|p| Pid::from_raw(p.pid))
            .collect();
        if live.is_empty() || Instant::now() > deadline {
            break;
        }
        for &pid in &live {
            let _ = kill(pid, Signal::SIGSTOP);
        }
        for &pid in &live {
            let _ = kill(pid, Signal::SIGKILL);
        }
        reap(server, reaped);
        std::thread::sleep(Duration::from_millis(2));
    }
    while Instant::now() < deadline {
        reap(server, reaped);
        if procfs::descendants(me).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `path`, opened, if it names a native (ELF) executable. A script would not do: its
/// interpreter would have to open the path again, and the descriptor closes at exec.
fn native_binary(path: &str) -> Option<std::fs::File> {
    use std::io::Read;
    if !path.contains('/') {
        return None; // a name looked up in PATH, not a file we can open from here
    }
    let mut file = std::fs::File::open(path).ok()?;
    let mut magic = [0; 4];
    file.read_exact(&mut magic).ok()?;
    (magic == *b"\x7fELF").then_some(file)
}

/// Sends SIGKILL to every process of `uid` in one call: a child of ours takes that uid and
/// calls `kill(-1, SIGKILL)`, which the kernel applies to every process it may signal.
fn kill_uid(uid: Uid) {
    // Safe: the shepherd is single-threaded (it runs nothing but this loop), and the child
    // makes only async-signal-safe calls (setuid, kill, _exit).
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            if nix::unistd::setuid(uid).is_ok() {
                let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
            }
            // SAFETY: _exit ends the child at once, running no destructors or atexit code
            // inherited from the parent.
            unsafe { libc::_exit(0) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            let _ = waitpid(child, None);
        }
        Err(_) => {}
    }
}

/// Tasks this (unprivileged) user already runs: RLIMIT_NPROC counts them all, so the
/// server's allowance is added on top.
fn own_task_count() -> u64 {
    let uid = Uid::current().as_raw();
    procfs::by_uid(uid).iter().map(|p| p.threads as u64).sum()
}
