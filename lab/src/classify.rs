//! How a cell went, as data: the seeds' drill asks to "note what breaks first", and a
//! failure named by rule can be compared across architectures and runs.
//!
//! The first rule that applies names the cell, in this order:
//! 1. **capped**: a limit stopped it, not the architecture: the lab's caps on the server
//!    (processes, threads, memory), or descriptors or ports on either side;
//! 2. **crashed**: the server ended;
//! 3. **refused**: some connections were never established;
//! 4. **starved**: established, but some clients were never served (no echo of their first
//!    line before the lab stopped waiting, or none during a whole closed-loop window);
//! 5. **degraded**: served, but an open loop's p99 (corrected for coordinated omission) was
//!    over the run's bound, or requests were still unanswered after the window;
//! 6. **ok**.

use serde::{Deserialize, Serialize};
use workbook::drive::client::thousands;

use crate::connect::Connect;
use crate::load::Load;
use crate::stats::micros;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    Ok,
    Degraded,
    Starved,
    Refused,
    Crashed,
    Capped,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Ok => "ok",
            Class::Degraded => "degraded",
            Class::Starved => "starved",
            Class::Refused => "refused",
            Class::Crashed => "crashed",
            Class::Capped => "capped",
        }
    }
}

/// What a cell saw, for [`classify`].
pub struct Facts<'a> {
    /// Why the lab's shepherd stopped the server, if it did.
    pub limit: Option<String>,
    /// How the server ended, if it did, with the last line of its stderr.
    pub exit: Option<String>,
    pub connect: &'a Connect,
    pub closed: Option<&'a Load>,
    pub open: &'a [Load],
    /// The open loop's p99 bound, in µs.
    pub p99_bound_us: u64,
}

/// The cell's class and why, in one sentence.
pub fn classify(f: &Facts) -> (Class, String) {
    let c = f.connect;
    if let Some(limit) = &f.limit {
        return (Class::Capped, format!("the lab's cap: {limit}"));
    }
    if let Some(exit) = &f.exit {
        return (Class::Crashed, format!("the server ended: {exit}"));
    }
    let capped: Vec<String> = c
        .failed
        .iter()
        .filter(|(why, _)| why.contains("descriptors") || why.contains("port"))
        .map(|(why, n)| format!("{} connects: {why}", thousands(*n as u64)))
        .collect();
    if !capped.is_empty() {
        return (Class::Capped, capped.join("; "));
    }
    if c.established < c.requested {
        let why: Vec<String> = c
            .failed
            .iter()
            .map(|(why, n)| format!("{} {why}", thousands(*n as u64)))
            .collect();
        return (
            Class::Refused,
            format!(
                "{} of {} connects failed ({}); {} listen-queue overflows",
                thousands((c.requested - c.established) as u64),
                thousands(c.requested as u64),
                why.join(", "),
                thousands(c.listen_overflows)
            ),
        );
    }
    if c.served < c.established {
        return (
            Class::Starved,
            format!(
                "{} of {} clients never had their first line echoed",
                thousands((c.established - c.served) as u64),
                thousands(c.established as u64)
            ),
        );
    }
    if let Some(l) = f.closed.filter(|l| l.starved > 0) {
        return (
            Class::Starved,
            format!(
                "{} of {} connections had no echo in the closed loop's window",
                thousands(l.starved as u64),
                thousands(l.connections as u64)
            ),
        );
    }
    for l in f.closed.into_iter().chain(f.open) {
        let load = l.rate.map_or("in the closed loop".into(), |r| {
            format!("at {}/s", thousands(r as u64))
        });
        if l.stuck > 0 {
            return (
                Class::Degraded,
                format!(
                    "{load}, {} requests still unanswered 2 s after the window",
                    l.stuck
                ),
            );
        }
        // A closed loop's latency grows with its connections whatever the server does
        // (Little's law): only the open loop's is held to the bound.
        if l.rate.is_some() && l.latency.p99 > f.p99_bound_us {
            return (
                Class::Degraded,
                format!(
                    "{load}, p99 {} (bound {})",
                    micros(l.latency.p99),
                    micros(f.p99_bound_us)
                ),
            );
        }
    }
    (Class::Ok, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Latency;

    fn connect(requested: usize, established: usize, served: usize) -> Connect {
        Connect {
            requested,
            established,
            served,
            ..Connect::default()
        }
    }

    fn open(p99: u64) -> Load {
        Load {
            rate: Some(1000.0),
            latency: Latency {
                p99,
                ..Latency::default()
            },
            ..Load::default()
        }
    }

    fn class(f: Facts) -> Class {
        classify(&f).0
    }

    fn facts<'a>(c: &'a Connect, open: &'a [Load]) -> Facts<'a> {
        Facts {
            limit: None,
            exit: None,
            connect: c,
            closed: None,
            open,
            p99_bound_us: 10_000,
        }
    }

    #[test]
    fn the_first_rule_that_applies_names_the_cell() {
        let fine = connect(100, 100, 100);
        let slow = [open(20_000)];
        assert_eq!(class(facts(&fine, &[open(900)])), Class::Ok);
        assert_eq!(class(facts(&fine, &slow)), Class::Degraded);
        assert_eq!(class(facts(&connect(100, 100, 1), &slow)), Class::Starved);
        assert_eq!(class(facts(&connect(100, 90, 1), &slow)), Class::Refused);
        let crashed = Facts {
            exit: Some("killed by SIGSEGV".into()),
            ..facts(&fine, &slow)
        };
        assert_eq!(class(crashed), Class::Crashed);
        let capped = Facts {
            limit: Some("10,051 processes".into()),
            exit: Some("killed".into()),
            ..facts(&fine, &slow)
        };
        assert_eq!(class(capped), Class::Capped);
    }

    #[test]
    fn running_out_of_descriptors_is_a_cap_not_a_refusal() {
        let mut c = connect(100, 90, 90);
        c.failed.insert("the lab ran out of descriptors".into(), 10);
        let (class, why) = classify(&facts(&c, &[]));
        assert_eq!(class, Class::Capped);
        assert!(why.contains("10 connects"), "{why}");
    }

    #[test]
    fn a_closed_loop_with_silent_connections_is_starved() {
        let fine = connect(100, 100, 100);
        let closed = Load {
            connections: 100,
            starved: 99,
            ..Load::default()
        };
        let f = Facts {
            closed: Some(&closed),
            ..facts(&fine, &[])
        };
        assert_eq!(class(f), Class::Starved);
    }
}
