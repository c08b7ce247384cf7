//! The targets the solutions aim at, each against a tokio yardstick measured in the same
//! run by the same client (`DEVELOPERS.md`, and issue 14's section 2 for epoll): declared
//! here as data, and checked in a run's tables and, over `--rounds`, as medians.
//!
//! A target is a ratio, the server's figure over the yardstick's, with a bound: a p99 or a
//! CPU time per echo must be at most so much of tokio's, an echo rate at least so much.
//! One run's ratios move by tens of percent on a two-core virtual machine, so a target is
//! only ever judged by the median of several rounds.

use std::fmt::Write as _;

use workbook::drive::client::thousands;

use crate::drill::{Drill, ServerRun};
use crate::stats::micros;
use crate::targets::{label, Kind};

/// The bound on `server ÷ yardstick`.
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    AtMost(f64),
    AtLeast(f64),
}

impl Bound {
    fn holds(self, ratio: f64) -> bool {
        match self {
            Bound::AtMost(b) => ratio <= b,
            Bound::AtLeast(b) => ratio >= b,
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::AtMost(b) => write!(f, "≤ {b}"),
            Bound::AtLeast(b) => write!(f, "≥ {b}"),
        }
    }
}

/// A server's targets against a yardstick; `None` where it has none.
pub struct Goal {
    /// The architecture, as the registry names it.
    pub server: &'static str,
    /// The yardstick, as `serve::YARDSTICKS` names it.
    pub yardstick: &'static str,
    /// Each open loop's p99.
    pub p99: Option<Bound>,
    /// The server's CPU time per echo, closed loop.
    pub cpu: Option<Bound>,
    /// Echoes a second, closed loop.
    pub rate: Option<Bound>,
}

/// The targets. "Matches" is read as no worse: a p99 at most, a rate at least, the
/// yardstick's. The pools' targets hold for two threads each (`--workers 2`), as many as
/// `tokio-multi` has.
pub const GOALS: &[Goal] = &[
    // Issue 14, section 2.
    Goal {
        server: "epoll",
        yardstick: "tokio",
        p99: Some(Bound::AtMost(1.0)),
        cpu: Some(Bound::AtMost(0.9)),
        rate: None,
    },
    // "multi-reactor with 2 loops matches tokio multi_thread with 2 workers"
    Goal {
        server: "multi-reactor",
        yardstick: "tokio-multi",
        p99: Some(Bound::AtMost(1.0)),
        cpu: None,
        rate: Some(Bound::AtLeast(1.0)),
    },
    // "async is within 10 % of it"
    Goal {
        server: "async",
        yardstick: "tokio-multi",
        p99: Some(Bound::AtMost(1.1)),
        cpu: None,
        rate: Some(Bound::AtLeast(0.9)),
    },
];

/// Epoll's targets, issue 14's: the single-run table is theirs, and a program named on the
/// command line is held to them, to see how it compares.
const EPOLL: &Goal = &GOALS[0];

/// One target, as one run measured it.
pub struct Row {
    pub conns: usize,
    pub what: String,
    pub server: f64,
    pub yardstick: f64,
    pub bound: Bound,
    /// How to show `server` and `yardstick`.
    show: fn(f64) -> String,
}

impl Row {
    pub fn ratio(&self) -> f64 {
        if self.yardstick > 0.0 {
            self.server / self.yardstick
        } else {
            f64::NAN
        }
    }
}

fn met(ratio: f64, bound: Bound) -> &'static str {
    if bound.holds(ratio) {
        "yes"
    } else {
        "**no**"
    }
}

/// `goal`'s rows for `server`, at 1,000 connections and more, if the run measured it and
/// the yardstick.
fn rows(d: &Drill, server: &ServerRun, goal: &Goal) -> Vec<Row> {
    let Some(yardstick) = d.server(goal.yardstick) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for &n in d.settings.conns.iter().filter(|&&n| n >= 1_000) {
        let (Some(s), Some(y)) = (server.cell(n), yardstick.cell(n)) else {
            continue;
        };
        if let (Some(bound), Some(ls), Some(ly)) = (goal.rate, &s.closed, &y.closed) {
            rows.push(Row {
                conns: n,
                what: "echo rate, closed loop".to_string(),
                server: ls.per_second,
                yardstick: ly.per_second,
                bound,
                show: |v| format!("{}/s", thousands(v as u64)),
            });
        }
        if let Some(bound) = goal.p99 {
            for (ls, ly) in s.open.iter().zip(&y.open) {
                rows.push(Row {
                    conns: n,
                    what: format!(
                        "p99, open loop at {}/s",
                        thousands(ls.rate.unwrap_or(0.0) as u64)
                    ),
                    server: ls.latency.p99 as f64,
                    yardstick: ly.latency.p99 as f64,
                    bound,
                    show: |v| micros(v as u64),
                });
            }
        }
        if let (Some(bound), Some(ls), Some(ly)) = (goal.cpu, &s.closed, &y.closed) {
            rows.push(Row {
                conns: n,
                what: "server CPU per echo, closed loop".to_string(),
                server: ls.cpu_per_echo_us,
                yardstick: ly.cpu_per_echo_us,
                bound,
                show: |v| format!("{v:.2} µs"),
            });
        }
    }
    rows
}

