//! Why a check failed: a [`Verdict`] carries a message for the learner and a [`Kind`] for the
//! grader, so that the grader decides what to do next (skip the rest of a run, explain a
//! crash) from the kind, never by matching words in the message.
//!
//! A verdict may also carry a [`Cause`]: what the server really does wrong, when the grader
//! could tell. It is shown instead of the check's hint, which names what the check is about
//! and would send the learner after the symptom.
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
    /// Not graded: the submission was refused (it reaches outside its crate) or did not
    /// build, so there was no server to run.
    NotBuilt,
}

/// Why a check failed: what was sent, what was expected and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub kind: Kind,
    pub message: String,
    /// The bug behind the symptom, when a diagnosis found it.
    pub cause: Option<Cause>,
}

/// The bug behind a failure, found by looking at what the server was doing: shown instead of
/// the check's hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The bug, in words: what the server does, and why that fails.
    pub says: String,
    /// The check that grades this bug, when it is another check than the one that failed
    /// ("see `no-zombies`"): fix that one first.
    pub see: Option<&'static str>,
    /// The book section that explains it: `file.md#anchor` under `book/src/`.
    pub book: &'static str,
}

impl Cause {
    /// The cause as one line: its words, and the check to see if there is one.
    pub fn text(&self) -> String {
        match self.see {
            Some(id) => format!("{} (see `{id}`)", self.says),
            None => self.says.clone(),
        }
    }
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
            cause: None,
        }
    }

    /// Puts `context` in front of the message: `"client 2: ..."`.
    pub fn context(self, context: impl std::fmt::Display) -> Verdict {
        Verdict {
            message: format!("{context}: {}", self.message),
            ..self
        }
    }

    /// Names the bug behind the failure, unless an earlier diagnosis already did (the one
    /// made closest to the failure saw the most).
    pub fn because(self, cause: Option<Cause>) -> Verdict {
        Verdict {
            cause: self.cause.or(cause),
            ..self
        }
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
