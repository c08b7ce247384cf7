//! Checks are data: an id, a category, points, the hint shown on failure and the book section
//! that explains it, plus the function that runs it. The rubric of an architecture is a list
//! of them (`workbook rubric ARCH` prints it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::contain::server::{Program, Server};
use crate::contain::shepherd::Limits;
use crate::drive::random::Rng;
use crate::rubric::diagnose;
use crate::verdict::{Kind, Outcome, Verdict};

/// What a check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// The bytes that come back are the right ones.
    Correctness,
    /// Clients are served at the same time, as the architecture promises.
    Concurrency,
    /// Processes, threads, descriptors and memory stay where they should.
    Resources,
    /// Misbehaving clients and signals do not take the server down.
    Robustness,
}

impl Category {
    pub fn name(self) -> &'static str {
        match self {
            Category::Correctness => "correctness",
            Category::Concurrency => "concurrency",
            Category::Resources => "resources",
            Category::Robustness => "robustness",
        }
    }
}

/// One check of a rubric.
#[derive(Debug)]
pub struct Check {
    /// Stable, kebab-case: used in test names, filters and JSON.
    pub id: &'static str,
    pub category: Category,
    pub points: u32,
    /// What the check verifies, in one line.
    pub summary: &'static str,
    /// What to look at when it fails.
    pub hint: &'static str,
    /// The book section that explains it: `file.md#anchor` under `book/src/`.
    pub book: &'static str,
    /// The most the check may take; past it, it fails and its servers are killed.
    pub limit: Duration,
    pub run: fn(&Ctx) -> Outcome,
}

/// Shared by the checks of one grading run.
pub struct RunMemo {
    /// The run's seed: the random lines every check mixes into its traffic come from it, so
    /// that `--seed N` replays a run exactly.
    pub seed: u64,
    begun: Instant,
    /// Set when a server never announced within the timeout: later checks fail at once with
    /// the same verdict instead of waiting again.
    no_announce: OnceLock<Verdict>,
    /// The tag of every server started in this run, to look for strays afterwards.
    tags: Mutex<Vec<String>>,
    /// Time spent waiting for servers to announce: the contract allows it, so no budget
    /// counts it.
    announcing: Mutex<Duration>,
    /// What each gate check concluded (see [`crate::rubric::registry::Arch::gate_for`]): a
    /// gate runs once per run, whichever check needs it first.
    gates: Mutex<HashMap<&'static str, Result<(), Verdict>>>,
}

impl RunMemo {
    pub fn new(seed: u64) -> RunMemo {
        RunMemo {
            seed,
            begun: Instant::now(),
            no_announce: OnceLock::new(),
            tags: Mutex::new(Vec::new()),
            announcing: Mutex::new(Duration::ZERO),
            gates: Mutex::new(HashMap::new()),
        }
    }

    pub fn tags(&self) -> Vec<String> {
        lock(&self.tags).clone()
    }

    /// Time the run has taken.
    pub fn elapsed(&self) -> Duration {
        self.begun.elapsed()
    }

    /// Time the run has taken, less what its servers spent announcing.
    pub fn busy(&self) -> Duration {
        self.begun.elapsed().saturating_sub(*lock(&self.announcing))
    }

    /// The gate's result: the one recorded, or, the first time, `run`'s.
    pub(crate) fn gate(
        &self,
        gate: &'static Check,
        run: impl FnOnce() -> Result<(), Verdict>,
    ) -> Result<(), Verdict> {
        // Held while the gate runs: a second check that needs it waits for the first result.
        let mut gates = lock(&self.gates);
        gates.entry(gate.id).or_insert_with(run).clone()
    }
}

/// Locks `mutex`, even if a thread panicked while holding it: what it guards stays usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a check's function gets: a way to start the server under test. Every server started
/// here is killed, with its whole tree, when the check ends.
pub struct Ctx {
    program: Program,
    memo: Arc<RunMemo>,
    /// The check this context runs: random data is drawn per check, so that filtering
    /// checks does not change what another check sends.
    check: &'static str,
    servers: Mutex<Vec<Arc<Server>>>,
    /// Time this check's servers spent announcing, which its time limit does not count.
    announcing: Mutex<Duration>,
}

