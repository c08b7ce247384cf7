//! The bugs behind secondary failures: when a forking check fails because of a bug that
//! another check grades (no reaping, children that never exit, a parent that waits for a
//! child), its verdict names that bug and that check instead of giving its own hint, which
//! would send the learner after the symptom.

use crate::contain::server::Server;
use crate::probe::procfs;
use crate::verdict::Cause;

/// The server leaves ended children unreaped: each stays a zombie, whether it exited or was
/// killed, and counts against `RLIMIT_NPROC` as a live child does.
pub(super) fn not_reaping() -> Cause {
    Cause {
        says: "the server does not reap its children: every child that ends stays a zombie \
               until the parent collects it with waitpid, whether it exited or was killed, and \
               a zombie counts against the process limit as a live child does"
            .into(),
        see: Some("no-zombies"),
        book: "forking.md#zombies-and-sigchld",
    }
}

/// Children outlive their clients, and so keep using up the process limit.
pub(super) fn children_outlive(running: usize) -> Cause {
    Cause {
        says: format!(
            "the server's children do not end with their connections: {running} of them were \
             still running after every client had left, each counted against the process limit"
        ),
        see: Some("children-exit"),
        book: "forking.md#how-a-child-ends",
    }
}

/// The parent sleeps in the kernel's `do_wait`: it waits for a child that has not ended (a
/// `wait`, or a `waitpid` without `WNOHANG`), and accepts nobody meanwhile.
pub(super) fn waits_for_a_child(server: &Server) -> Option<Cause> {
    (procfs::wchan(server.pid()).as_deref() == Some("do_wait")).then(|| Cause {
        says: "the parent is waiting for a child that has not ended (a wait, or a waitpid \
               without WNOHANG, in its SIGCHLD handler?), and accepts nobody meanwhile"
            .into(),
        see: Some("sigchld-in-accept"),
        book: "forking.md#signals-interrupt-system-calls-eintr",
    })
}
