//! What a server's descriptors hold, at one moment, told apart: the sockets of its
//! connections, which follow its clients, and the rest (listeners, epoll instances, spares,
//! pipes), which follow its threads. The leak checks compare each with a baseline.
//!
//! The rest may grow a little after the baseline without leaking: a thread may make its own
//! descriptors as it starts, and on a busy machine it may start late (seen: three loops of a
//! multi-reactor's four not started yet when its first client had been served). So it may grow
//! by [`PER_THREAD`] for every thread but the first; a server of one thread gets nothing.

use crate::contain::server::Server;
use crate::probe::sockets::{connection_sockets, Table};
use crate::verdict::Verdict;

/// Descriptors a thread may make for itself as it starts, at most: an epoll instance, a
/// spare for running out, a wake-up (two for a pipe).
pub(crate) const PER_THREAD: usize = 4;

/// The server's descriptors at one moment.
pub(crate) struct Held {
    /// The inodes of its connections' sockets ([`connection_sockets`]), one per descriptor.
    pub connections: Vec<u64>,
    /// Its other descriptors.
    pub others: usize,
    /// Its threads, in every process.
    pub threads: usize,
}

impl Held {
    /// Reads the server's descriptors now; a verdict if its main process is gone.
    pub fn now(server: &Server) -> Result<Held, Verdict> {
        let tree = server.tree();
        let living = tree.iter().filter(|p| !p.is_zombie());
        let pids: Vec<i32> = living.clone().map(|p| p.pid).collect();
        let connections = connection_sockets(&pids, server.addr().port());
        // Counted after the sockets: a socket closed between the two counts makes `others`
        // one low for one reading, never high.
        let all = server
            .fds_in(&tree)
            .ok_or_else(|| Verdict::new("the server's main process is gone"))?;
        Ok(Held {
            others: all.saturating_sub(connections.len()),
            threads: living.map(|p| p.threads).sum(),
            connections,
        })
    }

    /// Whether the server holds no more connection sockets than it did `before`.
    pub fn sockets_back(&self, before: &Held) -> bool {
        self.connections.len() <= before.connections.len()
    }

    /// How many more other descriptors than at the baseline its threads may explain.
    pub fn allowance(&self) -> usize {
        PER_THREAD * self.threads.saturating_sub(1)
    }

    /// Whether the server's other descriptors are back within [`Held::allowance`] of `before`.
    pub fn others_back(&self, before: &Held) -> bool {
        self.others <= before.others + self.allowance()
    }

    /// "6 descriptors leaked, each the socket of a connection that had ended (3 gone from the
    /// kernel's TCP table, ...; 3 closed by their client ...; 0 still open)": the sockets
    /// held now that were not `before`.
    pub fn leaked_sockets(&self, before: &Held, server: &Server) -> String {
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
    pub fn leaked_others(&self, before: &Held) -> String {
        format!(
            "{} more descriptors that are not sockets of connections ({} then, {} now): its {} \
             thread(s) explain {} at most ({PER_THREAD} for each thread but the first, made as \
             it starts), so something opened for its connections (a file, a timer, a pipe) \
             is never closed",
            self.others - before.others,
            before.others,
            self.others,
            self.threads,
            self.allowance()
        )
    }
}
