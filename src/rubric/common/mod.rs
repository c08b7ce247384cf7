//! Checks every architecture must pass: the contract's correctness and robustness, and
//! descriptors back at their baseline. Book: `book/src/contract.md`.
//!
//! - [`lines`]: what comes back for what is sent (framing, bytes, the line limit's edge);
//! - [`ending`]: how connections end (half-close, over-long lines, resets);
//! - [`lifecycle`]: the server's own life (signals, descriptors over time), with [`held`]
//!   telling its connections' descriptors from its own;
//! - [`beyond`]: the client beyond a busy pool, for the pools' checks;
//! - [`emfile`]: running out of descriptors, the body of the `emfile` check of every
//!   architecture that holds a descriptor per connection.

mod beyond;
mod emfile;
mod ending;
mod held;
mod lifecycle;
mod lines;

use std::time::Duration;

pub use beyond::{client_beyond, next_is_served, QUEUED};
pub use emfile::{out_of_descriptors, out_of_descriptors_with};
pub use ending::{over_long_line, HALF_CLOSE, RESET, TOO_LONG};
pub(crate) use held::Held;
pub use lifecycle::{fd_leak_after, DESCRIPTORS, SIGTERM};
pub use lines::{
    BINARY, BYTE_BY_BYTE, EMPTY_LINES, LINE_THEN_FRAGMENT, LONGEST_LINE, MEBIBYTE, ONE_LINE,
    PIPELINED,
};

use crate::contain::server::Server;
use crate::ensure;
use crate::rubric::check::Check;
use crate::verdict::Outcome;

/// The time limit of most checks.
pub(crate) const LIMIT: Duration = Duration::from_secs(20);

/// The checks shared by all architectures, in rubric order.
pub fn rubric() -> Vec<&'static Check> {
    vec![
        &ONE_LINE,
        &PIPELINED,
        &BYTE_BY_BYTE,
        &LINE_THEN_FRAGMENT,
        &BINARY,
        &EMPTY_LINES,
        &LONGEST_LINE,
        &HALF_CLOSE,
        &MEBIBYTE,
        &TOO_LONG,
        &RESET,
        &SIGTERM,
        &DESCRIPTORS,
    ]
}

/// Fails unless the server's tree is one process with one thread (zombies aside): `when`
/// says what was going on, `promise` what the architecture promises.
pub fn one_task(server: &Server, when: &str, promise: &str) -> Outcome {
    let tree = server.tree();
    let processes = tree.iter().filter(|p| !p.is_zombie()).count();
    let threads: usize = tree.iter().map(|p| p.threads).sum();
    ensure!(
        processes == 1 && threads == 1,
        "{when}, the server had {processes} processes and {threads} threads; {promise}"
    );
    Ok(())
}
