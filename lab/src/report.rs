//! A run's results as files: `results.json` (everything measured, which `lab book` reads
//! back), `results.md` (the tables) and the charts (`charts.rs`). Each table is its own
//! function, so that the book can place them one by one.

use std::fmt::Write as _;
use std::path::Path;

use workbook::drive::client::thousands;

use crate::charts;
use crate::drill::Drill;
use crate::stats::{bytes, micros};
use crate::targets::Kind;

/// Writes `results.json`, `results.md` and the charts into `dir`.
pub fn write(drill: &Drill, dir: &Path) -> Result<(), String> {
    let io = |e: std::io::Error| format!("cannot write into {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(io)?;
    let json = serde_json::to_string_pretty(drill).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("results.json"), json).map_err(io)?;
    std::fs::write(dir.join("results.md"), markdown(drill)).map_err(io)?;
    for (name, svg) in charts::all(drill) {
        std::fs::write(dir.join(format!("{name}.svg")), svg).map_err(io)?;
    }
    Ok(())
}

/// Every table, with headings.
pub fn markdown(d: &Drill) -> String {
    let mut out = String::from("# The drill\n\n");
    let sections = [
        ("Environment", environment(d)),
        ("The floor", floor(d)),
        ("Every cell", overview(d)),
        ("What breaks first", breaks(d)),
        ("Epoll against tokio", targets(d)),
        ("Opening the connections", connections(d)),
        ("Latency", latency(d)),
        ("Memory, threads, processes", resources(d)),
    ];
    for (title, body) in sections.iter().filter(|(_, body)| !body.is_empty()) {
        let _ = write!(out, "## {title}\n\n{body}\n");
    }
    out
}

/// The machine and the run's settings.
pub fn environment(d: &Drill) -> String {
    let s = &d.settings;
    let rates: Vec<String> = s.rates.iter().map(|r| thousands(*r as u64)).collect();
    format!(
        "{}- connections opened at {}/s; each load {} s after {} s of warm-up; 64-byte lines; \
         open loop at {} requests/s; degraded above a p99 of {}{}{}\n- the run took {}\n",
        d.env.markdown(),
        thousands(s.connect_rate as u64),
        s.window_secs,
        s.warmup_secs,
        rates.join(" and "),
        micros(s.p99_bound_us),
        if s.work_micros > 0 {
            format!("; `--work {}`", s.work_micros)
        } else {
            String::new()
        },
        s.workers
            .map_or(String::new(), |n| format!("; `--workers {n}`")),
        duration(d.secs),
    )
}

fn duration(secs: f64) -> String {
    let secs = secs.round() as u64;
    if secs < 60 {
        format!("{secs} s")
    } else {
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

pub fn floor(d: &Drill) -> String {
    let mut t = String::from("| one connection, ping-pong | round trips/s | p50 | p99 | p99.9 |\n|---|---|---|---|---|\n");
    for f in &d.floor {
        let l = &f.latency;
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} |",
            f.placement,
            thousands(f.round_trips_per_second as u64),
            micros(l.p50),
            micros(l.p99),
            micros(l.p999)
        );
    }
    t
}

/// Rows of `(server label, cell)` in the run's order.
fn cells(d: &Drill) -> impl Iterator<Item = (String, &crate::cell::Cell)> {
    d.servers
        .iter()
        .flat_map(|s| s.cells.iter().map(move |c| (s.label(), c)))
}

pub fn overview(d: &Drill) -> String {
    let mut head = String::from("| server | connections | class | closed loop |");
    for r in &d.settings.rates {
        let _ = write!(head, " p99 at {}/s |", thousands(*r as u64));
    }
    head.push_str(" CPU per echo | memory per connection |\n|---|---|---|---|");
    head.push_str(&"---|".repeat(d.settings.rates.len() + 2));
    head.push('\n');
    for (label, c) in cells(d) {
        let closed = c.closed.as_ref();
        let _ = write!(
            head,
            "| {label} | {} | {} | {} |",
            thousands(c.conns as u64),
            c.class.name(),
            closed.map_or("–".into(), |l| format!(
                "{}/s",
                thousands(l.per_second as u64)
            )),
        );
        for i in 0..d.settings.rates.len() {
            let p99 = c
                .open
                .get(i)
                .filter(|l| l.latency.count > 0)
                .map_or("–".into(), |l| micros(l.latency.p99));
            let _ = write!(head, " {p99} |");
        }
        let _ = writeln!(
            head,
            " {} | {} + {} kernel |",
            // 0 when the server's CPU could not be read (a tree of 10,000 processes that
            // changed while it was read): no figure, rather than a wrong one.
            closed
                .filter(|l| l.cpu_per_echo_us > 0.0)
                .map_or("–".into(), |l| format!("{:.1} µs", l.cpu_per_echo_us)),
            bytes(c.memory.user),
            bytes(c.memory.kernel),
        );
    }
    head
}

