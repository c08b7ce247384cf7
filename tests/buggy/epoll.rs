//! The known-buggy epoll servers and the checks that must catch them.

use crate::Case;

pub const CASES: &[Case] = &[
    Case {
        bug: "epoll-read-once",
        arch: "epoll",
        // Unavoidable: every check that sends more than one 4 KiB read's worth at once
        // (1,000 pipelined lines, a 64 KiB line, 1 MiB, an endless line, 8 MiB) leaves bytes
        // in the socket that no new edge will announce.
        fails: &[
            "partial-reads",
            "pipelined",
            "longest-line",
            "mebibyte",
            "too-long",
            "partial-writes",
        ],
        says: "bytes came back",
        alone: false,
    },
    Case {
        bug: "epoll-accept-batch",
        arch: "epoll",
        fails: &["accept-burst"],
        says: "left waiting in the listen queue",
        alone: false,
    },
    Case {
        bug: "epoll-fragment-echo",
        arch: "epoll",
        // As `byte-echo`: echoing bytes as they come also echoes the fragment dropped at EOF
        // and the over-long line.
        fails: &["byte-by-byte", "half-close", "too-long"],
        says: "expected nothing back before the `\\n`",
        alone: false,
    },
    Case {
        bug: "epoll-shared-buffer",
        arch: "epoll",
        // Unavoidable: `partial-writes` and `backpressure` also serve a second client while
        // a first one's unfinished line sits in the buffer (their lines are long, so a read
        // ending exactly at a line's end, which would hide the bug, is very unlikely).
        fails: &["partial-reads", "partial-writes", "backpressure"],
        says: "were mixed",
        alone: false,
    },
    Case {
        bug: "epoll-blocking-writes",
        arch: "epoll",
        // `backpressure` also has a second client wait on the blocked loop.
        fails: &["partial-writes", "backpressure"],
        says: "must not hold up the others",
        alone: false,
    },
    Case {
        bug: "epoll-unbounded-output",
        arch: "epoll",
        fails: &["backpressure"],
        says: "kept reading from a client whose echoes pile up",
        alone: false,
    },
    Case {
        bug: "epoll-leak-on-reset",
        arch: "epoll",
        fails: &["closed-peers"],
        says: "descriptors leaked",
        alone: false,
    },
    Case {
        bug: "epoll-emfile-spin",
        arch: "epoll",
        // Alone: it spins a core at full speed for as long as it is out of descriptors.
        fails: &["emfile"],
        says: "spinning on an accept",
        alone: true,
    },
    Case {
        bug: "epoll-fixed-table",
        arch: "epoll",
        fails: &["thousand-clients"],
        says: "with 512 other clients connected",
        alone: false,
    },
    Case {
        bug: "epoll-eager-buffers",
        arch: "epoll",
        fails: &["idle-memory"],
        says: "KiB per connection",
        alone: false,
    },
    Case {
        bug: "epoll-thread-per-connection",
        arch: "epoll",
        // A thread per connection also costs its stack: with a 64 KiB buffer on it, far
        // more than an idle connection may.
        fails: &["single-thread", "idle-memory"],
        says: "2 threads",
        alone: false,
    },
];
