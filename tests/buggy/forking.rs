//! The known-buggy forking servers and the checks that must catch them.

use crate::Case;

pub const CASES: &[Case] = &[
    Case {
        bug: "forking-no-reap",
        arch: "forking",
        // A server that never reaps also leaves the child the grader killed a zombie, and
        // zombies count against RLIMIT_NPROC until reaped, so it cannot fork again either.
        fails: &["no-zombies", "crash-isolation", "fork-failure"],
        says: "the parent had not collected their exit status",
        alone: false,
    },
    Case {
        bug: "forking-reap-once",
        arch: "forking",
        fails: &["no-zombies"],
        // Usually in the burst, when 50 SIGCHLDs merge; two that merge by chance earlier are
        // caught as well.
        says: "the parent had not collected their exit status",
        alone: false,
    },
    Case {
        bug: "forking-wait-in-handler",
        arch: "forking",
        fails: &["no-zombies"],
        // Usually in the burst, when 50 SIGCHLDs merge; two that merge by chance earlier are
        // caught as well.
        says: "the parent had not collected their exit status",
        alone: false,
    },
    Case {
        bug: "forking-reap-after-accept",
        arch: "forking",
        fails: &["no-zombies"],
        says: "50 clients came and went one after another",
        alone: false,
    },
    Case {
        bug: "forking-wait-all-in-handler",
        arch: "forking",
        fails: &["sigchld-in-accept"],
        says: "asleep in the kernel's `do_wait`",
        alone: false,
    },
    Case {
        bug: "forking-parent-keeps-socket",
        arch: "forking",
        // The kept copies are the descriptors `descriptors` counts, and the copy keeps the
        // connection open after the child closes its own, so `half-close` never sees EOF.
        fails: &["parent-closes", "descriptors", "half-close"],
        says: "still held the sockets of 10 of them",
        alone: false,
    },
    Case {
        bug: "forking-child-returns",
        arch: "forking",
        // A child that never exits also outlives its client, and the children left in the
        // accept loop use up the process limit, so no fork succeeds once clients have left.
        fails: &["bounded-processes", "children-exit", "fork-failure"],
        says: "the processes pile up",
        alone: false,
    },
    Case {
        bug: "forking-child-continues-on-error",
        arch: "forking",
        fails: &["children-exit"],
        says: "reset its connection in the middle of a line",
        alone: false,
    },
    Case {
        bug: "forking-serves-in-parent",
        arch: "forking",
        // Serving in the parent is also having no child per connection.
        fails: &["stalled-client", "child-per-connection"],
        says: "client 1 has sent half a line and nothing since",
        alone: false,
    },
    Case {
        bug: "forking-child-crash-fatal",
        arch: "forking",
        fails: &["crash-isolation"],
        says: "the server's main process had ended (exit code 1)",
        alone: false,
    },
    Case {
        bug: "forking-fork-fatal",
        arch: "forking",
        fails: &["fork-failure"],
        says: "a failed fork must cost one client, not the server",
        alone: false,
    },
];
