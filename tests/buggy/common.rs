//! Servers with one bug in the line protocol or in how a connection ends.

use crate::Case;

pub const CASES: &[Case] = &[
    Case {
        bug: "byte-echo",
        arch: "iterative",
        // Echoing bytes as they come also echoes the dropped fragment and the long line.
        fails: &["byte-by-byte", "half-close", "too-long"],
        says: "expected nothing back before the `\\n`",
        alone: false,
    },
    Case {
        bug: "unflushed-at-eof",
        arch: "iterative",
        fails: &["half-close"],
        says: "expected \"first\\nsecond\\n\"",
        alone: false,
    },
    Case {
        bug: "flush-when-empty",
        arch: "iterative",
        fails: &["line-then-fragment"],
        says: "nothing came back within 3 s",
        alone: false,
    },
    Case {
        bug: "no-line-limit",
        arch: "iterative",
        fails: &["too-long"],
        says: "buffering the line without a bound",
        alone: false,
    },
    Case {
        bug: "shutdown-not-close",
        arch: "iterative",
        fails: &["descriptors"],
        says: "descriptors leaked",
        alone: false,
    },
    Case {
        bug: "thread-per-client-iterative",
        arch: "iterative",
        fails: &["single-process"],
        says: "2 threads",
        alone: false,
    },
    Case {
        bug: "ignores-sigterm",
        arch: "iterative",
        fails: &["sigterm"],
        says: "still running 2 s after SIGTERM",
        alone: false,
    },
];
