//! Servers with one bug in the line protocol or in how a connection ends.

use crate::Case;

pub const CASES: &[Case] = &[
    Case {
        bug: "byte-echo",
        arch: "iterative",
        // Echoing bytes as they come also echoes the dropped fragment and the long line.
        fails: &["byte-by-byte", "half-close", "too-long"],
        says: "expected nothing back before the `\\n`",
    },
    Case {
        bug: "unflushed-at-eof",
        arch: "iterative",
        fails: &["half-close"],
        says: "expected \"first\\nsecond\\n\"",
    },
    Case {
        bug: "flush-when-empty",
        arch: "iterative",
        fails: &["line-then-fragment"],
        says: "nothing came back within 3 s",
    },
    Case {
        bug: "no-line-limit",
        arch: "iterative",
        fails: &["too-long"],
        says: "buffering the line without a bound",
    },
    Case {
        bug: "shutdown-not-close",
        arch: "iterative",
        fails: &["descriptors"],
        says: "descriptors leaked",
    },
    Case {
        bug: "thread-per-client-iterative",
        arch: "iterative",
        fails: &["single-process"],
        says: "2 threads",
    },
    Case {
        bug: "ignores-sigterm",
        arch: "iterative",
        fails: &["sigterm"],
        says: "still running 2 s after SIGTERM",
    },
];
