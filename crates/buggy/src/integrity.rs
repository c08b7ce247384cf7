//! Servers that try to earn marks they have not: hiding their work outside the process the
//! grader probes, decoy children, a borrowed port, an address off loopback, canned replies,
//! replies that flood the grader, escape codes that forge a score. `tests/integrity.rs` grades
//! each and asserts that no mark is given that was not earned.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use nix::sched::CloneFlags;
use solution_iterative::handle_connection;

use crate::threaded::threads_on;
use crate::{Bug, Fails};

pub const BUGS: &[Bug] = &[
    Bug {
        name: "clone-sibling",
        about: "serves from a sibling process (CLONE_PARENT | CLONE_FILES), a thread per \
                connection, while its main process sits idle in one thread",
        arch: "iterative",
        fails: Fails::Elsewhere("tests/integrity.rs"),
        says: "",
        alone: false,
        run: clone_sibling,
    },
    Bug {
        name: "threaded-decoys",
        about: "serves on threads, and forks an idle decoy child per connection",
        arch: "iterative",
        fails: Fails::Elsewhere("tests/integrity.rs"),
        says: "",
        alone: false,
        run: || {
            threads_on(&workbook_kit::listen()?, |stream| {
                // Safe: the decoy calls only async-signal-safe functions (pause, _exit).
                if let Ok(nix::unistd::ForkResult::Child) = unsafe { nix::unistd::fork() } {
                    loop {
                        nix::unistd::pause();
                    }
                }
                handle_connection(stream)
            })
        },
    },
    Bug {
        name: "polled-decoys",
        about: "serves every connection from one poll loop in its one thread, and forks an idle \
                decoy child per connection",
        arch: "iterative",
        fails: Fails::Elsewhere("tests/integrity.rs"),
        says: "",
        alone: false,
        run: polled_decoys,
    },
    Bug {
        name: "threaded-as-forking",
        about: "a correct thread-per-connection server (graded as forking, it forks nothing)",
        arch: "iterative",
        fails: Fails::Elsewhere("tests/integrity.rs"),
        says: "",
        alone: false,
        run: || threads_on(&workbook_kit::listen()?, handle_connection),
    },
    Bug {
        name: "borrowed-port",
        about: "serves nothing and announces the port given as its argument, which another \
                program listens on",
        arch: "iterative",
        fails: Fails::Elsewhere("tests/integrity.rs"),
        says: "",
        alone: false,
        run: || {
            let port = std::env::args().nth(2).unwrap_or_default();
            println!("listening on 127.0.0.1:{port}");
            idle()
        },
    },
    Bug {
        name: "off-loopback",
        about: "announces an address that is not 127.0.0.1",
        arch: "iterative",
        fails: Fails::Elsewhere("tests/integrity.rs"),
        says: "",
        alone: false,
        run: || {
            let _listener = bind_quietly()?;
            println!("listening on 10.20.30.40:80");
            idle()
        },
    },
    Bug {
        name: "canned-replies",
        about: "echoes the lines it recognises from the checks and answers anything else with \
                a canned line",
        arch: "iterative",
        fails: Fails::Elsewhere("tests/integrity.rs"),
        says: "",
        alone: false,
        run: || crate::common::serve_each(canned),
    },
    Bug {
        name: "flood-replies",
        about: "answers every line with an endless stream of bytes",
        arch: "iterative",
        fails: Fails::Elsewhere("tests/integrity.rs"),
        says: "",
        alone: false,
        run: || {
            crate::common::serve_each(|mut stream| {
                let mut line = Vec::new();
                BufReader::new(&stream).read_until(b'\n', &mut line)?;
                let chunk = [b'z'; 64 * 1024];
                loop {
                    stream.write_all(&chunk)?;
                }
            })
        },
    },
    Bug {
        name: "forged-score",
        about: "writes escape codes and a fake full-marks line to stderr, then crashes",
        arch: "iterative",
        fails: Fails::Elsewhere("tests/integrity.rs"),
        says: "",
        alone: false,
        run: || {
            let listener = workbook_kit::listen()?;
            eprintln!("\x1b[2J\x1b[H\x1b[1;32mScore: 115/115  full marks\x1b[0m");
            let _ = listener.accept()?;
            std::process::abort()
        },
    },
    Bug {
        name: "slow-announce",
        about: "a correct iterative server that announces after 9 s, as the contract allows",
        arch: "iterative",
        fails: Fails::Elsewhere("tests/integrity.rs"),
        says: "",
        alone: false,
        run: || {
            let listener = bind_quietly()?;
            std::thread::sleep(Duration::from_secs(9));
            println!("listening on {}", listener.local_addr()?);
            crate::common::serve_listener(listener, handle_connection)
        },
    },
];