/// The servers of `d` that have targets, each with its goal: the solutions named in
/// [`GOALS`], in their order, then the programs.
fn with_goals(d: &Drill) -> Vec<(&ServerRun, &'static Goal)> {
    let solutions = GOALS.iter().filter_map(|g| {
        let s = d
            .servers
            .iter()
            .find(|s| s.kind == Kind::Solution && s.name == g.server)?;
        Some((s, g))
    });
    let programs = d
        .servers
        .iter()
        .filter(|s| s.kind == Kind::Program)
        .map(|s| (s, EPOLL));
    solutions.chain(programs).collect()
}

/// Section 2 of issue 14, in this run: the epoll solution against tokio `current_thread`,
/// and whether every connection was established.
pub fn epoll(d: &Drill) -> String {
    let (Some(epoll), Some(tokio)) = (d.server(EPOLL.server), d.server(EPOLL.yardstick)) else {
        return String::new();
    };
    let mut t = String::from("| connections | measure | epoll | tokio | epoll ÷ tokio | target | met |\n|---|---|---|---|---|---|---|\n");
    let rows = rows(d, epoll, EPOLL);
    for &n in d.settings.conns.iter().filter(|&&n| n >= 1_000) {
        for r in rows.iter().filter(|r| r.conns == n) {
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {:.2} | {} | {} |",
                thousands(n as u64),
                r.what,
                (r.show)(r.server),
                (r.show)(r.yardstick),
                r.ratio(),
                r.bound,
                met(r.ratio(), r.bound)
            );
        }
        let (Some(e), Some(k)) = (epoll.cell(n), tokio.cell(n)) else {
            continue;
        };
        let _ = writeln!(
            t,
            "| {} | connections established | {} of {} | {} of {} | | all | {} |",
            thousands(n as u64),
            thousands(e.connect.established as u64),
            thousands(n as u64),
            thousands(k.connect.established as u64),
            thousands(n as u64),
            if e.connect.established == n {
                "yes"
            } else {
                "**no**"
            }
        );
    }
    t
}

/// Every target over several runs (`--rounds`): each ratio's median, with the lowest and
/// the highest. A table for each server with targets (and each program), if its yardstick
/// was measured too.
pub fn rounds(runs: &[Drill]) -> String {
    let Some(last) = runs.last() else {
        return String::new();
    };
    let tables: Vec<String> = with_goals(last)
        .into_iter()
        .map(|(server, goal)| rounds_of(runs, server, goal))
        .filter(|t| !t.is_empty())
        .collect();
    tables.join("\n")
}

/// [`rounds`]' table for `server`.
fn rounds_of(runs: &[Drill], server: &ServerRun, goal: &Goal) -> String {
    let per_run: Vec<Vec<Row>> = runs
        .iter()
        .map(|d| match d.server(&server.name) {
            Some(s) => rows(d, s, goal),
            None => Vec::new(),
        })
        .collect();
    let Some(first) = per_run.first().filter(|rows| !rows.is_empty()) else {
        return String::new();
    };
    let mut t = format!(
        "| connections | measure | median {} ÷ {} of {} runs | lowest | highest | target | met by the median |\n|---|---|---|---|---|---|---|\n",
        server.label(),
        label(goal.yardstick, Kind::Yardstick),
        runs.len()
    );
    for (i, row) in first.iter().enumerate() {
        let mut ratios: Vec<f64> = per_run
            .iter()
            .filter_map(|rows| rows.get(i).map(Row::ratio))
            .filter(|r| r.is_finite())
            .collect();
        if ratios.is_empty() {
            continue;
        }
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        let _ = writeln!(
            t,
            "| {} | {} | {median:.2} | {:.2} | {:.2} | {} | {} |",
            thousands(row.conns as u64),
            row.what,
            ratios[0],
            ratios[ratios.len() - 1],
            row.bound,
            met(median, row.bound)
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_holds_on_its_side_only() {
        assert!(Bound::AtMost(0.9).holds(0.9) && !Bound::AtMost(0.9).holds(0.91));
        assert!(Bound::AtLeast(0.9).holds(0.9) && !Bound::AtLeast(0.9).holds(0.89));
        assert_eq!(Bound::AtMost(1.0).to_string(), "≤ 1");
        assert_eq!(Bound::AtLeast(0.9).to_string(), "≥ 0.9");
    }

    #[test]
    fn epoll_is_held_to_issue_14s_targets() {
        assert_eq!((EPOLL.server, EPOLL.yardstick), ("epoll", "tokio"));
        assert!(matches!(EPOLL.cpu, Some(Bound::AtMost(b)) if b == 0.9));
    }

    #[test]
    fn every_goal_names_a_real_server_and_yardstick() {
        let names = crate::targets::names();
        for goal in GOALS {
            assert!(names.iter().any(|n| n == goal.server), "{}", goal.server);
            assert!(
                crate::serve::YARDSTICKS
                    .iter()
                    .any(|(n, _)| *n == goal.yardstick),
                "{}",
                goal.yardstick
            );
        }
    }
}
