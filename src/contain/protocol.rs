//! The lines the shepherd and the grader exchange over the shepherd's control socket, as
//! types: each side writes with `Display` and reads with `FromStr`, so the two cannot drift.
//!
//! - shepherd to grader: a [`Status`] per line;
//! - grader to shepherd: an [`Order`] per line, or EOF (kill the tree, then exit).

use std::fmt;
use std::str::FromStr;

use nix::sys::signal::Signal;

/// How the server's main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => match Signal::try_from(s) {
                Ok(sig) => write!(f, "signal {}", sig.as_str()),
                Err(_) => write!(f, "signal {s}"),
            },
        }
    }
}

/// What the shepherd tells the grader.
///
/// The shepherd's own [init](super::init) speaks the same protocol to the shepherd, with pids
/// as its namespace numbers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The server's tree lives in namespaces of its own, below this init process (host pid
    /// and start time): killing that process kills the whole tree.
    Fenced(i32, u64),
    /// No namespaces could be made here (why, in words): the server runs as it did before
    /// namespaces, fenced only by the shepherd's scans and, as root, a uid of its own.
    Unfenced(String),
    /// The server runs, as this (host) pid, started at this time (clock ticks since boot,
    /// as `/proc/PID/stat` gives it): the pair names the process and no later one.
    Started(i32, u64),
    /// The server could not be started; why.
    SpawnFailed(String),
    /// The server's main process ended.
    Exited(i32, Exit),
    /// The tree went over a cap and was killed; which cap, in words.
    Limit(String),
    /// The tree is gone, as ordered.
    Killed,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line each: a message never carries a newline onto the wire.
        let one_line = |s: &str| s.replace('\n', " ");
        match self {
            Status::Fenced(pid, start) => write!(f, "fenced {pid} {start}"),
            Status::Unfenced(why) => write!(f, "unfenced {}", one_line(why)),
            Status::Started(pid, start) => write!(f, "started {pid} {start}"),
            Status::SpawnFailed(why) => write!(f, "spawn-failed {}", one_line(why)),
            Status::Exited(pid, Exit::Code(c)) => write!(f, "exited {pid} code {c}"),
            Status::Exited(pid, Exit::Signal(s)) => write!(f, "exited {pid} signal {s}"),
            Status::Limit(what) => write!(f, "limit {}", one_line(what)),
            Status::Killed => write!(f, "killed"),
        }
    }
}

/// A line that is not a [`Status`] or an [`Order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl FromStr for Status {
    type Err = Malformed;

    fn from_str(line: &str) -> Result<Status, Malformed> {
        let bad = || Malformed(line.to_string());
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let number = |s: &str| s.parse::<i32>().map_err(|_| bad());
        let process = |rest: &str| -> Result<(i32, u64), Malformed> {
            let (pid, start) = rest.split_once(' ').ok_or_else(bad)?;
            Ok((number(pid)?, start.parse().map_err(|_| bad())?))
        };
        match word {
            "fenced" => process(rest).map(|(pid, start)| Status::Fenced(pid, start)),
            "unfenced" => Ok(Status::Unfenced(rest.to_string())),
            "started" => process(rest).map(|(pid, start)| Status::Started(pid, start)),
            "spawn-failed" => Ok(Status::SpawnFailed(rest.to_string())),
            "limit" => Ok(Status::Limit(rest.to_string())),
            "killed" if rest.is_empty() => Ok(Status::Killed),
            "exited" => match rest.split(' ').collect::<Vec<_>>().as_slice() {
                [pid, "code", c] => Ok(Status::Exited(number(pid)?, Exit::Code(number(c)?))),
                [pid, "signal", s] => Ok(Status::Exited(number(pid)?, Exit::Signal(number(s)?))),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

/// What the grader tells the shepherd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Kill the tree now and answer [`Status::Killed`].
    Kill,
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Order::Kill => write!(f, "kill"),
        }
    }
}

impl FromStr for Order {
    type Err = Malformed;

    fn from_str(line: &str) -> Result<Order, Malformed> {
        match line {
            "kill" => Ok(Order::Kill),
            _ => Err(Malformed(line.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips() {
        let all = [
            Status::Fenced(41, 123_456),
            Status::Unfenced("unshare: Operation not permitted".into()),
            Status::Started(42, 123_457),
            Status::SpawnFailed("./server: No such file or directory".into()),
            Status::Exited(42, Exit::Code(3)),
            Status::Exited(42, Exit::Signal(9)),
            Status::Limit("301 processes at once (the cap is 300)".into()),
            Status::Killed,
        ];
        for status in all {
            assert_eq!(status.to_string().parse(), Ok(status.clone()), "{status}");
        }
        assert_eq!(Order::Kill.to_string().parse(), Ok(Order::Kill));
    }

    #[test]
    fn newlines_never_reach_the_wire_and_garbage_is_refused() {
        let line = Status::Limit("two\nlines".into()).to_string();
        assert_eq!(line, "limit two lines");
        for bad in [
            "",
            "started",
            "started x",
            "started 42",
            "fenced 41 x",
            "exited 1 code",
            "killed now",
            "hello",
        ] {
            assert!(bad.parse::<Status>().is_err(), "{bad:?}");
        }
        assert!("kill now".parse::<Order>().is_err());
    }
}
