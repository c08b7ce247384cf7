//! Containment that spans the whole grading run: the list of live shepherds, what happens on
//! Ctrl-C, and the sweep for strays left by a grader that was killed.
//!
//! Each [`Server`](crate::contain::server::Server) already kills its tree when dropped. This module
//! covers the paths where `Drop` never runs: a signal to the grader, and (at the next start)
//! a previous grader that died by `SIGKILL` while its shepherd could not finish.

use std::os::unix::net::UnixStream;
use std::process::Child;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::contain::shepherd::TAG_VAR;
use crate::probe::procfs;

/// Shepherds alive now: their pid and a handle on their control socket.
static LIVE: Mutex<Vec<(i32, UnixStream)>> = Mutex::new(Vec::new());

pub(crate) fn register(shepherd: i32, control: &UnixStream) {
    if let Ok(clone) = control.try_clone() {
        lock().push((shepherd, clone));
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<(i32, UnixStream)>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits for a shepherd whose socket was closed to finish killing its tree, then reaps it.
/// If it does not finish in time, kills what is below it and the shepherd itself.
pub(crate) fn finish(shepherd: &mut Child) {
    let pid = shepherd.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(35);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = shepherd.try_wait() {
            lock().retain(|(p, _)| *p != pid);
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    for p in procfs::descendants(pid) {
        let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
    }
    let _ = shepherd.kill();
    let _ = shepherd.wait();
    lock().retain(|(p, _)| *p != pid);
}

/// Prepares the grading process once: more descriptors (1,000 clients need them), signal
/// handlers that stop every server before exiting, and a sweep for strays of dead graders.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
        install_signal_handlers();
        sweep_strays();
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

/// Closes every shepherd's socket (each then kills its tree) and waits for them to finish.
pub fn stop_all() {
    let pids: Vec<i32> = lock()
        .iter()
        .map(|(pid, control)| {
            let _ = control.shutdown(std::net::Shutdown::Both);
            *pid
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(35);
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
            let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
        }
    }
}

fn tag_of(pid: i32) -> Option<String> {
    procfs::env_var(pid, TAG_VAR)
}

/// Processes of the servers tagged `tags` that are still alive: after a grading run there
/// must be none.
pub fn alive(tags: &[String]) -> Vec<procfs::Proc> {
    procfs::tagged(TAG_VAR, "")
        .into_iter()
        .filter(|p| !p.is_zombie() && tag_of(p.pid).is_some_and(|t| tags.contains(&t)))
        .collect()
}

/// Processes this grader started that are still alive (there should be none between checks).
pub fn strays() -> Vec<procfs::Proc> {
    procfs::tagged(TAG_VAR, &format!("{}:", std::process::id()))
        .into_iter()
        .filter(|p| !p.is_zombie())
        .collect()
}
