//! Why a check failed: a [`Verdict`] carries a message for the learner and a [`Kind`] for the
//! grader, so that the grader decides what to do next (skip the rest of a run, explain a
//! crash) from the kind, never by matching words in the message.
//!
//! This is the bottom layer: every other module may use it, and it uses none of them.

/// What kind of failure a verdict reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The server answered wrongly, or not as the architecture promises.
    Wrong,
    /// The server never printed its address (exited first, stayed silent, flooded stdout).
    NoAnnounce,
    /// The server announced an address the grader will not connect to: off loopback, or a
    /// port that no process of the server's listens on.
    Address,
    /// The grader killed the server for exceeding a cap (processes, threads, memory, disk).
    CapHit,
    /// The server's main process ended while it should have been serving.
    ServerExited,
    /// The server stopped at a `todo!()` that is still to be written.
    Todo,
    /// The check ran out of its own time limit.
    TimedOut,
    /// The grading run ran out of its budget before this check could run.
    Budget,
    /// Not graded: the check grades an architecture the server was found not to be.
    Gated,
    /// The grader itself failed (it could not start a thread, say): not the learner's fault.
    Grader,
}

/// Why a check failed: what was sent, what was expected and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub kind: Kind,
    pub message: String,
}

impl Verdict {
    /// A failure of the server's behaviour ([`Kind::Wrong`]).
    pub fn new(message: impl Into<String>) -> Verdict {
        Verdict::of(Kind::Wrong, message)
    }

    pub fn of(kind: Kind, message: impl Into<String>) -> Verdict {
        Verdict {
            kind,
            message: message.into(),
        }
    }

    /// Puts `context` in front of the message: `"client 2: ..."`.
    pub fn context(self, context: impl std::fmt::Display) -> Verdict {
        Verdict::of(self.kind, format!("{context}: {}", self.message))
    }
}

/// The result of a check's function.
pub type Outcome = Result<(), Verdict>;

/// Ends a check with a failure: `fail!("expected {x}, got {y}")`.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::verdict::Verdict::new(format!($($arg)*)))
    };
}

/// Fails the check unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::fail!($($arg)*);
        }
    };
}
