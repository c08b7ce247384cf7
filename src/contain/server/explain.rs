//! How a server's fate is put into words: a wrong or borrowed address, a server that
//! stopped, died, hit a cap or never announced, each with the last of its stderr.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::{Server, ANNOUNCE_SCAN, ANNOUNCE_TIMEOUT};
use crate::contain::output::{todo_message, TODO};
use crate::contain::protocol::Exit;
use crate::probe::procfs::Proc;
use crate::probe::settle::poll;
use crate::probe::sockets::{self, Holders};
use crate::verdict::{Kind, Verdict};

impl Server {
    /// Fails unless the announced address is on loopback and one of the server's own
    /// processes holds the socket listening there: a program must not borrow another's port,
    /// and a grader (perhaps root) must never connect where a program merely says.
    pub(super) fn verify_listener(&self) -> Result<(), Verdict> {
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
            match sockets::listener(addr) {
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
        let what = if sockets::listener(addr).is_some() {
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

    pub(super) fn why_no_announce(&self) -> Verdict {
        // What it said as it ended, a todo!()'s panic above all, comes last on stderr.
        if self.shared.lock().exit.is_some() {
            self.shared
                .wait_for(Duration::from_millis(500), |s| s.stderr_closed);
        }
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
        let exited = state.exit.is_some() && state.limit.is_none();
        drop(state);
        // A stub whose unwritten part runs before the announce (the multi-reactor binds its
        // listeners there) points at its todo!(), as one that panics after it does.
        if let Some(todo) = exited.then(|| todo_message(&self.stderr_tail())).flatten() {
            return Verdict::of(Kind::Todo, format!("{TODO}{todo}"));
        }
        Verdict::of(kind, format!("{what}{}", self.stderr_note()))
    }
}
