//! The server's tree in namespaces of its own, seen from the shepherd.
//!
//! Why namespaces: the shepherd's scans of `/proc` find every process of the tree, but
//! they cannot stop the tree from reaching out. A server of the grader's own uid (any
//! grader that is not root: how students run `cargo test`) could signal the grader and the
//! shepherd, stop them, or write into their descriptors. In a new pid namespace, the
//! grader's processes have no pid the server can name; in a new user namespace owned by
//! the grader's uid, the grader keeps full access to the server's `/proc` (it owns the
//! namespace) while the server gains nothing over the grader; a new mount namespace gives
//! it read-only files and a private, capped `/tmp`; a new IPC namespace keeps its System V
//! objects from outliving it. The network is not touched: the server listens on the host's
//! loopback, where the grader connects and reads `/proc/net/tcp`.
//!
//! The shepherd clones the namespaces' first process, the [`init`], writes its
//! uid and gid maps, puts it in a [memory cgroup](super::memcg) when it can make one, and
//! lets it go on. Init builds the mounts and forks the server, which waits at a gate until
//! the shepherd has found its host pid (`/proc/INIT/task/INIT/children`) and its start time.
//! Killing init (`SIGKILL` from outside) kills every process of the namespace at once: no
//! race with a fork bomb, no stopped process left, no uid-wide kill that could reach a
//! stranger. Init is the shepherd's own unreaped child, so its pid cannot name anyone else.
//!
//! Where user namespaces are not allowed (a sysctl, a container's seccomp profile), or
//! init cannot build the mounts, [`Fence::start`] says why and the shepherd falls back to
//! the [plain](super::plain) tree.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{pipe2, Pid};

use crate::contain::init::{self, Pipes, Setup};
use crate::contain::memcg::{self, MemoryCgroup};
use crate::contain::plan::Who;
use crate::contain::protocol::Status;
use crate::probe::procfs::{self, Proc};

/// Set to `off` in the grader's environment, turns namespaces off: every server then runs
/// in a plain tree, as where the kernel allows no namespaces. For testing that fallback.
pub const SWITCH_VAR: &str = "WORKBOOK_NAMESPACES";

/// How long init may take to build the namespaces and fork the server.
const SETUP_DEADLINE: Duration = Duration::from_secs(5);

/// The server's tree in namespaces of its own.
pub struct Fence {
    init: Pid,
    init_start: u64,
    server: i32,
    server_start: u64,
    /// Init's reports (non-blocking), and what is left of a line not yet complete.
    reports: OwnedFd,
    partial: Vec<u8>,
    /// Init's end of the report pipe is closed: init is dead, nothing more will come.
    reports_closed: bool,
    init_reaped: bool,
    memcg: Option<MemoryCgroup>,
}

/// What came of trying to fence a server.
pub enum Outcome {
    Fenced(Fence),
    /// The namespaces cannot be made here, for this reason: fall back.
    Unavailable(String),
    /// The namespaces stood, but the program could not be started.
    SpawnFailed(String),
}

impl Fence {
    /// Makes the namespaces and starts the server in them, waiting at the gate until we
    /// know its host pid, then lets it go.
    pub fn start(setup: &Setup, memory_mib: u64) -> Outcome {
        if std::env::var(SWITCH_VAR).is_ok_and(|v| v == "off") {
            return Outcome::Unavailable(format!("turned off by {SWITCH_VAR}=off"));
        }
        match Self::try_start(setup, memory_mib) {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Unavailable(e.to_string()),
        }
    }

