//! Known-buggy servers, each with the verdict the grader must give it.
//!
//! Every server follows the contract except for one deliberate bug, the kind learners (and
//! the reference articles) really write, and its [`Bug`] says, next to the code, which
//! checks must catch it: the binary (`buggy-servers NAME [ADDR]`) runs a server by name, and
//! `tests/prove.rs` grades each one and holds it to its expectation. This is dev-only code:
//! it proves the grader, it is not a model to copy.
//!
//! # Layout
//! - `common`: the iterative shape, wrong in the line protocol or in how a connection ends;
//!   graded as iterative, they prove the checks every architecture shares.
//! - `hostile`: servers that attack the grader's containment (hang, crash, flood, escape,
//!   fork without end), the grader itself (stop or kill it, forge its report) or the machine
//!   (hoard memory no RSS shows, fill /tmp); `tests/contain.rs` proves those that need more
//!   than a verdict.
//! - `integrity`: servers that try to earn marks they have not (work hidden in a sibling,
//!   decoys, a borrowed port, canned replies); `tests/integrity.rs` proves each.
//! - `forking`, `threaded`, `epoll`, `prefork`, `thread_pool`, `offload`, `multi_reactor`,
//!   `async_tasks` (async): one architecture each, the reference design with one part wrong.

mod async_tasks;
mod common;
mod epoll;
mod forking;
mod hostile;
mod integrity;
mod multi_reactor;
mod offload;
mod prefork;
mod thread_pool;
mod threaded;

use std::io;

/// One buggy server and the verdict it must get.
pub struct Bug {
    /// Its name on the command line and in test names.
    pub name: &'static str,
    /// The bug, in one line.
    pub about: &'static str,
    /// The rubric it is graded with: an architecture's name (`workbook rubric ARCH`).
    pub arch: &'static str,
    /// The checks that must fail.
    pub fails: Fails,
    /// Words the first failing check's message must contain (see [`Fails`] for which is
    /// first).
    pub says: &'static str,
    /// Graded while no other grading runs: it loads the whole machine (a fork bomb fills
    /// both cores), which would disturb the timing of any grading beside it.
    pub alone: bool,
    /// The server itself: listens, announces, serves; returns only if it fails.
    pub run: fn() -> io::Result<()>,
}

/// Which checks a buggy server must fail.
pub enum Fails {
    /// Exactly these, no more and no fewer. The first is the check aimed at the bug, whose
    /// message must say [`Bug::says`]; the others fail too, unavoidably, and a comment by
    /// the list says why.
    Exactly(&'static [&'static str]),
    /// Every check of the rubric, the first in rubric order saying [`Bug::says`]: a server
    /// that attacks the grader itself rather than one part of the contract, so no check is
    /// aimed at it.
    Every,
    /// The architecture's own checks, every one: the server is not of that architecture, so
    /// its gate fails and every check behind it fails with it (not counted). The named check
    /// is the one aimed at the bug, whose message must say [`Bug::says`].
    Own(&'static str),
    /// None: a correct server written differently from the reference, which must get full
    /// marks over the whole rubric (a grader that only recognises the reference's way would
    /// fail it).
    Nothing,
    /// Proven by the named test of the workbook instead, which asserts more than a verdict
    /// (that a borrowed port was never connected to, the grader's own memory, ...).
    Elsewhere(&'static str),
}

/// What another failing check of a server must say: when its bug makes a check aimed
/// elsewhere fail too, that verdict must name the bug, not give its own check's hint.
pub struct Also {
    /// The server, by name.
    pub bug: &'static str,
    /// One of the checks it must fail, not the first.
    pub check: &'static str,
    /// Words that check's message (with its cause) must contain.
    pub says: &'static str,
}

/// A check that a server's bug makes fail on most runs, not all: whether it does depends on
/// how the client's writes and the server's wakeups interleave. It may pass; when it fails,
/// its message must still say [`Sometimes::says`].
pub struct Sometimes {
    /// The server, by name.
    pub bug: &'static str,
    /// The check, not one of those the server must fail.
    pub check: &'static str,
    /// Words that check's message (with its cause) must contain when it fails.
    pub says: &'static str,
}

/// Every [`Sometimes`], by module.
pub fn sometimes() -> impl Iterator<Item = &'static Sometimes> {
    epoll::SOMETIMES.iter()
}

/// Every [`Also`], by module, each beside the servers it belongs to.
pub fn also() -> impl Iterator<Item = &'static Also> {
    [forking::ALSO, epoll::ALSO, multi_reactor::ALSO]
        .into_iter()
        .flatten()
}

/// Every buggy server, by module: common, hostile, integrity, forking, threaded, epoll,
/// prefork, thread-pool, offload, multi-reactor, async.
pub fn all() -> impl Iterator<Item = &'static Bug> {
    [
        common::BUGS,
        hostile::BUGS,
        integrity::BUGS,
        forking::BUGS,
        threaded::BUGS,
        epoll::BUGS,
        prefork::BUGS,
        thread_pool::BUGS,
        offload::BUGS,
        multi_reactor::BUGS,
        async_tasks::BUGS,
    ]
    .into_iter()
    .flatten()
}

/// The buggy server called `name`.
pub fn find(name: &str) -> Option<&'static Bug> {
    all().find(|bug| bug.name == name)
}
