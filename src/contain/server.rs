//! A server under test, seen from the grader: started through a [shepherd](crate::contain::shepherd),
//! announced, probed through `/proc`, and killed with its whole tree when dropped.

use std::ffi::OsString;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;

mod explain;
mod watch;

use crate::contain::output::printable;
use crate::contain::pidfd::signal_if_same;
pub use crate::contain::protocol::Exit;
use crate::contain::protocol::Order;
use crate::contain::shepherd::{self, Limits};
use crate::contain::sweep::SHEPHERD_GRACE;
use crate::probe::procfs::{self, Proc};
use crate::verdict::Verdict;
pub use watch::parse_announce;
use watch::{read_control, read_stderr, read_stdout, spawn_reader, Shared};

/// How long a server has to print its `listening on` line (contract: "Announcing").
pub const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of the server's stdout scanned for the announce line.
const ANNOUNCE_SCAN: usize = 64 * 1024;

/// How much of the server's stderr is kept for verdicts.
const STDERR_KEEP: usize = 4 * 1024;

/// A program to grade: what the grader runs, before it appends the listen address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub path: PathBuf,
    pub args: Vec<OsString>,
}

impl Program {
    pub fn new(path: impl Into<PathBuf>) -> Program {
        Program {
            path: path.into(),
            args: Vec::new(),
        }
    }

    /// The program a person named on a command line, `PATH [ARGS...]`, or `None` if empty.
    ///
    /// A program named with a path is made absolute (the server runs in a directory of its
    /// own); a bare name is looked up in `PATH` as usual.
    pub fn from_command(command: &[OsString]) -> Option<Program> {
        let (path, args) = command.split_first()?;
        let path = Path::new(path);
        let path = if path.components().count() > 1 {
            std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
        } else {
            path.to_path_buf()
        };
        Some(Program {
            path,
            args: args.to_vec(),
        })
    }

    /// The command line as a person would type it.
    pub fn display(&self) -> String {
        std::iter::once(self.path.as_os_str())
            .chain(self.args.iter().map(OsString::as_os_str))
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How the server's tree is contained, as the shepherd said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fence {
    /// In namespaces of its own, below this init (host pid, start time).
    Namespaces(i32, u64),
    /// Without namespaces, for this reason.
    Unfenced(String),
}

/// A running server and its shepherd. Dropping it kills the whole tree.
pub struct Server {
    shared: Arc<Shared>,
    control: Mutex<UnixStream>,
    shepherd: Mutex<Child>,
    addr: SocketAddr,
    pid: i32,
    /// The shepherd's pid: every process below it belongs to the server.
    shepherd_pid: i32,
    /// When the main process started (clock ticks since boot): with `pid`, names it.
    start: u64,
    fence: Option<Fence>,
    tag: String,
    _dir: tempfile::TempDir,
}

static SERVERS_STARTED: AtomicUsize = AtomicUsize::new(0);

impl Server {
    /// Starts `program` with the listen address `127.0.0.1:0` appended, and waits for its
    /// announce line.
    pub fn start(program: &Program, limits: &Limits) -> Result<Server, Verdict> {
        // Used only by a tree without namespaces (a fenced one works in its private /tmp),
        // under tempfile's neutral name: nothing in the server's view names the grader.
        let dir = tempfile::tempdir()
            .map_err(|e| Verdict::new(format!("cannot make a working directory: {e}")))?;
        // The server may run as an unprivileged uid; let it use its working directory.
        let _ = std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        );
        let (ours, theirs) = UnixStream::pair()
            .map_err(|e| Verdict::new(format!("cannot make a control socket: {e}")))?;
        // /proc/self/exe, not current_exe(): it still runs if the binary was rebuilt (and so
        // replaced on disk) while the grader was running.
        let exe = "/proc/self/exe";
        let tag = format!(
            "{}:{}",
            std::process::id(),
            SERVERS_STARTED.fetch_add(1, Ordering::Relaxed)
        );
        let mut child = Command::new(exe)
            .arg(shepherd::ARG)
            .args(limits.to_args())
            .arg(dir.path())
            .arg(&tag)
            .arg("--")
            .arg(&program.path)
            .args(&program.args)
            .arg("127.0.0.1:0")
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group: a Ctrl-C in the terminal reaches the grader, which cleans up,
            // and not the shepherd, which must outlive the server.
            .process_group(0)
            .spawn()
            .map_err(|e| Verdict::new(format!("cannot start the grader's shepherd: {e}")))?;
        let shepherd_pid = child.id() as i32;
        crate::contain::sweep::register(shepherd_pid, &ours);

