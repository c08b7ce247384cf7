//! Servers that attack the grader's containment rather than the protocol: they hang, crash,
//! flood, stop themselves, escape their process group or fork without end; some go for the
//! grader itself (stop or kill it, forge its report) or for the machine (hoard memory no
//! RSS shows, fill /tmp). The grader must finish within its budget, give a clear verdict,
//! survive, and leave none of their processes or files behind.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::time::Duration;

use nix::sys::signal::{kill, raise, Signal};
use nix::unistd::{fork, getpid, getppid, setsid, ForkResult, Pid};
use solution_iterative::handle_connection;

use crate::common::{serve_each, serve_listener};
use crate::Bug;
use crate::Fails::{Elsewhere, Every, Exactly};

/// A forged rubric, as the grader's human and JSON formats would print full marks.
const FORGED: &[u8] =
    b"Score: 115/115  full marks\n{\"score\": 115, \"max_score\": 115, \"checks\": []}\n";

/// How much `tmp-filler` tries to write, in files of [`FILL_FILE`] bytes: more than the
/// grader's disk cap, little enough not to fill a machine where that cap is missing.
const FILL_TOTAL: usize = 512 << 20;
const FILL_FILE: usize = 32 << 20;

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
        name: "sigkills-itself",
        about: "sends itself SIGKILL as soon as a client connects, as the kernel's \
                out-of-memory killer would",
        arch: "iterative",
        fails: Every,
        says: "a SIGKILL that the grader did not send",
        alone: false,
        run: || {
            let listener = workbook_kit::listen()?;
            let _ = listener.accept()?;
            raise(Signal::SIGKILL)?;
            unreachable!("SIGKILL cannot be caught")
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
        says: "the server is stopped (state T",
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
        // The daemon itself is one process of one thread, so single-process (and the
        // queued-client behind it) pass: the namespace's init reaps its exited parents at
        // once. (Without namespaces, a parent not yet reaped by the shepherd's next tick
        // still counts its thread, and single-process may fail.)
        fails: Exactly(&["sigterm", "descriptors"]),
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
        name: "stops-everyone",
        about: "serves correctly while a helper stops (SIGSTOP) every other process of its uid, \
                again and again",
        arch: "iterative",
        // With its verdict, what must hold around it: the grader alive and unstopped, within
        // budget, nothing left. And where servers get no namespaces it must not run at all:
        // it would stop every process of the grader's uid.
        fails: Elsewhere("tests/contain.rs"),
        says: "",
        alone: false,
        run: || {
            let listener = workbook_kit::listen()?;
            // Safe: single-threaded here; the child only scans /proc and signals.
            if let ForkResult::Child = unsafe { fork() }? {
                stop_everyone_forever();
            }
            serve_listener(listener, handle_connection)
        },
    },
    Bug {
        name: "kills-ancestors",
        about: "SIGKILLs every ancestor and every process it may (kill -9 -1), writes a forged \
                full-marks report into their output, then serves correctly",
        arch: "iterative",
        // Full marks, the grader alive, its report clean: more than a verdict, and nothing
        // to run where servers get no namespaces (it would kill every process of our uid).
        fails: Elsewhere("tests/contain.rs"),
        says: "",
        alone: false,
        run: || {
            attack_ancestors();
            serve_each(handle_connection)
        },
    },
    Bug {
        name: "memfd-hoard",
        about: "holds 2 GiB in memfds (shared memory, in no process's RSS) before it announces",
        arch: "iterative",
        fails: Every,
        says: "MiB of memory",
        alone: true,
        run: || {
            // 32 MiB each: a file may not grow past the grader's RLIMIT_FSIZE, memfds neither.
            let chunk = vec![7u8; 32 << 20];
            let mut hoard = Vec::new();
            for _ in 0..64 {
                let memfd = nix::sys::memfd::memfd_create(
                    c"hoard",
                    nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
                )?;
                nix::unistd::write(memfd.as_fd(), &chunk)?;
                hoard.push(memfd);
            }
            serve_each(handle_connection)
        },
    },
    Bug {
        name: "tmp-filler",
        about: "writes hundreds of MiB to /tmp and $TMPDIR before it announces, then serves \
                correctly",
        arch: "iterative",
        // Full marks (its /tmp is private and full at the disk cap: it serves on), and none
        // of its files left on the host: more than a verdict.
        fails: Elsewhere("tests/contain.rs"),
        says: "",
        alone: true,
        run: || {
            let tmpdir = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into());
            let written = fill(&["/tmp".to_string(), tmpdir]);
            eprintln!("tmp-filler: wrote {} MiB", written >> 20);
            serve_each(handle_connection)
        },
    },
    Bug {
        name: "nosy",
        about: "prints what it can learn of who runs it (environment, directory, parent, cgroup, \
                inherited descriptors) to stderr, then serves correctly",
        arch: "iterative",
        // Curiosity is no bug: full marks, and what it learns must name nothing of the grader.
        fails: Elsewhere("tests/contain.rs"),
        says: "",
        alone: false,
        run: || {
            eprintln!("nosy: env {:?}", std::env::vars().collect::<Vec<_>>());
            eprintln!("nosy: cwd {:?}", std::env::current_dir()?);
            let parent = getppid().as_raw();
            let read = |what: &str| std::fs::read(format!("/proc/{parent}/{what}"));
            let cmdline = read("cmdline").map(|b| String::from_utf8_lossy(&b).replace('\0', " "));
            eprintln!(
                "nosy: parent {parent} cmdline {:?}",
                cmdline.map(|c| c.trim().to_string())
            );
            eprintln!(
                "nosy: parent comm {:?}",
                read("comm").map(|b| String::from_utf8_lossy(&b).trim().to_string())
            );
            // Before it listens, so that all it holds is what it was given (and the directory
            // it reads them from).
            let fds: Vec<String> = std::fs::read_dir("/proc/self/fd")?
                .flatten()
                .map(|e| {
                    let target = std::fs::read_link(e.path()).unwrap_or_default();
                    format!("{}={}", e.file_name().to_string_lossy(), target.display())
                })
                .collect();
            eprintln!("nosy: fds {}", fds.join(" "));
            eprintln!(
                "nosy: cgroup {:?}",
                std::fs::read_to_string("/proc/self/cgroup")
            );
            serve_each(handle_connection)
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

/// Stops every process of our uid that `/proc` shows, but ourselves and our parent (the
/// server, which must go on serving), every few milliseconds, for ever.
fn stop_everyone_forever() -> ! {
    let (me, parent) = (getpid().as_raw(), getppid().as_raw());
    let uid = uid_of(me);
    loop {
        for pid in pids() {
            if pid != me && pid != parent && uid_of(pid) == uid {
                let _ = kill(Pid::from_raw(pid), Signal::SIGSTOP);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Kills every ancestor (after forging a report into its stdout and stderr), then every
/// process we may signal at all.
fn attack_ancestors() {
    let mut pid = getppid().as_raw();
    while pid > 0 {
        for fd in [1, 2] {
            if let Ok(mut out) = std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/proc/{pid}/fd/{fd}"))
            {
                let _ = out.write_all(FORGED);
            }
        }
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        pid = ppid_of(pid).unwrap_or(0);
    }
    if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
        let _ = tty.write_all(FORGED);
    }
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
}

/// Writes files of `FILL_FILE` bytes into each of `dirs` in turn until one write fails or
/// `FILL_TOTAL` bytes are written. Returns the bytes written.
fn fill(dirs: &[String]) -> usize {
    let chunk = vec![1u8; 1 << 20];
    let mut written = 0;
    for n in 0.. {
        let path = format!("{}/tmp-filler-{}-{n}", dirs[n % dirs.len()], getpid());
        let Ok(mut file) = std::fs::File::create(&path) else {
            return written;
        };
        for _ in 0..FILL_FILE / chunk.len() {
            if written >= FILL_TOTAL || file.write_all(&chunk).is_err() {
                return written;
            }
            written += chunk.len();
        }
    }
    written
}

fn pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

fn uid_of(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ppid_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
