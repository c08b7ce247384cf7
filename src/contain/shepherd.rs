//! The shepherd: one small process per server under test, which owns that server's whole tree.
//!
//! The grader re-executes its own binary as `EXE __workbook-shepherd LIMITS CWD TAG --
//! PROGRAM ARGS`. Why a separate process rather than threads in the grader:
//! - it may reap the whole tree with `waitpid(-1)` without stealing another check's statuses;
//! - its standard input is a socket to the grader. When the grader ends for any reason,
//!   `SIGKILL` included, that socket reads EOF and the shepherd kills the whole tree. Nothing
//!   is left behind, whatever happens to the grader.
//!
//! The tree lives in namespaces of its own ([`fence`](super::fence)) wherever the kernel
//! allows an ordinary user to make them: there the server can neither see nor signal the
//! grader, writes only to a private, capped `/tmp`, and dies entirely when its namespace's
//! init is killed. Elsewhere the tree is [plain](super::plain), as before namespaces, and
//! the shepherd tells the grader why ([`Status::Unfenced`]).
//!
//! Either way the shepherd caps what the tree may hold (processes, threads, memory: polled
//! every tick, and for memory also a [cgroup](super::memcg) where one can be made), sets
//! resource limits the server inherits, and, when run as root, runs the server under a uid
//! no process uses, so that `RLIMIT_NPROC` binds. It never blocks without a deadline: it
//! waits on the grader's socket and init's reports one tick at a time, and a kill of the
//! tree ends within [`KILL_DEADLINE`].
//!
//! What it says to the grader, and the grader to it, is in [`protocol`](super::protocol).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::{signal, SigHandler, Signal};

use crate::contain::fence::{Fence, Outcome};
use crate::contain::init::Setup;
use crate::contain::plain::Plain;
use crate::contain::plan::{Plan, Who};
use crate::contain::protocol::{Order, Status};
use crate::probe::procfs::{self, Proc};

/// The first argument that turns any binary using [`crate::harness`] or the `workbook` CLI
/// into a shepherd.
pub const ARG: &str = "__workbook-shepherd";

/// Environment variable naming the run a server belongs to (`GRADERPID:N`), so that stray
/// processes of a plain tree can be recognised even if they escaped. A fenced server does
/// not get it: its namespace names it, and it cannot outlive its shepherd.
pub const TAG_VAR: &str = "WORKBOOK_RUN";

/// How long killing a tree may take, reaping included. The grader allows a little more
/// (it waits for the shepherd's answer), and cleanup after a check stays under 2 s.
pub const KILL_DEADLINE: Duration = Duration::from_millis(1500);

/// How often the shepherd reaps and measures the tree, unless its [`Limits`] say otherwise.
const TICK: Duration = Duration::from_millis(25);

/// Every how many ticks memfds are counted, unless its [`Limits`] say otherwise: it reads
/// every descriptor of the tree (about 4 µs each).
const MEMFD_EVERY: u32 = 8;

