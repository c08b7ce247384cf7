//! The shepherd's meter: each tick, the server's tree measured against its caps (processes,
//! threads, memory).
//!
//! Finding the tree means reading the parent of every process on the machine (see
//! [`procfs::descendants`]): on a desk with a browser's hundreds of processes, or beside
//! other gradings, that costs more than the server being graded. So the meter scans the
//! machine every [`SCAN_EVERY`] ticks, and in between reads only the processes it knows and
//! the children of their main threads: memory and threads are measured every tick, a
//! fork from a main thread (a fork bomb's) is seen at once, and a fork from another thread
//! at the next scan, with `RLIMIT_NPROC` (which both trees set) the kernel's bound meanwhile.

use crate::contain::shepherd::{Limits, Tree};
use crate::probe::procfs::{self, Proc};

/// Every how many ticks memfds are counted: it reads every descriptor of the tree.
const MEMFD_EVERY: u32 = 8;

/// Every how many ticks the whole machine is scanned for the tree's processes.
const SCAN_EVERY: u32 = 4;

/// Measures the tree against the caps, once each tick.
#[derive(Default)]
pub(crate) struct Meter {
    ticks: u32,
    /// Bytes in memfds at the last count (they are counted every few ticks).
    memfd_bytes: u64,
    /// A cap was hit and said: the tree is dead, and a cgroup's counters stay as they were.
    tripped: bool,
    /// The tree's processes, `(pid, start)`, as of the last tick.
    known: Vec<(i32, u64)>,
}

impl Meter {
    /// Names the cap the tree has exceeded, once.
    pub(crate) fn over_limit(&mut self, tree: &Tree, limits: &Limits) -> Option<String> {
        if self.tripped {
            return None;
        }
        let over = self.measure(tree, limits);
        self.tripped = over.is_some();
        over
    }

    fn measure(&mut self, tree: &Tree, limits: &Limits) -> Option<String> {
        self.ticks = self.ticks.wrapping_add(1);
        let members = self.members(tree);
        let procs = members.iter().filter(|p| !p.is_zombie()).count();
        let tasks: usize = members.iter().map(|p| p.threads).sum();
        if procs > limits.max_procs {
            return Some(format!(
                "{procs} processes at once (the cap is {}): the server was killed",
                limits.max_procs
            ));
        }
        if tasks > limits.max_tasks {
            return Some(format!(
                "{tasks} threads at once (the cap is {}): the server was killed",
                limits.max_tasks
            ));
        }
        let memory_mib = self.memory_kib(tree, &members) / 1024;
        let cap = limits.max_rss_mib;
        if memory_mib > cap {
            return Some(format!(
                "{memory_mib} MiB of memory (the cap is {cap} MiB): the server was killed"
            ));
        }
        if let Tree::Fenced(fence) = tree {
            if let Some((kills @ 1.., peak)) = fence.oom_kills() {
                return Some(format!(
                    "{peak} MiB of memory (the cap is {cap} MiB): the kernel killed {kills} \
                     of its processes, then the grader the rest"
                ));
            }
        }
        None
    }

    /// What the tree holds in memory: resident memory (shared memory it maps included),
    /// memfds it holds without mapping them, and what it wrote to its private `/tmp`.
    fn memory_kib(&mut self, tree: &Tree, members: &[Proc]) -> u64 {
        if self.ticks % MEMFD_EVERY == 1 {
            let pids: Vec<i32> = members.iter().map(|p| p.pid).collect();
            self.memfd_bytes = procfs::memfd_bytes(&pids);
        }
        let rss: u64 = members.iter().map(|p| p.rss_kib).sum();
        let scratch = match tree {
            Tree::Fenced(fence) => fence.scratch_kib(members),
            Tree::Plain(_) => 0,
        };
        rss + self.memfd_bytes / 1024 + scratch
    }

    /// The tree's processes now: a scan of the machine every [`SCAN_EVERY`] ticks (and while
    /// none is known), else the known ones, read again, and their main threads' children.
    fn members(&mut self, tree: &Tree) -> Vec<Proc> {
        let members = if self.ticks % SCAN_EVERY == 1 || self.known.is_empty() {
            tree.members()
        } else {
            let mut found: Vec<Proc> = Vec::with_capacity(self.known.len());
            let mut queue: Vec<i32> = self.known.iter().map(|&(pid, _)| pid).collect();
            let mut seen: std::collections::HashSet<i32> = queue.iter().copied().collect();
            while let Some(pid) = queue.pop() {
                // A known pid may have ended and been reused: only the same process counts.
                let Some(p) = procfs::read(pid) else { continue };
                let was = self.known.iter().find(|&&(k, _)| k == pid);
                if was.is_some_and(|&(_, start)| start != p.start) {
                    continue;
                }
                for child in procfs::main_thread_children(pid) {
                    if seen.insert(child) {
                        queue.push(child);
                    }
                }
                found.push(p);
            }
            found
        };
        self.known = members.iter().map(|p| (p.pid, p.start)).collect();
        members
    }
}
