//! Diagnoses: what the server was doing when a check failed, told from `/proc`, so that a
//! verdict can name the bug behind the symptom (a [`Cause`]) instead of the failed check's
//! hint, which would send the learner after the symptom.
//!
//! Each diagnosis looks only for evidence that one bug leaves and a correct server never
//! does, and says nothing otherwise. [`explain`] runs those that apply to any failure; it is
//! called where a check fails while its clients are still connected, and by the runner for
//! every failure, after the check has ended.

use std::time::Duration;

use crate::contain::server::Server;
use crate::drive::client::{secs, thousands};
use crate::probe::epoll;
use crate::probe::procfs;
use crate::probe::settle::poll;
use crate::probe::sockets::{End, Table};
use crate::verdict::{Cause, Verdict};

/// How long a stalled connection must stay exactly as it is before it counts as stalled:
/// far longer than a server that is merely slow to be scheduled leaves input unread while
/// asleep (it is not asleep: it is ready to run).
const STALL: Duration = Duration::from_millis(300);

/// Adds to `verdict` the cause the diagnoses that apply to any failure find, if any.
pub fn explain(server: &Server, verdict: Verdict) -> Verdict {
    if verdict.cause.is_some() {
        return verdict;
    }
    verdict.because(cause(server))
}

/// What the diagnoses that apply to any failure find now.
pub fn cause(server: &Server) -> Option<Cause> {
    unread_input(server)
}

/// `.explained(&server)`: runs [`explain`] on a failure where it happens, while the check's
/// clients are still connected. Some evidence leaves with them: a server that reads what is
/// left once a client closes shows no stalled connection after the check.
pub trait Explained {
    fn explained(self, server: &Server) -> Self;
}

impl<T> Explained for Result<T, Verdict> {
    fn explained(self, server: &Server) -> Self {
        self.map_err(|v| explain(server, v))
    }
}

/// Input the server leaves unread while it sleeps in `epoll_wait`: the mark of an
/// edge-triggered loop that reads once per event instead of until `WouldBlock`.
///
/// The evidence: connections whose receive queue holds bytes (or the client's end of stream)
/// while nothing the server wrote to them is still on its way (so it has no reason to hold
/// back), and none of that changes for [`STALL`], while the server sleeps in `epoll_wait`
/// throughout. A level-triggered loop cannot sleep while a socket it watches is readable; a
/// loop that stopped reading for backpressure has output queued.
pub fn unread_input(server: &Server) -> Option<Cause> {
    let port = server.addr().port();
    let asleep = || asleep_in_epoll_wait(server.pid());
    if !asleep() {
        return None;
    }
    let mut first: Vec<End> = Table::read(port)
        .ends()
        .into_iter()
        .filter(|e| e.unread > 0 && e.unsent == 0)
        .collect();
    first.sort_by_key(|e| e.inode);
    first.dedup_by_key(|e| e.inode);
    if first.is_empty() {
        return None;
    }
    // Waiting for a change, with a deadline: any change to those connections (a read, new
    // input, output) or a wakeup means the server is not stalled. A connection missing from
    // one reading of /proc/net/tcp is not a change: the kernel lists the table a page at a
    // time, and while other sockets come and go, one reading may skip an entry.
    let changed = poll(STALL, || {
        let now = Table::read(port).ends();
        let moved = first
            .iter()
            .any(|f| now.iter().any(|e| e.inode == f.inode && e != f));
        (moved || !asleep()).then_some(())
    });
    if changed.is_some() {
        return None;
    }
    let bytes: u64 = first
        .iter()
        .map(|e| u64::from(e.unread) - u64::from(e.peer_closed))
        .sum();
    let eofs = first.iter().filter(|e| e.peer_closed).count();
    let what = match (bytes, eofs) {
        (0, 1) => "a client's end of stream (its FIN)".to_string(),
        (0, n) => format!("{n} clients' end of stream (their FIN)"),
        (b, 0) => format!("{} bytes", thousands(b)),
        (b, n) => format!("{} bytes and {n} clients' end of stream", thousands(b)),
    };
    let sockets = match first.len() {
        1 => "one of its sockets".to_string(),
        n => format!("{n} of its sockets"),
    };
    Some(Cause {
        says: format!(
            "edge-triggered: read until WouldBlock. While the server slept in epoll_wait, \
             {what} sat unread in {sockets} for {} and nothing new arrived: with EPOLLET, \
             epoll reports a socket when input arrives, not while input waits, so what one \
             read leaves behind is never reported again",
            secs(STALL)
        ),
        see: None,
        book: "epoll.md#level-triggered-or-edge-triggered",
    })
}

/// Connections registered, level-triggered, for `EPOLLOUT` although nothing of theirs waits
/// to be sent: every `epoll_wait` returns at once for them, so the loop never sleeps. Only
/// a cause when the server is known to be busy.
pub fn idle_epollout(server: &Server) -> Option<Cause> {
    let ends = Table::read(server.addr().port()).ends();
    let idle = epoll::watched(server.pid())
        .into_iter()
        .filter(|w| w.wants_write_level())
        .filter(|w| ends.iter().any(|e| e.inode == w.inode && e.unsent == 0))
        .count();
    if idle == 0 {
        return None;
    }
    let connections = match idle {
        1 => "one connection".to_string(),
        n => format!("{n} connections"),
    };
    Some(Cause {
        says: format!(
            "asks for EPOLLOUT while it has nothing to write: epoll reports the socket \
             writable at once, every time. Its epoll instance watched {connections} for \
             EPOLLOUT (level-triggered) with nothing waiting to be sent, so epoll_wait never \
             slept; ask for EPOLLOUT only while a connection has output left over, and drop \
             it once that is sent"
        ),
        see: None,
        book: "epoll.md#level-triggered-or-edge-triggered",
    })
}

/// Whether `pid` sleeps in `epoll_wait`: none of its threads is running, and one of them
/// sleeps in the kernel's epoll wait (`do_epoll_wait`, or `ep_poll` on older kernels).
fn asleep_in_epoll_wait(pid: i32) -> bool {
    let tasks = procfs::tasks(pid);
    tasks.iter().all(|t| t.state != 'R') && tasks.iter().any(procfs::Task::in_epoll_wait)
}
