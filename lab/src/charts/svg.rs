//! Drawing primitives for the charts: the panel, text, axes and their ticks, the legend.
//! Everything is written as SVG text; coordinates are in the SVG's own units.

use std::fmt::Write as _;

use crate::drill::ServerRun;
use crate::targets::Kind;

pub const W: f64 = 760.0;
pub const H: f64 = 430.0;
/// The plot area: left, right, top, bottom.
pub const PLOT: (f64, f64, f64, f64) = (80.0, 560.0, 60.0, 370.0);
pub const INK: &str = "#1a1a1a";
pub const GRID: &str = "#d8d8d8";
const COLOURS: &[&str] = &[
    "#1f5fa8", "#c0392b", "#1e8449", "#7d3c98", "#d35400", "#6e4b2a", "#b03a7a", "#148f9e",
    "#555555", "#8a8a00", "#000000",
];

pub fn colour(i: usize) -> &'static str {
    COLOURS[i % COLOURS.len()]
}

/// Escapes text for SVG.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The SVG's start, `height` tall: the panel, a title and a subtitle. A second line of the
/// subtitle (after a `\n`) goes to the bottom right corner, in small print.
pub fn open(title: &str, subtitle: &str, height: f64) -> String {
    let (subtitle, footer) = subtitle.split_once('\n').unwrap_or((subtitle, ""));
    let footer = format!(
        "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"end\" font-size=\"11\" fill=\"#444444\">{}</text>\n",
        W - 14.0,
        height - 10.0,
        esc(footer)
    );
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {height}\" width=\"{W}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"13\" role=\"img\" aria-label=\"{t}\">\n\
         <title>{t}</title>\n<desc>{s}</desc>\n\
         <rect x=\"0.5\" y=\"0.5\" width=\"{w}\" height=\"{h}\" rx=\"8\" fill=\"#ffffff\" stroke=\"#9a9a9a\"/>\n\
         <text x=\"20\" y=\"28\" font-size=\"16\" font-weight=\"bold\" fill=\"{INK}\">{t}</text>\n\
         <text x=\"20\" y=\"47\" fill=\"#444444\">{s}</text>\n",
        w = W - 1.0,
        h = height - 1.0,
        t = esc(title),
        s = esc(subtitle),
    ) + &footer
}

pub fn text(svg: &mut String, x: f64, y: f64, anchor: &str, s: &str) {
    let _ = writeln!(
        svg,
        "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" fill=\"{INK}\">{}</text>",
        esc(s)
    );
}

/// A vertical axis from `ticks` (value, label), mapped by `y`, with grid lines, and its title.
pub fn y_axis(svg: &mut String, ticks: &[(f64, String)], y: &dyn Fn(f64) -> f64, title: &str) {
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
pub fn linear_ticks(max: f64, show: &dyn Fn(f64) -> String) -> (Vec<(f64, String)>, f64) {
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
pub fn log_ticks(lo: f64, hi: f64, show: &dyn Fn(f64) -> String) -> (Vec<(f64, String)>, f64, f64) {
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
pub fn legend(svg: &mut String, servers: &[&ServerRun], note: Option<&str>) {
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
