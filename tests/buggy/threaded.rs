//! The known-buggy threaded servers and the checks that must catch them.

use crate::Case;

pub const CASES: &[Case] = &[
    Case {
        bug: "threaded-joins-each-thread",
        arch: "threaded",
        // Joining at once makes it the iterative server: every check that needs two clients
        // served at the same time fails, and no check can tell them apart more finely.
        // `thread-per-connection` and `threads-end` fail at their second client's echo,
        // `interleaved` and `many-clients` at their second client's reply.
        fails: &[
            "stalled-client",
            "thread-per-connection",
            "many-clients",
            "interleaved",
            "threads-end",
        ],
        says: "client 1 connected first and has sent nothing since",
        alone: false,
    },
    Case {
        bug: "threaded-reads-on-accept-thread",
        arch: "threaded",
        fails: &["stalled-client"],
        says: "client 2 sent \"client 2 is not waiting for client 1\\n\"",
        alone: false,
    },
    Case {
        bug: "threaded-forks",
        arch: "threaded",
        fails: &["thread-per-connection"],
        says: "50 child processes",
        alone: false,
    },
    Case {
        bug: "threaded-one-thread-polls",
        arch: "threaded",
        fails: &["thread-per-connection"],
        says: "had 1 thread;",
        alone: false,
    },
    Case {
        bug: "threaded-capped",
        arch: "threaded",
        fails: &["many-clients"],
        says: "100 of them got their echo",
        alone: false,
    },
    Case {
        bug: "threaded-global-buffer",
        arch: "threaded",
        fails: &["interleaved"],
        says: "in three pieces",
        alone: false,
    },
    Case {
        bug: "threaded-threads-never-end",
        arch: "threaded",
        fails: &["threads-end"],
        says: "threads outlived their clients",
        alone: false,
    },
    Case {
        bug: "threaded-spawn-panics",
        arch: "threaded",
        fails: &["spawn-failure"],
        says: "thread::spawn panics",
        alone: false,
    },
];
