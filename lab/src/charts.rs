//! The run's charts, as hand-written SVG: a handful of fixed charts needs no plotting
//! library, and hand-written SVG needs no font files. Text is real `<text>` in the
//! reader's own sans-serif; every chart is drawn on an opaque light panel with dark ink, so
//! it reads the same on the book's light and dark themes.
//!
//! - `throughput`: closed-loop echoes a second against connections;
//! - `p99`: the open loop's p99 (corrected for coordinated omission) against connections;
//! - `memory`: memory per connection, the server's own and the kernel's;
//! - `latency`: the open loop's latency distribution at 1,000 connections.

use std::fmt::Write as _;

use workbook::drive::client::thousands;

use crate::classify::Class;
use crate::drill::{Drill, ServerRun};
use crate::stats::{bytes, micros};
use crate::targets::Kind;

const W: f64 = 760.0;
const H: f64 = 430.0;
/// The plot area: left, right, top, bottom.
const PLOT: (f64, f64, f64, f64) = (80.0, 560.0, 60.0, 370.0);
const INK: &str = "#1a1a1a";
const GRID: &str = "#d8d8d8";
const COLOURS: &[&str] = &[
    "#1f5fa8", "#c0392b", "#1e8449", "#7d3c98", "#d35400", "#6e4b2a", "#b03a7a", "#148f9e",
    "#555555", "#8a8a00", "#000000",
];

/// Every chart, by file name (without `.svg`).
pub fn all(d: &Drill) -> Vec<(&'static str, String)> {
    vec![
        ("throughput", throughput(d)),
        ("p99", p99(d)),
        ("memory", memory(d)),
        ("latency", latency(d)),
    ]
}

fn colour(i: usize) -> &'static str {
    COLOURS[i % COLOURS.len()]
}

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The SVG's start, `height` tall: the panel, a title and a subtitle.
fn open(title: &str, subtitle: &str, height: f64) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {height}\" width=\"{W}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"13\" role=\"img\" aria-label=\"{t}\">\n\
         <rect x=\"0.5\" y=\"0.5\" width=\"{w}\" height=\"{h}\" rx=\"8\" fill=\"#ffffff\" stroke=\"#9a9a9a\"/>\n\
         <text x=\"20\" y=\"28\" font-size=\"16\" font-weight=\"bold\" fill=\"{INK}\">{t}</text>\n\
         <text x=\"20\" y=\"47\" fill=\"#444444\">{s}</text>\n",
        w = W - 1.0,
        h = height - 1.0,
        t = esc(title),
        s = esc(subtitle),
    )
}

fn text(svg: &mut String, x: f64, y: f64, anchor: &str, s: &str) {
    let _ = writeln!(
        svg,
        "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" fill=\"{INK}\">{}</text>",
        esc(s)
    );
}

/// A vertical axis from `ticks` (value, label), mapped by `y`, with grid lines, and its title.
fn y_axis(svg: &mut String, ticks: &[(f64, String)], y: &dyn Fn(f64) -> f64, title: &str) {
    let (l, r, t, b) = PLOT;
    for (v, label) in ticks {
        let yy = y(*v);
        let _ = writeln!(
            svg,
            "<line x1=\"{l}\" x2=\"{r}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"{GRID}\"/>"
        );
        text(svg, l - 6.0, yy + 4.0, "end", label);
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{l}\" x2=\"{l}\" y1=\"{t}\" y2=\"{b}\" stroke=\"{INK}\"/>"
    );
    let _ = writeln!(
        svg,
        "<line x1=\"{l}\" x2=\"{r}\" y1=\"{b}\" y2=\"{b}\" stroke=\"{INK}\"/>"
    );
    let _ = writeln!(
        svg,
        "<text transform=\"translate(18 {:.1}) rotate(-90)\" text-anchor=\"middle\" fill=\"{INK}\">{}</text>",
        (t + b) / 2.0,
        esc(title)
    );
}

/// Ticks for a linear axis from 0 to at least `max`: (ticks, the axis's top).
fn linear_ticks(max: f64, show: &dyn Fn(f64) -> String) -> (Vec<(f64, String)>, f64) {
    let max = max.max(1.0);
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let top = (max / step).ceil() * step;
    let ticks = (0..=((top / step).round() as usize))
        .map(|i| (i as f64 * step, show(i as f64 * step)))
        .collect();
    (ticks, top)
}

/// Powers of ten (with 2 and 5 between when the range is short) covering `lo..=hi`.
fn log_ticks(lo: f64, hi: f64, show: &dyn Fn(f64) -> String) -> (Vec<(f64, String)>, f64, f64) {
    let lo = 10f64.powf(lo.max(1.0).log10().floor());
    let hi = 10f64.powf(hi.max(lo * 10.0).log10().ceil());
    let decades = (hi / lo).log10().round() as i32;
    let steps: &[f64] = if decades <= 3 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let mut ticks = Vec::new();
    let mut p = lo;
    while p <= hi * 1.001 {
        for s in steps {
            if p * s <= hi * 1.001 {
                ticks.push((p * s, show(p * s)));
            }
        }
        p *= 10.0;
    }
    (ticks, lo, hi)
}

/// The legend, right of the plot: one entry per server, dashed for the yardsticks.
fn legend(svg: &mut String, servers: &[&ServerRun], note: Option<&str>) {
    let x = PLOT.1 + 20.0;
    for (i, s) in servers.iter().enumerate() {
        let y = PLOT.2 + 10.0 + i as f64 * 22.0;
        let dash = if s.kind == Kind::Yardstick {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            "<line x1=\"{x}\" x2=\"{:.0}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"3\"{dash}/>",
            x + 26.0,
            colour(i)
        );
        text(svg, x + 32.0, y + 4.0, "start", &s.label());
    }
    if let Some(note) = note {
        let y = PLOT.2 + 20.0 + servers.len() as f64 * 22.0;
        for (j, line) in note.split('\n').enumerate() {
            let _ = writeln!(
                svg,
                "<text x=\"{x}\" y=\"{:.0}\" fill=\"#444444\" font-size=\"12\">{}</text>",
                y + j as f64 * 16.0,
                esc(line)
            );
        }
    }
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
    legend(
        &mut svg,
        &d.servers.iter().collect::<Vec<_>>(),
        Some(HOLLOW),
    );
    svg + "</svg>\n"
}

/// Bars: for each server, memory per connection at the largest count it held, its own
/// (PSS) and the kernel's.
fn memory(d: &Drill) -> String {
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
        "the server's own (PSS, every process) and the kernel's (slab, stacks, page tables; both ends' sockets)",
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
fn latency(d: &Drill) -> String {
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

fn subtitle(d: &Drill, what: &str) -> String {
    let work = if d.settings.work_micros > 0 {
        format!(", --work {} µs", d.settings.work_micros)
    } else {
        String::new()
    };
    format!(
        "{what}; {} CPUs, {}{work}",
        d.env.cpus,
        d.env.placement.describe()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_the_range_with_round_numbers() {
        let (ticks, top) = linear_ticks(163_000.0, &|v| v.to_string());
        assert_eq!(top, 200_000.0);
        assert_eq!(ticks.len(), 5);
        let (ticks, lo, hi) = log_ticks(37.0, 45_000.0, &|v| v.to_string());
        assert_eq!((lo, hi), (10.0, 100_000.0));
        assert_eq!(ticks.first().map(|t| t.0), Some(10.0));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("a<b & c>"), "a&lt;b &amp; c&gt;");
    }
}