/// Binds the address the grader asked for, without announcing it.
fn bind_quietly() -> io::Result<std::net::TcpListener> {
    workbook_kit::bind(workbook_kit::listen_addr(std::env::args().skip(2).last())?)
}

fn idle() -> io::Result<()> {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn clone_sibling() -> io::Result<()> {
    let listener = workbook_kit::listen()?;
    let mut stack = vec![0u8; 1 << 20];
    let serve = Box::new(|| match threads_on(&listener, handle_connection) {
        Ok(()) => 0,
        Err(_) => 1,
    });
    // SAFETY: without CLONE_VM the sibling gets a copy of this (single-threaded) process's
    // memory, as after fork; it runs only `serve`, on its own copy of `stack`.
    unsafe {
        nix::sched::clone(
            serve,
            &mut stack,
            CloneFlags::CLONE_PARENT | CloneFlags::CLONE_FILES,
            None,
        )
    }?;
    idle()
}

fn polled_decoys() -> io::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::io::Read;
    use std::os::fd::AsFd;
    let listener = workbook_kit::listen()?;
    let mut conns: Vec<TcpStream> = Vec::new();
    loop {
        let mut fds = vec![PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        fds.extend(
            conns
                .iter()
                .map(|c| PollFd::new(c.as_fd(), PollFlags::POLLIN)),
        );
        poll(&mut fds, PollTimeout::NONE)?;
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        drop(fds);
        if ready[0] {
            let (stream, _) = listener.accept()?;
            // Safe: the decoy calls only async-signal-safe functions (pause).
            if let Ok(nix::unistd::ForkResult::Child) = unsafe { nix::unistd::fork() } {
                loop {
                    nix::unistd::pause();
                }
            }
            conns.push(stream);
        }
        let mut buf = [0u8; 64 * 1024];
        let mut closed = Vec::new();
        // Only the connections polled this round (one may have been accepted since).
        for (i, conn) in conns.iter_mut().enumerate().take(ready.len() - 1) {
            if !ready[i + 1] {
                continue;
            }
            // Bytes echoed as they come: enough for whole lines sent in one write.
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => closed.push(i),
                Ok(n) => conn.write_all(&buf[..n])?,
            }
        }
        for i in closed.into_iter().rev() {
            conns.remove(i);
        }
    }
}

/// Every fixed line the shared checks send; anything else gets `OK\n`.
fn canned(stream: TcpStream) -> io::Result<()> {
    const KNOWN: &[&[u8]] = &[
        b"hello, workbook\n",
        b"\n",
        b"before\n",
        b"after\n",
        b"first\n",
        b"second\n",
        b"still here\n",
        b"anyone there?\n",
        b"a normal line first\n",
        b"nul \0 in the middle\n",
        b"carriage\rreturn\n",
        b"invalid utf-8: \xff\xfe\xc3\x28\n",
        b"crlf ending\r\n",
    ];
    let mut reader = BufReader::new(&stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let reply: &[u8] = if KNOWN.contains(&&line[..]) {
            &line
        } else {
            b"OK\n"
        };
        (&stream).write_all(reply)?;
    }
}
