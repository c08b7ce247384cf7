//! The grader of the Server Concurrency Workbook.
//!
//! It runs a learner's server as a real process on loopback, talks to it as clients would,
//! looks at it through `/proc`, and scores it against a rubric of checks. Whatever the
//! server does, the grader finishes in bounded time and leaves no process behind.
//!
//! # Layout
//! - [`check`]: what a check is (data: id, category, points, hint, book section) and [`Ctx`],
//!   what a check's function is given.
//! - [`checks`]: the rubrics: [`checks::common`] for every architecture, then one module per
//!   architecture.
//! - [`arch`]: the architectures and their rubrics.
//! - [`run`]: runs a rubric, one check at a time, each within its time limit.
//! - [`server`]: a server under test, seen from the grader; [`shepherd`]: the process that
//!   owns its tree and kills it; [`contain`]: Ctrl-C and strays; [`procfs`]: `/proc` probes.
//! - [`client`]: connections with deadlines and byte-exact verdicts.
//! - [`report`]: the human rubric, JSON and Gradescope output; [`harness`]: the same rubric
//!   as `cargo test`; [`cargo`]: building the crate to grade.
//!
//! [`Ctx`]: check::Ctx

pub mod arch;
pub mod cargo;
pub mod check;
pub mod checks;
pub mod client;
pub mod contain;
pub mod harness;
pub mod procfs;
pub mod report;
pub mod run;
pub mod server;
pub mod shepherd;
