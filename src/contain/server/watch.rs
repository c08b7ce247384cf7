//! What the grader hears from a running server: its shepherd's status lines, its stdout
//! (searched for the announce line, then drained) and its stderr (the tail kept), each read
//! by a thread of its own into one shared state that [`Server`](super::Server) waits on.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Exit, Fence, ANNOUNCE_SCAN, STDERR_KEEP};
use crate::contain::protocol::Status;

#[derive(Default)]
pub(super) struct State {
    pub(super) fence: Option<Fence>,
    pub(super) pid: Option<i32>,
    pub(super) start: u64,
    pub(super) spawn_error: Option<String>,
    pub(super) exit: Option<Exit>,
    pub(super) limit: Option<String>,
    pub(super) killed: bool,
    pub(super) shepherd_gone: bool,
    pub(super) announced: Option<SocketAddr>,
    pub(super) stdout_seen: usize,
    pub(super) stdout_head: String,
    pub(super) stdout_closed: bool,
    pub(super) stderr_closed: bool,
    pub(super) stderr_tail: VecDeque<u8>,
}

#[derive(Default)]
pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) changed: Condvar,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A reader thread that panicked leaves the state as usable as before.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }

    /// Waits until `done` holds or `timeout` passes; returns whether it holds.
    pub(super) fn wait_for(&self, timeout: Duration, done: impl Fn(&State) -> bool) -> bool {
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

pub(super) fn spawn_reader(
    name: &str,
    shared: Arc<Shared>,
    f: impl FnOnce(Arc<Shared>) + Send + 'static,
) {
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

pub(super) fn read_control(control: UnixStream, shared: &Shared) {
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
pub(super) fn read_stdout(stdout: impl Read, shared: &Shared) {
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

pub(super) fn read_stderr(mut stderr: impl Read, shared: &Shared) {
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