        let shared = Arc::new(Shared::default());
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        spawn_reader("stdout", shared.clone(), move |s| read_stdout(stdout, &s));
        spawn_reader("stderr", shared.clone(), move |s| read_stderr(stderr, &s));
        let control = ours
            .try_clone()
            .map_err(|e| Verdict::new(format!("cannot clone the control socket: {e}")))?;
        spawn_reader("control", shared.clone(), move |s| {
            read_control(control, &s)
        });

        let mut server = Server {
            shared,
            control: Mutex::new(ours),
            shepherd: Mutex::new(child),
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            pid: 0,
            shepherd_pid,
            start: 0,
            fence: None,
            tag,
            _dir: dir,
        };
        server.shared.wait_for(ANNOUNCE_TIMEOUT, |s| {
            // The pid comes from the shepherd, the announce from the server: wait for both,
            // so that no probe or signal ever targets pid 0 (which means "my own group").
            (s.announced.is_some() && s.pid.is_some())
                || s.exit.is_some()
                || s.spawn_error.is_some()
                || s.limit.is_some()
                || s.shepherd_gone
                || s.stdout_seen > ANNOUNCE_SCAN
        });
        // A server that exits right after announcing (a daemon's parent) may be reported
        // before its announce line is read: give the line a moment to arrive.
        server.shared.wait_for(Duration::from_millis(500), |s| {
            s.announced.is_some() || s.exit.is_none() || s.stdout_closed
        });
        let state = server.shared.lock();
        if let Some(e) = &state.spawn_error {
            return Err(Verdict::new(format!("could not start the server: {e}")));
        }
        let announced = state.announced;
        server.pid = state.pid.unwrap_or(0);
        server.start = state.start;
        server.fence = state.fence.clone();
        drop(state);
        if let Some(Fence::Unfenced(why)) = &server.fence {
            crate::contain::sweep::note_unfenced(why);
        }
        if let Some(Fence::Namespaces(init, start)) = server.fence {
            crate::contain::sweep::register_fence(init, start);
        }
        match announced {
            Some(addr) if server.pid > 0 => {
                server.addr = addr;
                server.verify_listener()?;
                Ok(server)
            }
            _ => Err(server.why_no_announce()),
        }
    }

    /// The address the server announced.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Names the server's processes for [`sweep::alive`](crate::contain::sweep::alive):
    /// `ns:PID:START` (its namespace's init) for a fenced tree, else the value of
    /// `WORKBOOK_RUN` in the server's environment.
    pub fn tag(&self) -> String {
        match self.fence {
            Some(Fence::Namespaces(init, start)) => format!("ns:{init}:{start}"),
            _ => self.tag.clone(),
        }
    }

    /// How the server's tree is contained.
    pub fn fence(&self) -> Option<&Fence> {
        self.fence.as_ref()
    }

    /// The server's main process.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The shepherd's pid (the lab moves it off the CPU that the server is measured on).
    pub fn shepherd_pid(&self) -> i32 {
        self.shepherd_pid
    }