/// Limits the shepherd enforces on a server's whole tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `RLIMIT_NOFILE` for the server (soft and hard).
    pub nofile: u64,
    /// Most processes the tree may have at once; past it the tree is killed.
    pub max_procs: usize,
    /// Most tasks (threads of all its processes) the tree may have at once.
    pub max_tasks: usize,
    /// Most memory the tree may hold, in MiB: resident memory, memfds and the private
    /// `/tmp` together.
    pub max_rss_mib: u64,
    /// The size of the private `/tmp`, in MiB (past it, writes fail with `ENOSPC`).
    pub max_disk_mib: u64,
    /// How often the shepherd measures the tree against these caps, in ms. Each time reads
    /// `/proc` for every process (about 10 µs each): nothing for a check's few processes,
    /// most of a CPU for the lab's 10,000 forked children, which it measures every second.
    pub tick_ms: u64,
    /// Every how many ticks memfds are counted into the memory cap; 0: never. The count
    /// reads each descriptor of the tree: 40 ms on end for a server holding 10,000
    /// connections, a stall that the lab, which measures latency, cannot have.
    pub memfd_every: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            nofile: 4_096,
            max_procs: 300,
            max_tasks: 1_200,
            max_rss_mib: 1_024,
            max_disk_mib: 256,
            tick_ms: TICK.as_millis() as u64,
            memfd_every: MEMFD_EVERY,
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
            self.max_disk_mib.to_string(),
            self.tick_ms.to_string(),
            self.memfd_every.to_string(),
        ]
    }

    fn from_args(args: &[String]) -> Option<Limits> {
        Some(Limits {
            nofile: args.first()?.parse().ok()?,
            max_procs: args.get(1)?.parse().ok()?,
            max_tasks: args.get(2)?.parse().ok()?,
            max_rss_mib: args.get(3)?.parse().ok()?,
            max_disk_mib: args.get(4)?.parse().ok()?,
            tick_ms: args.get(5)?.parse().ok()?,
            memfd_every: args.get(6)?.parse().ok()?,
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
    close_inherited();
    default_signals();
    let code = match parse(&args[2..]) {
        Some((limits, cwd, tag, program)) => shepherd(&limits, &cwd, &tag, &program),
        None => {
            eprintln!("workbook shepherd: malformed arguments {args:?}");
            2
        }
    };
    std::process::exit(code);
}

/// Closes every descriptor beyond stdio that the shepherd inherited, before it makes any of
/// its own. Whatever the grader's caller left open without close-on-exec (a terminal's, a CI
/// runner's or a test harness's pipes) would pass on to the server. Its descriptors would
/// then depend on who ran the grader (seen: 6 in each process here, 4 on CI, which turned a
/// verdict of `descriptors`), and a server holding a pipe's write end would keep whoever
/// reads that pipe waiting for an end of file.
fn close_inherited() {
    // SAFETY: close_range only closes descriptors, and this process holds none above stderr
    // that anything in it uses: std opens none before main, and the shepherd none yet.
    let closed = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if closed != 0 {
        // Before Linux 5.9: one at a time, the numbers read first (the listing is itself a
        // descriptor, closed once read).
        let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd > 2)
            .collect();
        for fd in fds {
            let _ = nix::unistd::close(fd);
        }
    }
}

/// Gives every signal but SIGPIPE its default action back. An ignored signal stays ignored
/// across exec, so whatever the grader's caller ignored would pass on to the server, and
/// change what it is graded on. SIGCHLD above all: ignored, its children are collected by
/// the kernel, and a server that never reaps would leave no zombie for `no-zombies` to find
/// (seen: full marks for `forking-no-reap` under a caller that ignored SIGCHLD). SIGPIPE
/// stays ignored here, where the runtime put it for the shepherd's own writes; the server
/// gets its default back where it is started. The grader's own handlers (SIGINT, SIGTERM,
/// SIGHUP) were already reset by exec, and the signal mask by `std::process::Command`.
fn default_signals() {
    for sig in Signal::iterator() {
        if !matches!(sig, Signal::SIGKILL | Signal::SIGSTOP | Signal::SIGPIPE) {
            // SAFETY: SIG_DFL installs no handler.
            let _ = unsafe { signal(sig, SigHandler::SigDfl) };
        }
    }
}

type Parsed = (Limits, String, String, Vec<String>);

fn parse(args: &[String]) -> Option<Parsed> {
    let split = args.iter().position(|a| a == "--")?;
    let (head, program) = (&args[..split], &args[split + 1..]);
    let limits = Limits::from_args(head)?;
    // The limits' fields come first, then the working directory and the tag.
    let fields = limits.to_args().len();
    let cwd = head.get(fields)?.clone();
    let tag = head.get(fields + 1)?.clone();
    (!program.is_empty()).then(|| (limits, cwd, tag, program.to_vec()))
}

/// The server's tree, however it was made.
enum Tree {
    Fenced(Fence),
    Plain(Plain),
}

impl Tree {
    fn server(&self) -> (i32, u64) {
        match self {
            Tree::Fenced(f) => f.server(),
            Tree::Plain(p) => p.server(),
        }
    }

    fn members(&self) -> Vec<Proc> {
        match self {
            Tree::Fenced(f) => f.members(),
            Tree::Plain(p) => p.members(),
        }
    }

    fn reported(&mut self) -> Vec<Status> {
        match self {
            Tree::Fenced(f) => f.reported(),
            Tree::Plain(p) => p.reported(),
        }
    }

    fn kill(&mut self) {
        let deadline = Instant::now() + KILL_DEADLINE;
        match self {
            Tree::Fenced(f) => f.kill(deadline),
            Tree::Plain(p) => p.kill(deadline),
        }
    }

    /// A descriptor that becomes readable when the tree has news (init's reports).
    fn news(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Tree::Fenced(f) => f.reports().map(|fd| fd.as_fd()),
            Tree::Plain(_) => None,
        }
    }
}