pub fn breaks(d: &Drill) -> String {
    let mut t = String::from("| server | what breaks first | how |\n|---|---|---|\n");
    for s in &d.servers {
        let (first, how) = match s.breaks_first() {
            Some(c) => (
                format!(
                    "{} at {} connections",
                    c.class.name(),
                    thousands(c.conns as u64)
                ),
                c.why.clone(),
            ),
            None => {
                let most = s.cells.iter().map(|c| c.conns).max().unwrap_or(0);
                (
                    format!("nothing, up to {}", thousands(most as u64)),
                    String::new(),
                )
            }
        };
        let errors = s.errors.join("; ");
        let _ = writeln!(t, "| {} | {first} | {how}{errors} |", s.label());
    }
    t
}

/// One of the epoll solution's targets against tokio `current_thread`, as one run measured
/// it: `server ÷ tokio` must be at most `bound`. The same ratios are given for any program
/// the run measured (`rounds`), to compare it with what the solution is held to.
pub struct Target {
    pub conns: usize,
    pub what: String,
    pub server: f64,
    pub tokio: f64,
    pub bound: f64,
    /// How to show `server` and `tokio`.
    show: fn(f64) -> String,
}

impl Target {
    pub fn ratio(&self) -> f64 {
        if self.tokio > 0.0 {
            self.server / self.tokio
        } else {
            f64::NAN
        }
    }
}

fn met(ratio: f64, bound: f64) -> &'static str {
    if ratio <= bound {
        "yes"
    } else {
        "**no**"
    }
}

/// The targets' ratios for the server called `name`, at 1,000 connections and more, if the
/// run measured it and tokio.
pub fn target_rows(d: &Drill, name: &str) -> Vec<Target> {
    let (Some(server), Some(tokio)) = (d.server(name), d.server("tokio")) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for &n in d.settings.conns.iter().filter(|&&n| n >= 1_000) {
        let (Some(e), Some(k)) = (server.cell(n), tokio.cell(n)) else {
            continue;
        };
        for (le, lk) in e.open.iter().zip(&k.open) {
            rows.push(Target {
                conns: n,
                what: format!(
                    "p99, open loop at {}/s",
                    thousands(le.rate.unwrap_or(0.0) as u64)
                ),
                server: le.latency.p99 as f64,
                tokio: lk.latency.p99 as f64,
                bound: 1.0,
                show: |v| micros(v as u64),
            });
        }
        if let (Some(le), Some(lk)) = (&e.closed, &k.closed) {
            rows.push(Target {
                conns: n,
                what: "server CPU per echo, closed loop".to_string(),
                server: le.cpu_per_echo_us,
                tokio: lk.cpu_per_echo_us,
                bound: 0.9,
                show: |v| format!("{v:.2} µs"),
            });
        }
    }
    rows
}

