//! What a server's descriptors hold, at one moment, told apart: the sockets of its
//! connections, which follow its clients, and the rest (listeners, epoll instances, spares,
//! pipes), which follow its threads and processes. The leak checks compare each with a
//! baseline.
//!
//! The rest may grow a little after the baseline without leaking: a thread may make its own
//! descriptors as it starts, and on a busy machine it may start late (seen: three loops of a
//! multi-reactor's four not started yet when its first client had been served), and so may
//! a worker process, or set them up at its first client. So each process's may grow by
//! [`PER_THREAD`] for every thread of it but the main process's first: a server of one
//! thread gets nothing. A process that was not there at the baseline (a worker started
//! late, a child that never exited) holds what its parent gave it: its sockets of
//! connections count, the rest is no leak of descriptors. Whether it should be running at
//! all is what the process checks (`children-exit`, `bounded-processes`) judge.

use crate::contain::server::Server;
use crate::probe::procfs;
use crate::probe::sockets::{connection_sockets, Table};
use crate::verdict::Verdict;

/// Descriptors a thread may make for itself as it starts, at most: an epoll instance, a
/// spare for running out, a wake-up (two for a pipe).
pub(crate) const PER_THREAD: usize = 4;

/// The server's descriptors at one moment.
pub(crate) struct Held {
    /// The inodes of its connections' sockets ([`connection_sockets`]), one per descriptor,
    /// in every process.
    pub connections: Vec<u64>,
    /// Its living processes, each with its other descriptors.
    processes: Vec<Share>,
}

/// One process's part of [`Held`].
struct Share {
    /// With `start`, which process this is.
    pid: i32,
    start: u64,
    /// Its descriptors that are not sockets of connections.
    others: usize,
    /// Its threads, less one if it is the main process.
    started: usize,
}

impl Share {
    /// How many more other descriptors than at the baseline its threads may explain.
    fn allowance(&self) -> usize {
        PER_THREAD * self.started
    }
}

/// Of the processes in both readings, those with more other descriptors than their threads
/// explain: what they had then, and have now.
struct Grown<'a> {
    then: usize,
    now: Vec<&'a Share>,
}

impl Held {
    /// Reads the server's descriptors now; a verdict if its main process is gone.
    pub fn now(server: &Server) -> Result<Held, Verdict> {
        let living: Vec<procfs::Proc> = server
            .tree()
            .into_iter()
            .filter(|p| !p.is_zombie())
            .collect();
        let pids: Vec<i32> = living.iter().map(|p| p.pid).collect();
        let connections = connection_sockets(&pids, server.addr().port());
        // Counted after the sockets: a socket closed between the two counts makes `others`
        // one low for one reading, never high.
        let processes: Vec<Share> = living
            .iter()
            .filter_map(|p| {
                let sockets = connections.iter().filter(|(pid, _)| *pid == p.pid).count();
                Some(Share {
                    pid: p.pid,
                    start: p.start,
                    others: procfs::open_fds(p.pid)?.saturating_sub(sockets),
                    started: p.threads.saturating_sub(usize::from(p.pid == server.pid())),
                })
            })
            .collect();
        if !processes.iter().any(|p| p.pid == server.pid()) {
            return Err(Verdict::new("the server's main process is gone"));
        }
        Ok(Held {
            connections: connections.into_iter().map(|(_, inode)| inode).collect(),
            processes,
        })
    }

    /// All its descriptors.
    pub fn total(&self) -> usize {
        self.connections.len() + self.processes.iter().map(|p| p.others).sum::<usize>()
    }

    /// Whether the server is back where it was `before`: no more connection sockets, and
    /// every process's other descriptors within what its threads explain.
    pub fn back(&self, before: &Held) -> bool {
        self.sockets_back(before) && self.others_back(before)
    }

    /// What the server leaked since `before`, told as [`Held::leaked_sockets`] or, if its
    /// connection sockets are back, [`Held::leaked_others`].
    pub fn leak(&self, before: &Held, server: &Server) -> String {
        if self.sockets_back(before) {
            self.leaked_others(before)
        } else {
            self.leaked_sockets(before, server)
        }
    }

    /// Whether the server holds no more connection sockets than it did `before`.
    fn sockets_back(&self, before: &Held) -> bool {
        self.connections.len() <= before.connections.len()
    }

    /// Whether every process of `before` still running is back within [`Share::allowance`]
    /// of its other descriptors then.
    fn others_back(&self, before: &Held) -> bool {
        self.grown(before).now.is_empty()
    }

    fn grown(&self, before: &Held) -> Grown<'_> {
        let mut grown = Grown {
            then: 0,
            now: Vec::new(),
        };
        for now in &self.processes {
            let then = before
                .processes
                .iter()
                .find(|b| b.pid == now.pid && b.start == now.start);
            if let Some(then) = then.filter(|then| now.others > then.others + now.allowance()) {
                grown.then += then.others;
                grown.now.push(now);
            }
        }
        grown
    }

    /// "6 descriptors leaked, each the socket of a connection that had ended (3 gone from the
    /// kernel's TCP table, ...; 3 closed by their client ...; 0 still open)": the sockets
    /// held now that were not `before`.
    fn leaked_sockets(&self, before: &Held, server: &Server) -> String {
        let new: Vec<u64> = self
            .connections
            .iter()
            .filter(|inode| !before.connections.contains(inode))
            .copied()
            .collect();
        let ends = Table::read(server.addr().port()).ends();
        let (mut closed, mut open) = (0, 0);
        for inode in &new {
            match ends.iter().find(|e| e.inode == *inode) {
                Some(end) if end.peer_closed => closed += 1,
                Some(_) => open += 1,
                // No longer in the TCP table: reset, or closed both ways (the kernel keeps
                // only a stand-in, with no socket, for TIME_WAIT).
                None => {}
            }
        }
        format!(
            "{} descriptors leaked, each the socket of a connection that had ended ({} gone \
             from the kernel's TCP table, reset or shut down at both ends; {closed} closed by \
             their client and never by the server; {open} still open)",
            self.connections.len() - before.connections.len(),
            new.len() - closed - open
        )
    }

    /// "1,000 more descriptors that are not sockets of connections, ...": what grew beyond
    /// the allowance.
    fn leaked_others(&self, before: &Held) -> String {
        let grown = self.grown(before);
        let now: usize = grown.now.iter().map(|p| p.others).sum();
        let started: usize = grown.now.iter().map(|p| p.started).sum();
        let allowance: usize = grown.now.iter().map(|p| p.allowance()).sum();
        format!(
            "{} more descriptors that are not sockets of connections ({} then, {now} now, in \
             {} of the processes it had before the clients came): their {started} thread(s) \
             besides the main one explain {allowance} at most ({PER_THREAD} each, made as it \
             starts or at its first client), so something opened for its connections (a \
             file, a timer, a pipe) is never closed",
            now - grown.then,
            grown.then,
            grown.now.len(),
        )
    }
}
