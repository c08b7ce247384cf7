//! Latencies: recorded into an HdrHistogram (1 µs to 60 s, 3 significant digits, so every
//! percentile is within 0.1% of the truth at any scale), summarised for the reports.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// An empty histogram of microseconds.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

/// Records `d` (values past the bounds are clamped, never lost).
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record((d.as_micros() as u64).max(1));
}

/// The quantiles the latency-distribution chart draws, from the median to the tail.
pub const SPECTRUM: &[f64] = &[0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999];

/// A distribution of latencies, in µs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    /// `(quantile, µs)` at each of [`SPECTRUM`] with enough samples to mean it, and at 1.0.
    pub spectrum: Vec<(f64, u64)>,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let enough = |q: f64| (1.0 - q) * h.len() as f64 >= 1.0;
        let mut spectrum: Vec<(f64, u64)> = SPECTRUM
            .iter()
            .filter(|&&q| enough(q))
            .map(|&q| (q, h.value_at_quantile(q)))
            .collect();
        spectrum.push((1.0, h.max()));
        Latency {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            spectrum,
        }
    }
}

/// `µs` for a person: `850 µs`, `12.3 ms`, `4.1 s`.
pub fn micros(us: u64) -> String {
    match us {
        0..=999 => format!("{us} µs"),
        1_000..=99_999 => format!("{:.1} ms", us as f64 / 1e3),
        100_000..=999_999 => format!("{:.0} ms", us as f64 / 1e3),
        _ => format!("{:.1} s", us as f64 / 1e6),
    }
}

/// Bytes for a person: `364 B`, `18.2 KiB`, `1.5 MiB`.
pub fn bytes(b: f64) -> String {
    if b < 1024.0 {
        format!("{b:.0} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_and_clamps() {
        let mut h = histogram();
        for us in 1..=1000 {
            record(&mut h, Duration::from_micros(us));
        }
        record(&mut h, Duration::from_secs(3600));
        let l = Latency::of(&h);
        assert_eq!(l.count, 1001);
        assert!((495..=505).contains(&l.p50), "{}", l.p50);
        assert!(
            l.max >= 59_000_000,
            "clamped to the top, not dropped: {}",
            l.max
        );
        // 1,001 samples: the 99.9th percentile has one sample past it, 99.95th none.
        assert!(l.spectrum.iter().any(|&(q, _)| q == 0.999));
        assert!(!l.spectrum.iter().any(|&(q, _)| q == 0.9995));
        assert_eq!(l.spectrum.last().map(|s| s.0), Some(1.0));
    }

    #[test]
    fn says_sizes_as_a_person_would() {
        assert_eq!(micros(850), "850 µs");
        assert_eq!(micros(12_345), "12.3 ms");
        assert_eq!(micros(4_100_000), "4.1 s");
        assert_eq!(bytes(364.0), "364 B");
        assert_eq!(bytes(18_637.0), "18.2 KiB");
    }
}
