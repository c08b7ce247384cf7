//! The two charts that are not drawn against connections: memory per connection (bars)
//! and the latency distribution at one size (a percentile spectrum).

use std::fmt::Write as _;

use workbook::drive::client::thousands;

use super::svg::{colour, legend, linear_ticks, log_ticks, open, text, y_axis, GRID, H, PLOT};
use super::{heaviest, subtitle};
use crate::drill::{Drill, ServerRun};
use crate::stats::{bytes, micros};
use crate::targets::Kind;

/// Bars: for each server, memory per connection at the largest count it held, its own
/// (PSS) and the kernel's.
pub fn memory(d: &Drill) -> String {
    let rows: Vec<(String, f64, f64, usize)> = d
        .servers
        .iter()
        .filter_map(|s| {
            let c = s
                .cells
                .iter()
                .filter(|c| c.connect.established == c.conns)
                .max_by_key(|c| c.conns)?;
            Some((s.label(), c.memory.user, c.memory.kernel, c.conns))
        })
        .collect();
    let max = rows.iter().map(|r| r.1 + r.2).fold(0.0, f64::max);
    let (ticks, top) = linear_ticks(max / 1024.0, &|v| format!("{v} KiB"));
    let (l, r, t, _) = (170.0, 600.0, 70.0, 0.0);
    let x = move |v: f64| l + v / 1024.0 / top * (r - l);
    let bar = 22.0;
    let bottom = t + rows.len() as f64 * (bar + 12.0) + 10.0;
    let mut svg = open(
        "Memory per connection",
        &subtitle(
            d,
            "the server's own (PSS, every process) and the kernel's (slab, stacks, page tables)",
        ),
        (bottom + 60.0).round(),
    );
    for (v, label) in &ticks {
        let xx = l + v / top * (r - l);
        let _ = writeln!(
            svg,
            "<line x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{t}\" y2=\"{bottom}\" stroke=\"{GRID}\"/>"
        );
        text(&mut svg, xx, bottom + 18.0, "middle", label);
    }
    for (i, (label, user, kernel, n)) in rows.iter().enumerate() {
        let y = t + 6.0 + i as f64 * (bar + 12.0);
        text(&mut svg, l - 8.0, y + 16.0, "end", label);
        let _ = writeln!(
            svg,
            "<rect x=\"{l}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar}\" fill=\"#1f5fa8\"/>",
            x(*user) - l
        );
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar}\" fill=\"#9cb9dc\"/>",
            x(*user),
            x(*kernel) - l
        );
        text(
            &mut svg,
            x(user + kernel) + 6.0,
            y + 16.0,
            "start",
            &format!(
                "{} + {} at {}",
                bytes(*user),
                bytes(*kernel),
                thousands(*n as u64)
            ),
        );
    }
    let ly = bottom + 40.0;
    let _ = writeln!(
        svg,
        "<rect x=\"{l}\" y=\"{:.0}\" width=\"14\" height=\"14\" fill=\"#1f5fa8\"/>",
        ly - 11.0
    );
    text(&mut svg, l + 20.0, ly, "start", "the server's (PSS)");
    let _ = writeln!(
        svg,
        "<rect x=\"{:.0}\" y=\"{:.0}\" width=\"14\" height=\"14\" fill=\"#9cb9dc\"/>",
        l + 170.0,
        ly - 11.0
    );
    text(&mut svg, l + 190.0, ly, "start", "the kernel's");
    svg + "</svg>\n"
}

/// A server's colour index, the server, and its `(quantile, µs)` points.
type Spectrum<'a> = (usize, &'a ServerRun, Vec<(f64, u64)>);

/// The latency spectrum at 1,000 connections (or the middle count), heaviest open loop.
pub fn latency(d: &Drill) -> String {
    let conns = d
        .settings
        .conns
        .iter()
        .copied()
        .find(|&n| n == 1_000)
        .unwrap_or(d.settings.conns[d.settings.conns.len() / 2]);
    let k = heaviest(d);
    let rate = d.settings.rates.get(k).copied().unwrap_or(0.0);
    let lines: Vec<Spectrum> = d
        .servers
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((i, s, s.cell(conns)?.open.get(k)?.latency.spectrum.clone())))
        .collect();
    let all: Vec<u64> = lines.iter().flat_map(|l| l.2.iter().map(|p| p.1)).collect();
    let (ticks, lo, hi) = log_ticks(
        *all.iter().min().unwrap_or(&1) as f64,
        *all.iter().max().unwrap_or(&10) as f64,
        &|v| micros(v as u64),
    );
    let (l, r, t, b) = PLOT;
    let y =
        move |v: f64| b - (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()) * (b - t);
    // x: the number of nines, log10(1 / (1 - q)); the maximum is drawn one step past 99.99%.
    let nines = |q: f64| {
        if q >= 1.0 {
            4.5
        } else {
            (1.0 / (1.0 - q)).log10()
        }
    };
    let x = move |q: f64| l + (nines(q) - nines(0.5)) / (4.5 - nines(0.5)) * (r - l);
    let title = format!(
        "Latency distribution, {} connections, open loop at {}/s",
        thousands(conns as u64),
        thousands(rate as u64)
    );
    let mut svg = open(
        &title,
        &subtitle(
            d,
            "each point: that share of requests took at most this long",
        ),
        H,
    );
    y_axis(&mut svg, &ticks, &y, "latency (log scale)");
    for (q, label) in [
        (0.5, "50%"),
        (0.9, "90%"),
        (0.99, "99%"),
        (0.999, "99.9%"),
        (0.9999, "99.99%"),
        (1.0, "max"),
    ] {
        text(&mut svg, x(q), b + 20.0, "middle", label);
    }
    text(&mut svg, (l + r) / 2.0, b + 44.0, "middle", "percentile");
    for (i, s, points) in &lines {
        let path: Vec<String> = points
            .iter()
            .map(|(q, v)| format!("{:.1},{:.1}", x(*q), y(*v as f64)))
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
            colour(*i)
        );
    }
    legend(&mut svg, &d.servers.iter().collect::<Vec<_>>(), None);
    svg + "</svg>\n"
}
