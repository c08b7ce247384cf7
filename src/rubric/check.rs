//! Checks are data: an id, a category, points, the hint shown on failure and the book section
//! that explains it, plus the function that runs it. The rubric of an architecture is a list
//! of them (`workbook rubric ARCH` prints it).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::contain::server::{Program, Server};
use crate::contain::shepherd::Limits;
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
#[derive(Default)]
pub struct RunMemo {
    /// Set when a server never announced within the timeout: later checks fail at once with
    /// the same verdict instead of waiting again.
    no_announce: OnceLock<Verdict>,
    /// The tag of every server started in this run, to look for strays afterwards.
    tags: Mutex<Vec<String>>,
}

impl RunMemo {
    pub fn tags(&self) -> Vec<String> {
        self.tags.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What a check's function gets: a way to start the server under test. Every server started
/// here is killed, with its whole tree, when the check ends.
pub struct Ctx {
    program: Program,
    memo: Arc<RunMemo>,
    servers: Mutex<Vec<Arc<Server>>>,
}

impl Ctx {
    pub(crate) fn new(program: Program, memo: Arc<RunMemo>) -> Ctx {
        Ctx {
            program,
            memo,
            servers: Mutex::new(Vec::new()),
        }
    }

    /// Starts the server with the default limits.
    pub fn start(&self) -> Result<Arc<Server>, Verdict> {
        self.start_with(&Limits::default())
    }

    /// Starts the server with the given limits (a low `nofile` for the EMFILE check, say).
    pub fn start_with(&self, limits: &Limits) -> Result<Arc<Server>, Verdict> {
        if let Some(verdict) = self.memo.no_announce.get() {
            return Err(verdict.clone());
        }
        let begun = Instant::now();
        match Server::start(&self.program, limits) {
            Ok(server) => {
                let server = Arc::new(server);
                self.memo
                    .tags
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(server.tag().to_string());
                self.lock().push(server.clone());
                Ok(server)
            }
            Err(verdict) => {
                // Waiting 10 s again, or hitting the same cap again, would only repeat the
                // verdict more slowly.
                let capped = verdict.kind == Kind::CapHit;
                if capped || begun.elapsed() >= crate::contain::server::ANNOUNCE_TIMEOUT {
                    let _ = self.memo.no_announce.set(verdict.clone());
                }
                Err(verdict)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Server>>> {
        self.servers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds what became of the servers to a failure: a crash explains most failures better
    /// than the symptom a client saw.
    pub(crate) fn explain(&self, verdict: Verdict) -> Verdict {
        let servers = self.lock().clone();
        for server in servers {
            if let Some(obituary) = server.obituary() {
                if let Some(todo) = todo_message(&server.stderr_tail()) {
                    return Verdict::of(
                        Kind::Todo,
                        format!(
                            "the server stopped at a todo!() that is still to be written: {todo}"
                        ),
                    );
                }
                return Verdict::of(
                    obituary.kind,
                    format!("{}\n{}", verdict.message, obituary.message),
                );
            }
        }
        verdict
    }

    /// Kills every server this check started.
    pub(crate) fn stop_all(&self) {
        let servers: Vec<_> = self.lock().drain(..).collect();
        for server in servers {
            server.kill();
        }
    }
}

/// The message of a `todo!()` panic in a server's stderr, with where it is.
fn todo_message(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains("not yet implemented"))?;
    let what = lines[i].trim().trim_start_matches("not yet implemented: ");
    let place = lines[..i]
        .iter()
        .rev()
        .find_map(|l| l.split(" panicked at ").nth(1))
        .map(|p| p.trim_end_matches(':'));
    Some(match place {
        Some(place) => format!("{what} ({place})"),
        None => what.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_todo() {
        let stderr = "\nthread 'main' (123) panicked at exercises/iterative/src/lib.rs:22:5:\n\
                      not yet implemented: write the accept loop\nnote: run with RUST_BACKTRACE=1\n";
        assert_eq!(
            todo_message(stderr).as_deref(),
            Some("write the accept loop (exercises/iterative/src/lib.rs:22:5)")
        );
        assert_eq!(
            todo_message("thread 'main' panicked at x.rs:1:1:\nboom"),
            None
        );
    }
}
