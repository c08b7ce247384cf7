//! Servers that attack containment: each must fail every check with a clear verdict, within
//! the time budget, and leave nothing behind.

use crate::Case;

pub const CASES: &[Case] = &[
    Case {
        bug: "never-announces",
        arch: "iterative",
        fails: &["*"],
        says: "did not print `listening on 127.0.0.1:PORT` within 10 s",
        alone: false,
    },
    Case {
        bug: "exits-at-once",
        arch: "iterative",
        fails: &["*"],
        says: "exited (exit code 3) before announcing",
        alone: false,
    },
    Case {
        bug: "stdout-flood",
        arch: "iterative",
        fails: &["*"],
        says: "without the line `listening on 127.0.0.1:PORT`",
        alone: false,
    },
    Case {
        bug: "crashes-on-first-connection",
        arch: "iterative",
        fails: &["*"],
        says: "the server exited (signal SIGABRT)",
        alone: false,
    },
    Case {
        bug: "hangs-in-accept",
        arch: "iterative",
        fails: &["*"],
        says: "nothing came back within 3 s",
        alone: false,
    },
    Case {
        bug: "stops-itself",
        arch: "iterative",
        fails: &["*"],
        says: "nothing came back within 3 s",
        alone: false,
    },
    Case {
        bug: "double-fork-daemon",
        arch: "iterative",
        fails: &["sigterm", "descriptors", "single-process"],
        says: "stay in the foreground",
        alone: false,
    },
    Case {
        bug: "setsid-straggler",
        arch: "iterative",
        fails: &["single-process"],
        says: "2 processes",
        alone: false,
    },
    Case {
        bug: "fork-bomb",
        arch: "iterative",
        fails: &["*"],
        says: "processes at once",
        alone: true,
    },
    Case {
        bug: "memory-hog",
        arch: "iterative",
        fails: &["*"],
        says: "MiB of memory",
        alone: true,
    },
];
