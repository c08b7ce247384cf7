//! Reading the server's CPU time without stopping the client.
//!
//! Summing CPU time over a server's threads and processes reads `/proc` for each of them:
//! nothing for one process, a fifth of a second for 10,000 forked children. Read in the
//! client's thread, that would freeze every client for as long, inside the very window
//! being measured. So a thread of its own reads it, on request, while the clients run; a
//! sample is dated at the middle of its reading.

use std::sync::mpsc;
use std::thread::Scope;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// The server's CPU time (ns), as of `at`.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    pub cpu_ns: u64,
    /// How long the reading took.
    pub took: Duration,
}

/// A thread that samples on request.
pub struct Sampler {
    requests: mpsc::Sender<oneshot::Sender<Sample>>,
}

impl Sampler {
    /// Starts the sampling thread in `scope`, reading with `read`.
    pub fn spawn<'s>(scope: &'s Scope<'s, '_>, read: impl Fn() -> u64 + Send + 's) -> Sampler {
        let (requests, asked) = mpsc::channel::<oneshot::Sender<Sample>>();
        scope.spawn(move || {
            // Ends when the Sampler is dropped.
            for reply in asked {
                let begun = Instant::now();
                let cpu_ns = read();
                let took = begun.elapsed();
                let _ = reply.send(Sample {
                    at: begun + took / 2,
                    cpu_ns,
                    took,
                });
            }
        });
        Sampler { requests }
    }

    /// A sample, taken while the caller's other tasks go on.
    pub async fn sample(&self) -> Sample {
        let (reply, sample) = oneshot::channel();
        let now = Sample {
            at: Instant::now(),
            cpu_ns: 0,
            took: Duration::ZERO,
        };
        if self.requests.send(reply).is_err() {
            return now;
        }
        sample.await.unwrap_or(now)
    }
}

/// The CPU share (of one CPU) between two samples.
pub fn share(a: Sample, b: Sample) -> f64 {
    let secs = b.at.saturating_duration_since(a.at).as_secs_f64();
    if secs > 0.0 {
        b.cpu_ns.saturating_sub(a.cpu_ns) as f64 / 1e9 / secs
    } else {
        0.0
    }
}
