//! A run's results as files: `results.json` (everything measured, which `lab book` reads
//! back), `results.md` (the tables) and the charts (`charts.rs`). Each table is its own
//! function, so that the book can place them one by one.

use std::fmt::Write as _;
use std::path::Path;

use workbook::drive::client::thousands;

use crate::charts;
use crate::drill::Drill;
use crate::stats::{bytes, micros};

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
        ("Epoll against tokio", crate::goals::epoll(d)),
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