    fn try_start(setup: &Setup, memory_mib: u64) -> io::Result<Outcome> {
        let cloexec = OFlag::O_CLOEXEC;
        let (sync_r, sync_w) = pipe2(cloexec)?;
        let (gate_r, gate_w) = pipe2(cloexec)?;
        let (reports, status_w) = pipe2(cloexec | OFlag::O_NONBLOCK)?;
        // Tried whoever we are: an ordinary user may have been given a group to manage.
        let memcg = MemoryCgroup::create(&memcg::name_for(std::process::id()), memory_mib);
        let pipes = Pipes {
            sync: sync_r,
            gate: gate_r,
            status: status_w,
        };
        let init = match clone_init(setup, pipes) {
            Ok(pid) => pid,
            Err(e) => {
                if let Some(group) = memcg {
                    group.remove(Instant::now());
                }
                return Ok(Outcome::Unavailable(format!(
                    "cannot create user and pid namespaces: {e}"
                )));
            }
        };
        let mut fence = Fence {
            init,
            init_start: procfs::read(init.as_raw()).map_or(0, |p| p.start),
            server: 0,
            server_start: 0,
            reports,
            partial: Vec::new(),
            reports_closed: false,
            init_reaped: false,
            memcg,
        };
        if let Err(e) = write_maps(init, setup.plan.who) {
            fence.kill(Instant::now() + Duration::from_secs(1));
            return Ok(Outcome::Unavailable(format!(
                "cannot map the server's uid: {e}"
            )));
        }
        fence.adopt_into_memcg();
        nix::unistd::write(&sync_w, b"s")?;
        drop(sync_w);
        match fence.first_report() {
            Some(Status::Started(..)) => {}
            Some(Status::Unfenced(why)) => return Ok(fence.abandon(Outcome::Unavailable(why))),
            Some(Status::SpawnFailed(why)) => {
                return Ok(fence.abandon(Outcome::SpawnFailed(why)));
            }
            _ => {
                let why = "the namespace's init did not start the server".to_string();
                return Ok(fence.abandon(Outcome::Unavailable(why)));
            }
        }
        let Some(server) = procfs::children(init.as_raw()).first().copied() else {
            let why = "the namespace's init has no server child".to_string();
            return Ok(fence.abandon(Outcome::Unavailable(why)));
        };
        fence.server = server;
        fence.server_start = procfs::read(server).map_or(0, |p| p.start);
        // Open the gate: the server may exec now that its pid is known.
        nix::unistd::write(&gate_w, b"g")?;
        Ok(Outcome::Fenced(fence))
    }

    /// The namespaces' init, as host pid and start time.
    pub fn init(&self) -> (i32, u64) {
        (self.init.as_raw(), self.init_start)
    }

    /// The server's main process, as host pid and start time.
    pub fn server(&self) -> (i32, u64) {
        (self.server, self.server_start)
    }

    /// Init's report descriptor, to wait on together with the grader's socket, while init
    /// may still report.
    pub fn reports(&self) -> Option<&OwnedFd> {
        (!self.reports_closed).then_some(&self.reports)
    }

    /// Every process of the tree but init, as `/proc` shows them now.
    pub fn members(&self) -> Vec<Proc> {
        if self.init_reaped {
            return Vec::new();
        }
        procfs::descendants(self.init.as_raw())
    }

