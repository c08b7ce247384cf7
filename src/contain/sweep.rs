//! Containment that spans the whole grading run: the list of live shepherds, what happens on
//! Ctrl-C, the sweep for strays left by a grader that was killed, and the note a run makes
//! once when it has no namespaces.
//!
//! Each [`Server`](crate::contain::server::Server) already kills its tree when dropped. This module
//! covers the paths where `Drop` never runs: a signal to the grader, and (at the next start)
//! a previous grader that died by `SIGKILL` while its shepherd could not finish. A fenced
//! tree cannot outlive its shepherd (its init dies with it), so only plain trees, tagged in
//! their environment, are ever swept.

use std::os::unix::net::UnixStream;
use std::process::Child;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::signal::{signal, SigHandler, Signal};

use crate::contain::pidfd::signal_if_same;
use crate::contain::shepherd::{KILL_DEADLINE, TAG_VAR};
use crate::probe::procfs;

/// Shepherds alive now: their pid and a handle on their control socket.
static LIVE: Mutex<Vec<(i32, UnixStream)>> = Mutex::new(Vec::new());

/// The inits (pid, start time) of every fenced tree this process started.
static FENCES: Mutex<Vec<(i32, u64)>> = Mutex::new(Vec::new());

/// How long the grader waits for a shepherd to answer (or finish) before killing it: the
/// shepherd's own kill deadline and a little more. Within the 2 s a cleanup may take.
pub(crate) const SHEPHERD_GRACE: Duration =
    Duration::from_millis(KILL_DEADLINE.as_millis() as u64 + 300);

pub(crate) fn register(shepherd: i32, control: &UnixStream) {
    if let Ok(clone) = control.try_clone() {
        lock().push((shepherd, clone));
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<(i32, UnixStream)>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn register_fence(init: i32, start: u64) {
    FENCES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((init, start));
}

/// Says once per process, on stderr, that servers run without namespaces here, and why.
pub(crate) fn note_unfenced(why: &str) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        eprintln!(
            "workbook: note: servers run without namespaces here ({why}). They are contained \
             as before namespaces (process scans, and as root a uid of their own): a server \
             running as the grader's own user could signal the grader, and files it writes \
             outside its directory stay. See book/src/grader.md."
        );
    });
}

/// Waits for a shepherd whose socket was closed to finish killing its tree, then reaps it.
/// If it does not finish in time, kills it (see [`force`]).
pub(crate) fn finish(shepherd: &mut Child) {
    let pid = shepherd.id() as i32;
    let deadline = Instant::now() + SHEPHERD_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = shepherd.try_wait() {
            lock().retain(|(p, _)| *p != pid);
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    force(shepherd);
    lock().retain(|(p, _)| *p != pid);
}

/// Kills a shepherd that did not finish in time, and what a scan still finds below it.
///
/// Only a plain tree can get there (a server of our uid stopped the shepherd): a fenced
/// tree's init dies with the shepherd. The shepherd is our unreaped child, so its pid is
/// its own; what is below it is signalled only while it is what the scan found.
pub(crate) fn force(shepherd: &mut Child) {
    let below = procfs::descendants(shepherd.id() as i32);
    for p in &below {
        signal_if_same(p.pid, p.start, Signal::SIGSTOP);
    }
    let _ = shepherd.kill();
    for p in &below {
        signal_if_same(p.pid, p.start, Signal::SIGKILL);
    }
    let _ = shepherd.wait();
}

/// Prepares the grading process once: more descriptors (1,000 clients need them), signal
/// handlers that stop every server before exiting, and a sweep for strays of dead graders.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
        // Ignored by our caller, SIGCHLD would have the kernel collect each shepherd as it
        // ends, and waiting for one would fail: `finish` would wait out its grace, then
        // signal a pid that might already be another process's.
        // SAFETY: SIG_DFL installs no handler.
        let _ = unsafe { signal(Signal::SIGCHLD, SigHandler::SigDfl) };
        install_signal_handlers();
        sweep_strays();
        crate::contain::memcg::sweep_stale();
    });
}

fn install_signal_handlers() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("grader-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                stop_all();
                eprintln!("\nworkbook: interrupted; every server under test was stopped");
                std::process::exit(128 + sig);
            }
        });
}

/// Closes every shepherd's socket (each then kills its tree) and waits for them to finish,
/// within the shepherds' own kill deadline and a little more.
pub fn stop_all() {
    let pids: Vec<i32> = lock()
        .iter()
        .map(|(pid, control)| {
            let _ = control.shutdown(std::net::Shutdown::Both);
            *pid
        })
        .collect();
    let deadline = Instant::now() + SHEPHERD_GRACE;
    for pid in pids {
        while Instant::now() < deadline && procfs::read(pid).is_some_and(|p| !p.is_zombie()) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Kills processes tagged by a grader that no longer runs (its tag is `GRADERPID:N`).
fn sweep_strays() {
    for p in procfs::tagged(TAG_VAR, "") {
        let Some(grader) = tag_of(p.pid).and_then(|t| t.split(':').next()?.parse::<i32>().ok())
        else {
            continue;
        };
        if procfs::read(grader).is_none() {
            signal_if_same(p.pid, p.start, Signal::SIGKILL);
        }
    }
}

fn tag_of(pid: i32) -> Option<String> {
    procfs::env_var(pid, TAG_VAR)
}

/// Waits up to `within` until nothing of the servers tagged `tags` is alive; an error lists
/// what still is. What every test that grades a hostile server asserts last.
pub fn gone_within(tags: &[String], within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let left = alive(tags);
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("processes left behind: {left:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes of the servers tagged `tags` (see [`Server::tag`]) that are still alive: after
/// a grading run there must be none.
///
/// A fenced tree is alive as long as its init is: the kernel ends every process of a pid
/// namespace before its init is gone.
///
/// [`Server::tag`]: crate::contain::server::Server::tag
pub fn alive(tags: &[String]) -> Vec<procfs::Proc> {
    let mut found: Vec<procfs::Proc> = tags
        .iter()
        .filter_map(|tag| {
            let (init, start) = tag.strip_prefix("ns:")?.split_once(':')?;
            Some((init.parse().ok()?, start.parse().ok()?))
        })
        .flat_map(fenced_tree)
        .collect();
    found.extend(
        procfs::tagged(TAG_VAR, "")
            .into_iter()
            .filter(|p| !p.is_zombie() && tag_of(p.pid).is_some_and(|t| tags.contains(&t))),
    );
    found
}

/// Init `(pid, start)` and every process below it, if that init still runs.
fn fenced_tree((init, start): (i32, u64)) -> Vec<procfs::Proc> {
    match procfs::read(init) {
        Some(p) if p.start == start && !p.is_zombie() => {
            let mut tree = vec![p];
            tree.extend(procfs::descendants(init));
            tree
        }
        _ => Vec::new(),
    }
}

/// Processes this grader started that are still alive (there should be none between checks).
pub fn strays() -> Vec<procfs::Proc> {
    let fences = FENCES.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut found: Vec<procfs::Proc> = fences.into_iter().flat_map(fenced_tree).collect();
    found.extend(
        procfs::tagged(TAG_VAR, &format!("{}:", std::process::id()))
            .into_iter()
            .filter(|p| !p.is_zombie()),
    );
    found
}