fn shepherd(limits: &Limits, cwd: &str, tag: &str, program: &[String]) -> i32 {
    // Plain trees need it so that orphans stay below us; harmless for fenced ones.
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        say(Status::SpawnFailed(format!(
            "cannot become a subreaper: {e}"
        )));
        return 1;
    }
    // Inherited by init and the server. RLIMIT_NPROC is set where the tree is made.
    let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
    let _ = setrlimit(Resource::RLIMIT_FSIZE, 64 << 20, 64 << 20);
    let _ = setrlimit(Resource::RLIMIT_CPU, 300, 300);
    let _ = setrlimit(Resource::RLIMIT_NOFILE, limits.nofile, limits.nofile);
    let plan = Plan::new(program);
    let Some(mut tree) = make_tree(&plan, limits, cwd, tag) else {
        return 1;
    };
    let (pid, start) = tree.server();
    say(Status::Started(pid, start));
    // Only now, so that the server keeps the ordinary priority: the shepherd must keep
    // running while a fork bomb fills both cores with thousands of runnable processes.
    // Lowering one's nice value needs root; elsewhere this fails and changes nothing.
    // SAFETY: setpriority only reads its integer arguments.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -20) };
    watch(&mut tree, limits)
}

/// Makes the tree: fenced where possible, plain otherwise. Says which; `None` (after
/// saying why) if the server could not be started at all.
fn make_tree(plan: &Plan, limits: &Limits, cwd: &str, tag: &str) -> Option<Tree> {
    // Counted per user inside the namespace, so the user's other processes do not count.
    // A server of the grader's uid shares it with init (whose namespace it nests in), so
    // init's one task comes on top; a stranger uid has the tree to itself.
    let nproc = match plan.who {
        Who::Same { .. } => limits.max_tasks as u64 + 1,
        Who::Stranger(_) => limits.max_tasks as u64,
    };
    let setup = Setup {
        plan,
        nproc,
        disk_mib: limits.max_disk_mib,
    };
    let why = match Fence::start(&setup, limits.max_rss_mib) {
        Outcome::Fenced(fence) => {
            let (init, start) = fence.init();
            say(Status::Fenced(init, start));
            return Some(Tree::Fenced(fence));
        }
        Outcome::SpawnFailed(why) => {
            say(Status::SpawnFailed(why));
            return None;
        }
        Outcome::Unavailable(why) => why,
    };
    say(Status::Unfenced(why));
    match Plain::spawn(plan, cwd, tag, limits.max_tasks as u64) {
        Ok(plain) => Some(Tree::Plain(plain)),
        Err(e) => {
            say(Status::SpawnFailed(format!("{}: {e}", plan.program[0])));
            None
        }
    }
}

/// The shepherd's life once the server runs: every tick, check the caps, pass on what the
/// tree reported, obey the grader. Returns the shepherd's exit status.
fn watch(tree: &mut Tree, limits: &Limits) -> i32 {
    let mut meter = Meter::default();
    loop {
        // Caps before exits: a server killed by the memory cgroup must be reported as over
        // the cap, not as a mysterious SIGKILL.
        if let Some(over) = meter.over_limit(tree, limits) {
            say(Status::Limit(over));
            tree.kill();
        }
        for status in tree.reported() {
            say(status);
        }
        match listen(tree, Duration::from_millis(limits.tick_ms)) {
            Heard::Nothing => {}
            Heard::Order(Order::Kill) => {
                tree.kill();
                for status in tree.reported() {
                    say(status);
                }
                say(Status::Killed);
            }
            Heard::Eof => {
                tree.kill();
                return 0;
            }
        }
    }
}

/// Measures the tree against the caps, once each tick.
#[derive(Default)]
struct Meter {
    ticks: u32,
    /// Bytes in memfds at the last count (they are counted every few ticks).
    memfd_bytes: u64,
    /// A cap was hit and said: the tree is dead, and a cgroup's counters stay as they were.
    tripped: bool,
}