    /// What init reported since the last call, with the server's host pid in place of its
    /// namespace pid.
    pub fn reported(&mut self) -> Vec<Status> {
        let mut buf = [0u8; 512];
        loop {
            match nix::unistd::read(&self.reports, &mut buf) {
                Ok(0) => {
                    self.reports_closed = true;
                    break;
                }
                Ok(n) => self.partial.extend_from_slice(&buf[..n]),
                Err(Errno::EINTR) => {}
                Err(_) => break, // EAGAIN: nothing more for now
            }
        }
        let mut statuses = Vec::new();
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            match String::from_utf8_lossy(&line).trim().parse() {
                Ok(Status::Exited(_, exit)) => statuses.push(Status::Exited(self.server, exit)),
                // The server's process could not execute the program.
                Ok(Status::SpawnFailed(why)) => statuses.push(Status::SpawnFailed(why)),
                _ => {}
            }
        }
        statuses
    }

    /// Processes the kernel killed for going over the memory cgroup's limit, and the most
    /// the tree held (MiB), where there is a cgroup.
    pub fn oom_kills(&self) -> Option<(u64, u64)> {
        let group = self.memcg.as_ref()?;
        Some((group.oom_kills(), group.peak_mib()))
    }

    /// KiB in use in the private `/tmp`, seen through a member's root (init's own cannot be
    /// read by a grader that is not root: it is not dumpable).
    pub fn scratch_kib(&self, members: &[Proc]) -> u64 {
        members
            .iter()
            .find_map(|p| procfs::fs_used_kib(p.pid, "/tmp"))
            .unwrap_or(0)
    }

    /// Whether init is still there (alive or not yet reaped); reaps it if it ended.
    pub fn standing(&mut self) -> bool {
        if !self.init_reaped {
            match waitpid(self.init, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => {}
                _ => self.init_reaped = true,
            }
        }
        !self.init_reaped
    }

    /// Kills the whole tree by killing init, and reaps init, by `deadline`.
    pub fn kill(&mut self, deadline: Instant) {
        if self.init_reaped {
            return;
        }
        // Init is our child and not yet reaped: its pid is still its own.
        let _ = kill(self.init, Signal::SIGKILL);
        while self.standing() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Kills what was started and gives `outcome`.
    fn abandon(mut self, outcome: Outcome) -> Outcome {
        self.kill(Instant::now() + Duration::from_secs(1));
        outcome
    }

    fn adopt_into_memcg(&mut self) {
        let Some(group) = &self.memcg else { return };
        if group.adopt(self.init.as_raw()).is_err() {
            if let Some(group) = self.memcg.take() {
                group.remove(Instant::now());
            }
            return;
        }
        // In the group, the kernel's OOM killer chooses among init and the tree: never
        // init, or the tree would die without a report. Only root may lower a score; init
        // is small enough not to be chosen anyway.
        let path = format!("/proc/{}/oom_score_adj", self.init);
        let _ = std::fs::write(path, "-1000");
    }

    /// Waits for init's first report, up to the setup deadline.
    fn first_report(&mut self) -> Option<Status> {
        let deadline = Instant::now() + SETUP_DEADLINE;
        loop {
            let mut buf = [0u8; 512];
            match nix::unistd::read(&self.reports, &mut buf) {
                Ok(0) => return None,
                Ok(n) => self.partial.extend_from_slice(&buf[..n]),
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
                Err(_) => return None,
            }
            if let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=end).collect();
                return String::from_utf8_lossy(&line).trim().parse().ok();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let mut fds = [PollFd::new(self.reports.as_fd(), PollFlags::POLLIN)];
            let wait = PollTimeout::try_from(left.min(Duration::from_millis(100)))
                .unwrap_or(PollTimeout::ZERO);
            let _ = poll(&mut fds, wait);
        }
    }
}

impl Drop for Fence {
    fn drop(&mut self) {
        self.kill(Instant::now() + Duration::from_secs(1));
        if let Some(group) = self.memcg.take() {
            group.remove(Instant::now() + Duration::from_millis(500));
        }
    }
}

/// Clones init into new user, pid, mount and IPC namespaces.
fn clone_init(setup: &Setup, pipes: Pipes) -> nix::Result<Pid> {
    let flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWIPC;
    // Init's stack while it sets up and forks: it calls into std (formatting, files).
    let mut stack = vec![0u8; 1 << 20];
    let mut pipes = Some(pipes);
    let child = Box::new(|| match pipes.take() {
        Some(pipes) => init::run(setup, pipes),
        None => 1,
    });
    // SAFETY: the shepherd is single-threaded, so the child starts as a faithful copy of
    // it, free to run ordinary code; without CLONE_VM it runs on its own copy of `stack`,
    // and SIGCHLD makes it an ordinary child that waitpid reports.
    unsafe { nix::sched::clone(child, &mut stack, flags, Some(libc::SIGCHLD)) }
    // Our copies of init's pipe ends are dropped with the closure.
}

/// Writes init's uid and gid maps: who the namespace's ids are on the host.
///
/// - Root may map any ids: the namespace's root stays root outside (init needs it for the
///   mounts; it never execs), and the server's stranger uid maps to itself.
/// - An ordinary user may map only its own uid, once: it becomes the namespace's root, for
///   init; the server goes on into a nested namespace of its own (see
///   [`init`](super::init)), where it has the user's uid back.
fn write_maps(init: Pid, who: Who) -> io::Result<()> {
    let file = |name: &str| format!("/proc/{init}/{name}");
    match who {
        Who::Stranger(id) => {
            std::fs::write(file("uid_map"), format!("0 0 1\n{id} {id} 1\n"))?;
            std::fs::write(file("gid_map"), format!("0 0 1\n{id} {id} 1\n"))
        }
        Who::Same { uid, gid } => {
            std::fs::write(file("uid_map"), format!("0 {uid} 1\n"))?;
            // An unprivileged gid map requires setgroups to be refused in the namespace.
            std::fs::write(file("setgroups"), "deny")?;
            std::fs::write(file("gid_map"), format!("0 {gid} 1\n"))
        }
    }
}
