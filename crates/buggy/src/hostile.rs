//! Servers that attack the grader's containment rather than the protocol: they hang, crash,
//! flood, stop themselves, escape their process group or fork without end. The grader must
//! finish within its budget, give a clear verdict, and leave none of their processes behind.

use std::io::{self, Write};
use std::time::Duration;

use nix::sys::signal::{raise, Signal};
use nix::unistd::{fork, setsid, ForkResult};
use solution_iterative::handle_connection;

use crate::common::{serve_each, serve_listener};
use crate::Bug;
use crate::Fails::{Every, Exactly};

pub const BUGS: &[Bug] = &[
    Bug {
        name: "never-announces",
        about: "listens and serves, but never prints `listening on ...`",
        arch: "iterative",
        fails: Every,
        says: "did not print `listening on 127.0.0.1:PORT` within 10 s",
        alone: false,
        run: || {
            let addr = workbook_kit::listen_addr(std::env::args().skip(2).last())?;
            serve_listener(workbook_kit::bind(addr)?, handle_connection)
        },
    },
    Bug {
        name: "exits-at-once",
        about: "exits with status 3 before listening",
        arch: "iterative",
        fails: Every,
        says: "exited (exit code 3) before announcing",
        alone: false,
        run: || std::process::exit(3),
    },
    Bug {
        name: "stdout-flood",
        about: "prints megabytes without a newline instead of announcing",
        arch: "iterative",
        fails: Every,
        says: "without the line `listening on 127.0.0.1:PORT`",
        alone: false,
        run: || {
            let chunk = [b'#'; 4096];
            let mut out = io::stdout();
            loop {
                out.write_all(&chunk)?;
            }
        },
    },
    Bug {
        name: "crashes-on-first-connection",
        about: "aborts as soon as a client connects",
        arch: "iterative",
        fails: Every,
        says: "the server exited (signal SIGABRT)",
        alone: false,
        run: || {
            let listener = workbook_kit::listen()?;
            let _ = listener.accept()?;
            std::process::abort()
        },
    },
    Bug {
        name: "hangs-in-accept",
        about: "announces, then never accepts a connection",
        arch: "iterative",
        fails: Every,
        says: "nothing came back within 3 s",
        alone: false,
        run: || {
            let _listener = workbook_kit::listen()?;
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        },
    },
    Bug {
        name: "stops-itself",
        about: "announces, then stops itself with SIGSTOP",
        arch: "iterative",
        fails: Every,
        says: "nothing came back within 3 s",
        alone: false,
        run: || {
            let listener = workbook_kit::listen()?;
            raise(Signal::SIGSTOP)?;
            serve_listener(listener, handle_connection)
        },
    },
    Bug {
        name: "double-fork-daemon",
        about: "daemonizes: a grandchild in a new session keeps the listener; the parent exits",
        arch: "iterative",
        // queued-client fails uncounted with the gate (single-process) it stands behind.
        fails: Exactly(&["sigterm", "descriptors", "single-process", "queued-client"]),
        says: "stay in the foreground",
        alone: false,
        run: || {
            let listener = workbook_kit::listen()?;
            // Safe: single-threaded here, and each process only exits or serves.
            match unsafe { fork() }? {
                ForkResult::Parent { .. } => std::process::exit(0),
                ForkResult::Child => {
                    setsid()?;
                    // Safe: as above.
                    match unsafe { fork() }? {
                        ForkResult::Parent { .. } => std::process::exit(0),
                        ForkResult::Child => serve_listener(listener, handle_connection),
                    }
                }
            }
        },
    },
    Bug {
        name: "setsid-straggler",
        about: "serves correctly, but leaves a child in a new session that never exits",
        arch: "iterative",
        // queued-client fails uncounted with the gate (single-process) it stands behind.
        fails: Exactly(&["single-process", "queued-client"]),
        says: "2 processes",
        alone: false,
        run: || {
            let listener = workbook_kit::listen()?;
            // Safe: single-threaded here; the child only sleeps.
            if let ForkResult::Child = unsafe { fork() }? {
                setsid()?;
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            }
            serve_listener(listener, handle_connection)
        },
    },
    Bug {
        name: "fork-bomb",
        about: "announces, then every process forks without end",
        arch: "iterative",
        fails: Every,
        says: "processes at once",
        alone: true,
        run: || {
            let _listener = workbook_kit::listen()?;
            loop {
                // Safe: single-threaded; parent and child both just fork again.
                let _ = unsafe { fork() };
            }
        },
    },
    Bug {
        name: "memory-hog",
        about: "touches 1.5 GiB of memory before it announces",
        arch: "iterative",
        fails: Every,
        says: "MiB of memory",
        alone: true,
        run: || {
            let hoard = vec![1u8; 3 << 29];
            std::hint::black_box(&hoard);
            serve_each(handle_connection)
        },
    },
];
