//! A server under test, seen from the grader: started through a [shepherd](crate::contain::shepherd),
//! announced, probed through `/proc`, and killed with its whole tree when dropped.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::contain::output::{printable, todo_message, TODO};
use crate::contain::pidfd::signal_if_same;
pub use crate::contain::protocol::Exit;
use crate::contain::protocol::{Order, Status};
use crate::contain::shepherd::{self, Limits};
use crate::contain::sweep::SHEPHERD_GRACE;
use crate::probe::procfs::{self, Proc};
use crate::probe::settle::poll;
use crate::probe::sockets::{Holders, Table};
use crate::verdict::{Kind, Verdict};

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

#[derive(Default)]
struct State {
    fence: Option<Fence>,
    pid: Option<i32>,
    start: u64,
    spawn_error: Option<String>,
    exit: Option<Exit>,
    limit: Option<String>,
    killed: bool,
    shepherd_gone: bool,
    announced: Option<SocketAddr>,
    stdout_seen: usize,
    stdout_head: String,
    stdout_closed: bool,
    stderr_closed: bool,
    stderr_tail: VecDeque<u8>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A reader thread that panicked leaves the state as usable as before.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }

    /// Waits until `done` holds or `timeout` passes; returns whether it holds.
    fn wait_for(&self, timeout: Duration, done: impl Fn(&State) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while !done(&state) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
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

    /// Fails unless the announced address is on loopback and one of the server's own
    /// processes holds the socket listening there: a program must not borrow another's port,
    /// and a grader (perhaps root) must never connect where a program merely says.
    fn verify_listener(&self) -> Result<(), Verdict> {
        let addr = self.addr;
        if addr.ip() != IpAddr::V4(Ipv4Addr::LOCALHOST) {
            return Err(Verdict::of(
                Kind::Address,
                format!(
                    "the server announced {addr}, but the grader connects only to 127.0.0.1: \
                     bind 127.0.0.1 and announce `listening on 127.0.0.1:PORT` (no connection \
                     was attempted)"
                ),
            ));
        }
        // The contract has the server announce once it listens; the poll only forgives a
        // /proc snapshot taken a moment early.
        let held = poll(Duration::from_secs(2), || {
            let tree = self.tree().into_iter().map(|p| p.pid);
            let holds = |inode| !Holders::of(tree).of_inode(inode).is_empty();
            match Table::read().listener(addr) {
                Some(inode) if holds(inode) => Some(true),
                // Nobody left who could listen (a stub at its todo!(), a crash); but a
                // daemon's parent exits once its child listens: that child still counts.
                _ if self.tree().iter().all(|p| p.is_zombie()) => Some(false),
                _ => None,
            }
        });
        if held == Some(true) {
            return Ok(());
        }
        if let Some(obituary) = self.obituary() {
            // It died (a stub at its todo!(), a crash): that is the story, and no client may
            // connect to whatever now listens on that port.
            return Err(obituary);
        }
        let what = if Table::read().listener(addr).is_some() {
            "a socket listens there, but no process the server started holds it: a server must \
             listen itself, not announce another program's port"
        } else {
            "nothing listens there: announce only once the listener is bound and listening"
        };
        Err(Verdict::of(
            Kind::Address,
            format!("the server announced {addr}, but {what}"),
        ))
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

    /// Whether any thread of the server's processes is running or runnable now.
    pub fn running(&self) -> bool {
        self.tree().iter().any(|p| procfs::any_task_running(p.pid))
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

    /// Says so if the server's main process, or all of its processes, are stopped (state
    /// `T`): a stopped server serves nobody, and every client's symptom is the same silence.
    pub fn stopped(&self) -> Option<String> {
        let tree = self.tree();
        let live: Vec<_> = tree.iter().filter(|p| !p.is_zombie()).collect();
        let stopped = |p: &&&Proc| p.state == 'T' || p.state == 't';
        let main_stopped = live.iter().any(|p| p.pid == self.pid && stopped(&p));
        (main_stopped || (!live.is_empty() && live.iter().all(|p| stopped(&p)))).then(|| {
            format!(
                "the server is stopped (state T{}: it stopped itself, or something sent it \
                 SIGSTOP or SIGTSTP), so it serves nobody",
                if main_stopped {
                    ", its main process"
                } else {
                    ", every process"
                }
            )
        })
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

    /// A description of how the server ended, if it did: used to explain a failed check.
    pub fn obituary(&self) -> Option<Verdict> {
        // The shepherd reports an exit within a tick, and the reader thread needs a moment
        // to collect the last of stderr (a panic message): on a loaded machine, both lag.
        self.shared.wait_for(Duration::from_secs(1), |s| {
            s.exit.is_some() || s.limit.is_some()
        });
        if self.shared.lock().exit.is_some() {
            self.shared
                .wait_for(Duration::from_millis(500), |s| s.stderr_closed);
        }
        let state = self.shared.lock();
        let (kind, what) = match (&state.limit, state.exit) {
            (Some(limit), _) => (
                Kind::CapHit,
                format!("the grader stopped the server: {limit}"),
            ),
            (None, Some(exit)) if !state.killed => {
                // The grader's own kills always say why (a cap, above). A SIGKILL without
                // one came from elsewhere: name the usual suspect.
                let outside = if exit == Exit::Signal(libc::SIGKILL) {
                    " by a SIGKILL that the grader did not send (the kernel's out-of-memory \
                     killer, say: see `dmesg`)"
                } else {
                    ""
                };
                (
                    Kind::ServerExited,
                    format!("the server exited ({exit}){outside}"),
                )
            }
            _ => return None,
        };
        drop(state);
        if let Some(todo) = todo_message(&self.stderr_tail()) {
            return Some(Verdict::of(Kind::Todo, format!("{TODO}{todo}")));
        }
        Some(Verdict::of(kind, format!("{what}{}", self.stderr_note())))
    }

    fn stderr_note(&self) -> String {
        let tail = self.stderr_tail();
        let tail = tail.trim_end();
        if tail.is_empty() {
            String::new()
        } else {
            let lines: Vec<&str> = tail.lines().collect();
            let last = &lines[lines.len().saturating_sub(12)..];
            format!("; its stderr ends:\n    {}", last.join("\n    "))
        }
    }

    fn why_no_announce(&self) -> Verdict {
        let state = self.shared.lock();
        let printed = if state.stdout_head.trim().is_empty() {
            "it printed nothing on stdout".to_string()
        } else {
            format!(
                "its stdout began: {}",
                crate::drive::client::show(state.stdout_head.as_bytes())
            )
        };
        let kind = if state.limit.is_some() {
            Kind::CapHit
        } else {
            Kind::NoAnnounce
        };
        let what = if let Some(limit) = &state.limit {
            format!("the grader stopped the server before it announced: {limit}")
        } else if let Some(exit) = state.exit {
            format!("the server exited ({exit}) before announcing its address; {printed}")
        } else if state.stdout_seen > ANNOUNCE_SCAN {
            format!(
                "the server printed over {} KiB on stdout without the line \
                 `listening on 127.0.0.1:PORT`",
                ANNOUNCE_SCAN / 1024
            )
        } else if state.shepherd_gone {
            "the grader's shepherd process ended unexpectedly".to_string()
        } else {
            format!(
                "the server did not print `listening on 127.0.0.1:PORT` within {} s ({printed}). \
                 It must print that line once it listens, and flush stdout: a C program's \
                 stdout is fully buffered on a pipe, so call fflush(stdout)",
                ANNOUNCE_TIMEOUT.as_secs()
            )
        };
        drop(state);
        Verdict::of(kind, format!("{what}{}", self.stderr_note()))
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

fn spawn_reader(name: &str, shared: Arc<Shared>, f: impl FnOnce(Arc<Shared>) + Send + 'static) {
    let done = shared.clone();
    let name = name.to_string();
    std::thread::Builder::new()
        .name(format!("server-{name}"))
        .spawn(move || {
            f(shared);
            if name == "control" {
                done.update(|s| s.shepherd_gone = true);
            } else if name == "stdout" {
                done.update(|s| s.stdout_closed = true);
            } else {
                done.update(|s| s.stderr_closed = true);
            }
        })
        .expect("the grader can start a reader thread");
}

fn read_control(control: UnixStream, shared: &Shared) {
    for line in BufReader::new(control).lines() {
        let Ok(line) = line else { return };
        // A line the shepherd would never write is ignored, not trusted.
        let Ok(status) = line.parse::<Status>() else {
            continue;
        };
        shared.update(|s| match status {
            Status::Fenced(init, start) => s.fence = Some(Fence::Namespaces(init, start)),
            Status::Unfenced(why) => s.fence = Some(Fence::Unfenced(why)),
            Status::Started(pid, start) => {
                s.pid = Some(pid);
                s.start = start;
            }
            Status::SpawnFailed(why) => s.spawn_error = Some(why),
            Status::Exited(_, exit) => s.exit = Some(exit),
            Status::Limit(what) => s.limit = Some(what),
            Status::Killed => s.killed = true,
        });
    }
}

/// Scans stdout for the announce line, then keeps draining it: a server whose stdout pipe
/// fills up would block, and one whose pipe closes would die of EPIPE.
fn read_stdout(stdout: impl Read, shared: &Shared) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        // Bounded: a flood without a newline must not grow this buffer without limit.
        match (&mut reader)
            .take(ANNOUNCE_SCAN as u64 + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let text = String::from_utf8_lossy(&line);
                let addr = parse_announce(&text);
                shared.update(|s| {
                    if s.stdout_head.len() < 512 {
                        s.stdout_head.push_str(&text);
                    }
                    s.stdout_seen += n;
                    if s.announced.is_none() {
                        s.announced = addr;
                    }
                });
            }
        }
    }
}

fn read_stderr(mut stderr: impl Read, shared: &Shared) {
    let mut buf = [0u8; 8192];
    loop {
        match stderr.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => shared.update(|s| {
                s.stderr_tail.extend(&buf[..n]);
                let excess = s.stderr_tail.len().saturating_sub(STDERR_KEEP);
                s.stderr_tail.drain(..excess);
            }),
        }
    }
}

/// `listening on IP:PORT`: the address the server says it listens on. Only `127.0.0.1` is
/// then accepted (see `verify_listener`), but any address is read, so that the verdict can
/// name the wrong one.
pub fn parse_announce(line: &str) -> Option<SocketAddr> {
    let rest = line.trim().strip_prefix("listening on ")?;
    let addr: SocketAddr = rest.trim().parse().ok()?;
    (addr.port() != 0).then_some(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announce_lines() {
        assert_eq!(
            parse_announce("listening on 127.0.0.1:4000\n"),
            Some("127.0.0.1:4000".parse().unwrap())
        );
        assert_eq!(
            parse_announce("listening on 0.0.0.0:4000\r\n"),
            Some("0.0.0.0:4000".parse().unwrap())
        );
        assert_eq!(parse_announce("listening on 127.0.0.1:0"), None);
        assert_eq!(parse_announce("Listening on port 4000"), None);
        assert_eq!(parse_announce("starting up"), None);
    }
}