impl Ctx {
    pub(crate) fn new(program: Program, memo: Arc<RunMemo>, check: &'static str) -> Ctx {
        Ctx {
            program,
            memo,
            check,
            servers: Mutex::new(Vec::new()),
            announcing: Mutex::new(Duration::ZERO),
        }
    }

    /// A generator for this check's random data, from the run's seed; `stream` tells apart
    /// several streams in one check.
    pub fn rng(&self, stream: u64) -> Rng {
        let mut hash = self.memo.seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for byte in self.check.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3);
        }
        Rng::new(hash)
    }

    /// Time this check's servers spent announcing.
    pub(crate) fn announcing(&self) -> Duration {
        *lock(&self.announcing)
    }

    /// Starts the server with the default limits.
    pub fn start(&self) -> Result<Arc<Server>, Verdict> {
        self.start_with(&Limits::default())
    }

    /// Starts the server with the given limits (a low `nofile` for the EMFILE check, say).
    pub fn start_with(&self, limits: &Limits) -> Result<Arc<Server>, Verdict> {
        self.start_configured(limits, &[])
    }

    /// Starts the server with `options` before the address (contract: "Starting"), such as
    /// `["--workers", "3"]` for a pool or `["--work", "20000"]` for CPU-heavy lines.
    pub fn start_options(&self, options: &[&str]) -> Result<Arc<Server>, Verdict> {
        self.start_configured(&Limits::default(), options)
    }

    /// Starts the server with the given limits and options.
    pub fn start_configured(
        &self,
        limits: &Limits,
        options: &[&str],
    ) -> Result<Arc<Server>, Verdict> {
        if let Some(verdict) = self.memo.no_announce.get() {
            return Err(verdict.clone());
        }
        let mut program = self.program.clone();
        program.args.extend(options.iter().map(Into::into));
        let begun = Instant::now();
        let started = Server::start(&program, limits);
        let waited = begun
            .elapsed()
            .min(crate::contain::server::ANNOUNCE_TIMEOUT);
        *lock(&self.announcing) += waited;
        *lock(&self.memo.announcing) += waited;
        match started {
            Ok(server) => {
                let server = Arc::new(server);
                lock(&self.memo.tags).push(server.tag());
                lock(&self.servers).push(server.clone());
                Ok(server)
            }
            Err(verdict) => {
                // Waiting 10 s again, hitting the same cap again or announcing the same wrong
                // address again would only repeat the verdict more slowly.
                let again = matches!(verdict.kind, Kind::CapHit | Kind::Address);
                if again || begun.elapsed() >= crate::contain::server::ANNOUNCE_TIMEOUT {
                    let _ = self.memo.no_announce.set(verdict.clone());
                }
                Err(verdict)
            }
        }
    }

    /// Adds what became of the servers to a failure: a crash explains most failures better
    /// than the symptom a client saw; else what a [diagnosis](crate::rubric::diagnose) of
    /// a live server finds.
    pub(crate) fn explain(&self, verdict: Verdict) -> Verdict {
        let servers = lock(&self.servers).clone();
        for server in &servers {
            if let Some(obituary) = server.obituary() {
                if obituary.kind == Kind::Todo {
                    return obituary;
                }
                return Verdict::of(
                    obituary.kind,
                    format!("{}\n{}", verdict.message, obituary.message),
                )
                .because(verdict.cause);
            }
            if let Some(stopped) = server.stopped() {
                return verdict.context(stopped);
            }
        }
        servers.iter().fold(verdict, |verdict, server| {
            diagnose::explain(server, verdict)
        })
    }

    /// Kills every server this check started.
    pub(crate) fn stop_all(&self) {
        let servers: Vec<_> = lock(&self.servers).drain(..).collect();
        for server in servers {
            server.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_and_the_check_decide_the_data() {
        let line = |seed, check| {
            let ctx = Ctx::new(Program::new("server"), Arc::new(RunMemo::new(seed)), check);
            ctx.rng(0).line(100)
        };
        assert_eq!(line(42, "one-line"), line(42, "one-line"));
        assert_ne!(line(42, "one-line"), line(43, "one-line"));
        assert_ne!(line(42, "one-line"), line(42, "binary"));
    }
}