/// Section 2 of the issue: the epoll solution against tokio `current_thread`, in this run.
pub fn targets(d: &Drill) -> String {
    let (Some(epoll), Some(tokio)) = (d.server("epoll"), d.server("tokio")) else {
        return String::new();
    };
    let mut t = String::from("| connections | measure | epoll | tokio | epoll ÷ tokio | target | met |\n|---|---|---|---|---|---|---|\n");
    let rows = target_rows(d, "epoll");
    for &n in d.settings.conns.iter().filter(|&&n| n >= 1_000) {
        for r in rows.iter().filter(|r| r.conns == n) {
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {:.2} | ≤ {} | {} |",
                thousands(n as u64),
                r.what,
                (r.show)(r.server),
                (r.show)(r.tokio),
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

/// The targets over several runs (`--rounds`): each ratio's median, with the lowest and the
/// highest, since one run's ratio moves by tens of percent on a busy two-core machine. A
/// table for the epoll solution, and one for each program the runs measured.
pub fn rounds(runs: &[Drill]) -> String {
    let Some(last) = runs.last() else {
        return String::new();
    };
    let epoll = last
        .servers
        .iter()
        .filter(|s| (s.kind, s.name.as_str()) == (Kind::Solution, "epoll"));
    let programs = last.servers.iter().filter(|s| s.kind == Kind::Program);
    let tables: Vec<String> = epoll
        .chain(programs)
        .map(|s| rounds_of(runs, &s.name, &s.label()))
        .filter(|t| !t.is_empty())
        .collect();
    tables.join("\n")
}

/// [`rounds`]' table for the server called `name`.
fn rounds_of(runs: &[Drill], name: &str, label: &str) -> String {
    let per_run: Vec<Vec<Target>> = runs.iter().map(|d| target_rows(d, name)).collect();
    let Some(first) = per_run.first().filter(|rows| !rows.is_empty()) else {
        return String::new();
    };
    let mut t = format!(
        "| connections | measure | median {label} ÷ tokio of {} runs | lowest | highest | target | met by the median |\n|---|---|---|---|---|---|---|\n",
        runs.len()
    );
    for (i, row) in first.iter().enumerate() {
        let mut ratios: Vec<f64> = per_run
            .iter()
            .filter_map(|rows| rows.get(i).map(Target::ratio))
            .filter(|r| r.is_finite())
            .collect();
        if ratios.is_empty() {
            continue;
        }
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        let _ = writeln!(
            t,
            "| {} | {} | {median:.2} | {:.2} | {:.2} | ≤ {} | {} |",
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

pub fn connections(d: &Drill) -> String {
    let mut t = String::from("| server | connections | established | served | connect p50 / p99 | all open after | first echo p99 | listen overflows / drops |\n|---|---|---|---|---|---|---|---|\n");
    for (label, c) in cells(d) {
        let k = &c.connect;
        let _ = writeln!(
            t,
            "| {label} | {} | {} | {} | {} / {} | {:.2} s | {} | {} / {} |",
            thousands(c.conns as u64),
            thousands(k.established as u64),
            thousands(k.served as u64),
            micros(k.latency.p50),
            micros(k.latency.p99),
            k.secs,
            micros(k.first_echo.p99),
            thousands(k.listen_overflows),
            thousands(k.listen_drops),
        );
    }
    t
}

pub fn latency(d: &Drill) -> String {
    let mut t = String::from("| server | connections | load | echoes/s | p50 | p99 | p99.9 | max | p99 uncorrected | server CPU | client CPU |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (label, c) in cells(d) {
        for l in c.closed.iter().chain(&c.open) {
            let shape = l.rate.map_or("closed loop".into(), |r| {
                format!("open, {}/s", thousands(r as u64))
            });
            let _ = writeln!(
                t,
                "| {label} | {} | {shape} | {} | {} | {} | {} | {} | {} | {:.0}% | {:.0}% |",
                thousands(c.conns as u64),
                thousands(l.per_second as u64),
                micros(l.latency.p50),
                micros(l.latency.p99),
                micros(l.latency.p999),
                micros(l.latency.max),
                l.uncorrected.as_ref().map_or("–".into(), |u| micros(u.p99)),
                l.server_cpu * 100.0,
                l.client_cpu * 100.0,
            );
        }
    }
    t
}

pub fn resources(d: &Drill) -> String {
    let mut t = String::from("| server | connections | processes | threads | descriptors | user memory per connection (PSS) | kernel per connection | server PSS before → after |\n|---|---|---|---|---|---|---|---|\n");
    for (label, c) in cells(d) {
        let m = &c.memory;
        let _ = writeln!(
            t,
            "| {label} | {} | {} | {} | {} | {} | {} | {} → {} |",
            thousands(c.conns as u64),
            thousands(c.processes as u64),
            thousands(c.threads as u64),
            thousands(c.fds as u64),
            bytes(m.user),
            bytes(m.kernel),
            bytes(m.pss_before_kib as f64 * 1024.0),
            bytes(m.pss_after_kib as f64 * 1024.0),
        );
    }
    t
}