    /// Everything the server started, as `/proc` shows it now: every process below its
    /// shepherd, zombies included, but the namespace's init (the grader's, not the
    /// server's). Not only the main process's descendants: a process cloned with
    /// `CLONE_PARENT` is the main process's sibling, and an orphan is re-parented to init
    /// (or, without namespaces, to the shepherd, a subreaper); work hidden there must count
    /// as the server's.
    pub fn tree(&self) -> Vec<Proc> {
        if self.pid <= 0 {
            return Vec::new();
        }
        match self.fence {
            Some(Fence::Namespaces(init, _)) => procfs::descendants(init),
            _ => procfs::descendants(self.shepherd_pid),
        }
    }

    /// Descriptors open in the server's processes, summed (processes that share one table
    /// count it once each); `None` once the main process is gone.
    pub fn fds(&self) -> Option<usize> {
        procfs::open_fds(self.pid)?;
        Some(
            self.tree()
                .iter()
                .filter(|p| !p.is_zombie())
                .filter_map(|p| procfs::open_fds(p.pid))
                .sum(),
        )
    }

    /// CPU time (user and system, every thread) the server's living processes have used, in
    /// nanoseconds.
    pub fn cpu_ns(&self) -> u64 {
        self.tree()
            .iter()
            .filter_map(|p| procfs::cpu_ns(p.pid))
            .sum()
    }

    /// Every thread of the server's processes, now.
    pub fn tasks(&self) -> Vec<procfs::Task> {
        self.tree()
            .iter()
            .flat_map(|p| procfs::tasks(p.pid))
            .collect()
    }

    /// How the main process ended, if it has.
    pub fn exit(&self) -> Option<Exit> {
        self.shared.lock().exit
    }

    /// Waits up to `timeout` for the main process to end.
    pub fn wait_exit(&self, timeout: Duration) -> Option<Exit> {
        self.shared
            .wait_for(timeout, |s| s.exit.is_some() || s.shepherd_gone);
        self.exit()
    }

    /// Sends `signal` to the main process, if it still runs (never to a later process that
    /// got its pid).
    pub fn signal(&self, signal: Signal) {
        signal_if_same(self.pid, self.start, signal);
    }

    /// Sends `signal` to `process`, one of [`Server::tree`], if it still runs.
    pub fn signal_member(&self, process: &Proc, signal: Signal) {
        signal_if_same(process.pid, process.start, signal);
    }

    /// Why the shepherd killed the tree, if it did (a cap was exceeded).
    pub fn limit(&self) -> Option<String> {
        self.shared.lock().limit.clone()
    }

    /// The last lines the server wrote to stderr, made safe to print: every control
    /// character but the newline is escaped, so that no escape sequence of the server's
    /// reaches a terminal (a cleared screen, a forged score).
    pub fn stderr_tail(&self) -> String {
        let state = self.shared.lock();
        let (a, b) = state.stderr_tail.as_slices();
        printable(&String::from_utf8_lossy(&[a, b].concat()))
    }

    /// Kills the server's whole tree now and waits until it is gone. Idempotent.
    pub fn kill(&self) {
        {
            let mut control = self.control.lock().unwrap_or_else(|e| e.into_inner());
            if control
                .write_all(format!("{}\n", Order::Kill).as_bytes())
                .is_err()
            {
                return;
            }
        }
        // The shepherd kills within its deadline; one that does not answer in time is itself
        // stuck (stopped by a server of our uid, without namespaces): kill it, which takes
        // a fenced tree along (its init dies with the shepherd).
        if !self
            .shared
            .wait_for(SHEPHERD_GRACE, |s| s.killed || s.shepherd_gone)
        {
            let mut shepherd = self.shepherd.lock().unwrap_or_else(|e| e.into_inner());
            crate::contain::sweep::force(&mut shepherd);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // EOF on its socket tells the shepherd to kill the tree and exit.
        let control = self.control.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = control.shutdown(std::net::Shutdown::Both);
        let shepherd = self.shepherd.get_mut().unwrap_or_else(|e| e.into_inner());
        crate::contain::sweep::finish(shepherd);
    }
}
