//! The run's charts, as hand-written SVG: a handful of fixed charts needs no plotting
//! library, and hand-written SVG needs no font files. Text is real `<text>` in the
//! reader's own sans-serif; every chart is drawn on an opaque light panel with dark ink, so
//! it reads the same on the book's light and dark themes.
//!
//! - `throughput`: closed-loop echoes a second against connections;
//! - `p99`: the open loop's p99 (corrected for coordinated omission) against connections;
//! - `memory`: memory per connection, the server's own and the kernel's;
//! - `latency`: the open loop's latency distribution at 1,000 connections.

mod distribution;
mod svg;

use std::fmt::Write as _;

use workbook::drive::client::thousands;

use crate::classify::Class;
use crate::drill::Drill;
use crate::stats::micros;
use crate::targets::Kind;
use svg::{colour, legend, linear_ticks, log_ticks, open, text, y_axis, H, INK, PLOT};

/// Every chart, by file name (without `.svg`).
pub fn all(d: &Drill) -> Vec<(&'static str, String)> {
    vec![
        ("throughput", throughput(d)),
        ("p99", p99(d)),
        ("memory", distribution::memory(d)),
        ("latency", distribution::latency(d)),
    ]
}

/// x positions of the run's connection counts: evenly spaced, as on a log axis.
fn conns_x(d: &Drill) -> impl Fn(usize) -> f64 + '_ {
    let n = d.settings.conns.len();
    move |i| {
        let (l, r, _, _) = PLOT;
        if n <= 1 {
            (l + r) / 2.0
        } else {
            l + 40.0 + i as f64 * (r - l - 80.0) / (n - 1) as f64
        }
    }
}

fn conns_axis(svg: &mut String, d: &Drill) {
    let x = conns_x(d);
    for (i, n) in d.settings.conns.iter().enumerate() {
        text(svg, x(i), PLOT.3 + 20.0, "middle", &thousands(*n as u64));
    }
    text(
        svg,
        (PLOT.0 + PLOT.1) / 2.0,
        PLOT.3 + 44.0,
        "middle",
        "connections",
    );
}

/// A line per server through `value(cell)` at each connection count; cells that are not
/// ok or degraded are drawn hollow.
fn series(
    svg: &mut String,
    d: &Drill,
    y: &dyn Fn(f64) -> f64,
    value: &dyn Fn(&crate::cell::Cell) -> Option<f64>,
) {
    let x = conns_x(d);
    for (i, s) in d.servers.iter().enumerate() {
        let points: Vec<(f64, f64, bool)> = d
            .settings
            .conns
            .iter()
            .enumerate()
            .filter_map(|(j, n)| {
                let c = s.cell(*n)?;
                let served = matches!(c.class, Class::Ok | Class::Degraded);
                Some((x(j), y(value(c)?), served))
            })
            .collect();
        let path: Vec<String> = points
            .iter()
            .map(|(x, y, _)| format!("{x:.1},{y:.1}"))
            .collect();
        let dash = if s.kind == Kind::Yardstick {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2.5\"{dash}/>",
            path.join(" "),
            colour(i)
        );
        for (px, py, served) in points {
            let fill = if served { colour(i) } else { "#ffffff" };
            let _ = writeln!(
                svg,
                "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"4.5\" fill=\"{fill}\" stroke=\"{}\" stroke-width=\"2\"/>",
                colour(i)
            );
        }
    }
}

const HOLLOW: &str = "hollow: some clients\nnever served (starved,\nrefused, crashed, capped)";

fn throughput(d: &Drill) -> String {
    let value = |c: &crate::cell::Cell| c.closed.as_ref().map(|l| l.per_second);
    let max = d
        .servers
        .iter()
        .flat_map(|s| &s.cells)
        .filter_map(value)
        .fold(0.0, f64::max);
    let (ticks, top) = linear_ticks(max, &|v| thousands(v as u64));
    let (_, _, t, b) = PLOT;
    let y = move |v: f64| b - v / top * (b - t);
    let mut svg = open(
        "Echoes a second, closed loop",
        &subtitle(
            d,
            "every connection sends its next line as soon as its echo is back",
        ),
        H,
    );
    y_axis(&mut svg, &ticks, &y, "echoes per second");
    conns_axis(&mut svg, d);
    series(&mut svg, d, &y, &value);
    finish(svg, d)
}

/// Ends a chart over connections: its legend, which says what a hollow mark means.
fn finish(mut svg: String, d: &Drill) -> String {
    legend(
        &mut svg,
        &d.servers.iter().collect::<Vec<_>>(),
        Some(HOLLOW),
    );
    svg + "</svg>\n"
}

/// The open loop drawn: the highest rate of the run.
fn heaviest(d: &Drill) -> usize {
    d.settings.rates.len().saturating_sub(1)
}

fn p99(d: &Drill) -> String {
    let k = heaviest(d);
    let rate = d.settings.rates.get(k).copied().unwrap_or(0.0);
    let value = move |c: &crate::cell::Cell| c.open.get(k).map(|l| l.latency.p99 as f64);
    let values: Vec<f64> = d
        .servers
        .iter()
        .flat_map(|s| &s.cells)
        .filter_map(value)
        .collect();
    let lo = values.iter().copied().fold(f64::MAX, f64::min);
    let hi = values.iter().copied().fold(1.0, f64::max);
    let (ticks, lo, hi) = log_ticks(lo, hi, &|v| micros(v as u64));
    let (_, _, t, b) = PLOT;
    let y =
        move |v: f64| b - (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()) * (b - t);
    let title = format!(
        "p99 latency, open loop at {} requests/s",
        thousands(rate as u64)
    );
    let mut svg = open(
        &title,
        &subtitle(
            d,
            "counted from when each request was due (corrected for coordinated omission)",
        ),
        H,
    );
    y_axis(&mut svg, &ticks, &y, "p99 (log scale)");
    conns_axis(&mut svg, d);
    let bound = d.settings.p99_bound_us as f64;
    if bound > lo && bound < hi {
        let yy = y(bound);
        let _ = writeln!(svg, "<line x1=\"{}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"{INK}\" stroke-dasharray=\"2 3\"/>", PLOT.0, PLOT.1);
        text(
            &mut svg,
            PLOT.1 - 4.0,
            yy - 5.0,
            "end",
            &format!("degraded above {}", micros(bound as u64)),
        );
    }
    series(&mut svg, d, &y, &value);
    finish(svg, d)
}

fn subtitle(d: &Drill, what: &str) -> String {
    let work = if d.settings.work_micros > 0 {
        format!(", --work {} µs", d.settings.work_micros)
    } else {
        String::new()
    };
    format!(
        "{what}\n{} CPUs, {}{work}",
        d.env.cpus,
        d.env.placement.describe()
    )
}
