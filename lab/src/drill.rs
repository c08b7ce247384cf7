//! The seeds' drill: every server at every number of connections, one cell at a time, with
//! the floor measured first; and what the run found, as one value that the reports (and
//! the book) are written from.

use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::cell::{self, Cell, Settings};
use crate::classify::Class;
use crate::env::Env;
use crate::floor::{self, Floor};
use crate::stats::micros;
use crate::targets::{label, Kind, Target};
use workbook::drive::client::thousands;

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Drill {
    pub env: Env,
    pub settings: Settings,
    pub floor: Vec<Floor>,
    pub servers: Vec<ServerRun>,
    /// How long the run took, in seconds.
    pub secs: f64,
}

/// One server's row of cells.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerRun {
    pub name: String,
    pub kind: Kind,
    pub cells: Vec<Cell>,
    /// A measurement that could not be made (the server did not start, say).
    pub errors: Vec<String>,
}

impl ServerRun {
    pub fn label(&self) -> String {
        label(&self.name, self.kind)
    }

    /// The first cell, by number of connections, that is not ok.
    pub fn breaks_first(&self) -> Option<&Cell> {
        self.cells.iter().find(|c| c.class != Class::Ok)
    }

    pub fn cell(&self, conns: usize) -> Option<&Cell> {
        self.cells.iter().find(|c| c.conns == conns)
    }
}

impl Drill {
    pub fn server(&self, name: &str) -> Option<&ServerRun> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// Whether any measurement failed outright.
    pub fn failed(&self) -> bool {
        self.servers.iter().any(|s| !s.errors.is_empty())
    }
}

/// Runs the drill on `targets`.
pub fn run(env: Env, settings: Settings, targets: &[Target]) -> Result<Drill, String> {
    let begun = Instant::now();
    let p = settings.placement;
    let floor =
        floor::measure(p.server, p.client, settings.cpus).map_err(|e| format!("the floor: {e}"))?;
    for f in &floor {
        eprintln!(
            "lab: floor ({}): {} round trips/s, p50 {}, p99 {}",
            f.placement,
            thousands(f.round_trips_per_second as u64),
            micros(f.latency.p50),
            micros(f.latency.p99)
        );
    }
    let bars = MultiProgress::new();
    let cells = (targets.len() * settings.conns.len()) as u64;
    let overall = bars.add(ProgressBar::new(cells));
    overall.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} cells, {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    overall.set_prefix("drill");
    let mut servers = Vec::new();
    for target in targets {
        let mut run = ServerRun {
            name: target.name.clone(),
            kind: target.kind,
            cells: Vec::new(),
            errors: Vec::new(),
        };
        for &n in &settings.conns {
            let bar = bars.add(ProgressBar::new(n as u64));
            bar.set_style(
                ProgressStyle::with_template("{prefix:>24} {pos:>6}/{len} connections, {msg}")
                    .expect("a valid template"),
            );
            bar.set_prefix(format!("{} at {}", target.name, thousands(n as u64)));
            let measured = cell::measure(target, n, &settings, &bar);
            bar.finish_and_clear();
            bars.remove(&bar);
            overall.inc(1);
            bars.suspend(|| match &measured {
                Ok(cell) => eprintln!("lab: {}", summary(&target.name, cell)),
                Err(e) => eprintln!("lab: {} at {n}: failed: {e}", target.name),
            });
            match measured {
                Ok(cell) => run.cells.push(cell),
                Err(e) => run
                    .errors
                    .push(format!("at {} connections: {e}", thousands(n as u64))),
            }
        }
        servers.push(run);
    }
    overall.finish_and_clear();
    Ok(Drill {
        env,
        settings,
        floor,
        servers,
        secs: begun.elapsed().as_secs_f64(),
    })
}

/// One line per cell, for the terminal while the drill runs.
fn summary(name: &str, c: &Cell) -> String {
    let rate = c.closed.as_ref().map_or("no echo".to_string(), |l| {
        format!(
            "{}/s, {:.1} µs of server CPU each",
            thousands(l.per_second as u64),
            l.cpu_per_echo_us
        )
    });
    let p99 = c
        .open
        .iter()
        .map(|l| micros(l.latency.p99))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{name} at {}: {}{}; closed loop {rate}; open-loop p99 {p99}; {:.0} s",
        thousands(c.conns as u64),
        c.class.name(),
        if c.why.is_empty() {
            String::new()
        } else {
            format!(" ({})", c.why)
        },
        c.secs
    )
}