impl Meter {
    /// Names the cap the tree has exceeded, once.
    fn over_limit(&mut self, tree: &Tree, limits: &Limits) -> Option<String> {
        if self.tripped {
            return None;
        }
        let over = self.measure(tree, limits);
        self.tripped = over.is_some();
        over
    }

    fn measure(&mut self, tree: &Tree, limits: &Limits) -> Option<String> {
        self.ticks = self.ticks.wrapping_add(1);
        let members = tree.members();
        let procs = members.iter().filter(|p| !p.is_zombie()).count();
        let tasks: usize = members.iter().map(|p| p.threads).sum();
        if procs > limits.max_procs {
            return Some(format!(
                "{procs} processes at once (the cap is {}): the server was killed",
                limits.max_procs
            ));
        }
        if tasks > limits.max_tasks {
            return Some(format!(
                "{tasks} threads at once (the cap is {}): the server was killed",
                limits.max_tasks
            ));
        }
        let memory_mib = self.memory_kib(tree, &members, limits.memfd_every) / 1024;
        let cap = limits.max_rss_mib;
        if memory_mib > cap {
            return Some(format!(
                "{memory_mib} MiB of memory (the cap is {cap} MiB): the server was killed"
            ));
        }
        if let Tree::Fenced(fence) = tree {
            if let Some((kills @ 1.., peak)) = fence.oom_kills() {
                return Some(format!(
                    "{peak} MiB of memory (the cap is {cap} MiB): the kernel killed {kills} \
                     of its processes, then the grader the rest"
                ));
            }
        }
        None
    }

    /// What the tree holds in memory: resident memory (shared memory it maps included),
    /// memfds it holds without mapping them, and what it wrote to its private `/tmp`.
    fn memory_kib(&mut self, tree: &Tree, members: &[Proc], memfd_every: u32) -> u64 {
        // From the first tick on (`ticks` counts from 1).
        if memfd_every > 0 && self.ticks.wrapping_sub(1).is_multiple_of(memfd_every) {
            let pids: Vec<i32> = members.iter().map(|p| p.pid).collect();
            self.memfd_bytes = procfs::memfd_bytes(&pids);
        }
        let rss: u64 = members.iter().map(|p| p.rss_kib).sum();
        let scratch = match tree {
            Tree::Fenced(fence) => fence.scratch_kib(members),
            Tree::Plain(_) => 0,
        };
        rss + self.memfd_bytes / 1024 + scratch
    }
}

/// What one tick of listening to the grader brought.
enum Heard {
    Nothing,
    Order(Order),
    Eof,
}

/// Waits up to one tick for an order from the grader, waking early when the tree has news.
fn listen(tree: &Tree, tick: Duration) -> Heard {
    let stdin = io::stdin();
    let mut fds = vec![PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
    fds.extend(tree.news().map(|fd| PollFd::new(fd, PollFlags::POLLIN)));
    let tick = PollTimeout::try_from(tick).unwrap_or(PollTimeout::MAX);
    match poll(&mut fds, tick) {
        Ok(0) | Err(Errno::EINTR) => return Heard::Nothing,
        Ok(_) => {}
        Err(_) => return Heard::Eof,
    }
    let grader = fds[0].revents().unwrap_or(PollFlags::empty());
    if grader.is_empty() {
        return Heard::Nothing; // only the tree had news
    }
    let mut buf = [0u8; 64];
    match nix::unistd::read(stdin.as_fd(), &mut buf) {
        Err(Errno::EINTR) => Heard::Nothing,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The grader and the shepherd it starts agree on every limit, field by field.
    #[test]
    fn limits_reach_the_shepherd_as_they_were_set() {
        let limits = Limits {
            nofile: 10_064,
            max_procs: 7,
            max_tasks: 9,
            max_rss_mib: 11,
            max_disk_mib: 13,
            tick_ms: 1_000,
            memfd_every: 0,
        };
        let mut args = limits.to_args();
        args.extend(["/tmp".into(), "tag".into(), "--".into(), "server".into()]);
        let (parsed, cwd, tag, program) = parse(&args).expect("the shepherd's arguments");
        assert_eq!(parsed, limits);
        assert_eq!((cwd.as_str(), tag.as_str()), ("/tmp", "tag"));
        assert_eq!(program, ["server"]);
    }
}
