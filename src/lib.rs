//! The grader of the Server Concurrency Workbook.
//!
//! It runs a learner's server as a real process on loopback, talks to it as clients would,
//! looks at it through `/proc`, and scores it against a rubric of checks. Whatever the
//! server does, the grader finishes in bounded time and leaves no process behind.
//!
//! # Layout
//! The layers, each using only those above it:
//! - [`verdict`]: why a check failed, with a kind the grader acts on and, when a diagnosis
//!   found it, the bug behind it.
//! - [`probe`]: reading `/proc` (processes, threads, descriptors, sockets, epoll sets,
//!   memory) and waiting until a value settles. No other module reads `/proc`.
//! - [`contain`]: running and containing a server: the [shepherd](contain::shepherd) that
//!   owns its tree, kept in namespaces of its own ([fence](contain::fence), with a tiny
//!   [init](contain::init)) where the kernel allows, the typed [protocol](contain::protocol)
//!   between the two, the [server handle](contain::server) the checks use, and the run-wide
//!   [sweep](contain::sweep).
//! - [`drive`]: clients with deadlines, the traffic checks send, random data.
//! - [`rubric`]: what a check is, the [registry](rubric::registry) of architectures, the
//!   checks they share and one folder per architecture, the [diagnoses](rubric::diagnose)
//!   that name the bug behind a failure, and the [runner](rubric::run).
//! - [`report`]: one render function over the formats (human, JSON, Gradescope, GitHub
//!   Classroom, JUnit), one file each.
//! - Front ends: [`harness`] (the rubric as `cargo test`), [`cargo`] (building the crate
//!   to grade) and [`edition`] (the student edition, and grading a submission for marks);
//!   the CLI is `src/main.rs`.

pub mod cargo;
pub mod contain;
pub mod drive;
pub mod edition;
pub mod harness;
pub mod learner;
pub mod probe;
pub mod report;
pub mod rubric;
pub mod verdict;
