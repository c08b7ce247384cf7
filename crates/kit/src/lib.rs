//! What every workbook server shares: the contract's constants, the start-up ritual, and
//! what an accept loop needs when the process runs out of descriptors.
//!
//! Each architecture's `src/main.rs` is three lines: [`listen`] (or [`start`], for a server
//! with a pool, or [`start_with`], for one with several listeners) parses the command line,
//! binds, announces; then the architecture's own
//! `serve` takes the listener. [`work`] is the CPU cost of a line that `--work` asks for. Keeping this here means
//! every server starts the same way, so the grader can treat them all alike, and the exercises
//! are only about the part that differs: how connections are served.
//!
//! The contract itself is the book's chapter "The contract" (`book/src/contract.md`).

#[cfg(feature = "event-loop")]
pub mod event_loop;

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::time::TimeSpec;
use nix::time::{clock_gettime, ClockId};

use socket2::{Domain, Socket, Type};

/// The longest line a server must accept, its `\n` included (contract: "The line limit").
pub const MAX_LINE: usize = 65_536;

/// What a server sends before closing a connection whose line can no longer fit.
pub const TOO_LONG: &[u8] = b"ERR line too long\n";

/// Where a server listens when it is started without an argument.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7878";

/// How many connections the kernel may queue before `accept` takes them.
///
/// std's `TcpListener::bind` asks for 128, and a burst of connects beyond that is dropped and
/// retried by the clients a second or more later. 4,096 is this machine's `somaxconn`, the
/// kernel's own cap, so asking for more would change nothing.
pub const BACKLOG: i32 = 4_096;

// ANCHOR: out_of_descriptors
/// The process (`EMFILE`) or the system (`ENFILE`) has no descriptor left.
pub fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// How long an accept loop that blocks pauses when `accept` fails for lack of descriptors.
///
/// The connection stays in the listen queue, so accepting again at once fails again at once:
/// without a pause the loop spins at full speed until a client leaves. A tenth of a second
/// costs ten failed accepts a second and delays a new client by as much once a descriptor is
/// free (HAProxy pauses 100 ms, nginx 500 ms).
pub const OUT_OF_DESCRIPTORS_PAUSE: Duration = Duration::from_millis(100);
// ANCHOR_END: out_of_descriptors

/// What the command line asks of a server (contract: "Starting"):
/// `PROGRAM [ARGS...] [--workers N] [--work MICROS] [ADDR]`, where `ARGS` are the program's
/// own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Where to listen: the one argument that is not an option, or [`DEFAULT_ADDR`].
    pub addr: SocketAddr,
    /// The size of a pool (prefork's and the thread pool's workers, offload's worker
    /// threads); [`DEFAULT_WORKERS`] without `--workers`. Architectures without a pool ignore it.
    pub workers: usize,
    /// The CPU time each complete line costs before its echo is sent (`--work MICROS`,
    /// default 0): [`work`] spends it.
    pub work: Duration,
}

/// The pool size without `--workers`.
pub const DEFAULT_WORKERS: usize = 4;

impl Options {
    /// Parses the arguments after the program's name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> io::Result<Options> {
        let mut args = args.into_iter();
        let (mut addr, mut workers, mut work) = (None, DEFAULT_WORKERS, Duration::ZERO);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| invalid(format!("{name} needs a number after it")))
            };
            match arg.as_str() {
                "--workers" => {
                    workers = number(&value("--workers")?, "--workers")?;
                    if workers == 0 {
                        return Err(invalid("--workers must be at least 1".into()));
                    }
                }
                "--work" => work = Duration::from_micros(number(&value("--work")?, "--work")?),
                flag if flag.starts_with("--") => {
                    return Err(invalid(format!(
                        "unknown option {flag:?}; expected [--workers N] [--work MICROS] [ADDR]"
                    )))
                }
                // The last plain argument is the address; any before it are the program's
                // own (contract: "Starting"), as the buggy servers' names are.
                _ => addr = Some(arg),
            }
        }
        Ok(Options {
            addr: listen_addr(addr)?,
            workers,
            work,
        })
    }
}

fn number<T: std::str::FromStr>(text: &str, name: &str) -> io::Result<T> {
    text.parse()
        .map_err(|_| invalid(format!("{name} takes a whole number, got {text:?}")))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Parses the command line ([`Options`]), binds with a backlog of [`BACKLOG`], and
/// announces `listening on ADDR` on stdout.
///
/// The announcement carries the port the kernel really chose, so `127.0.0.1:0` works: that is
/// how the grader runs many servers at once without port clashes.
///
/// A wrong command line is the user's mistake, not the server's: it is said in one line on
/// stderr, with the usage, and the process exits with status 2, as command-line tools do.
pub fn start() -> io::Result<(TcpListener, Options)> {
    let (mut listeners, options) = start_with(|options| Ok(vec![bind(options.addr)?]))?;
    Ok((listeners.swap_remove(0), options))
}

/// [`start`], for a server that listens on several sockets: `bind` makes them from the
/// options (the multi-reactor binds one per loop, all on one port), and the first one's
/// address is announced once they all listen.
pub fn start_with(
    bind: impl FnOnce(&Options) -> io::Result<Vec<TcpListener>>,
) -> io::Result<(Vec<TcpListener>, Options)> {
    let options = Options::parse(std::env::args().skip(1)).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    WORK_NANOS.store(options.work.as_nanos() as u64, Ordering::Relaxed);
    let listeners = bind(&options)?;
    let first = listeners
        .first()
        .ok_or_else(|| io::Error::other("no listener to announce"))?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {}", first.local_addr()?)?;
    // stdout is a pipe under the grader; say it now, not when a buffer fills.
    stdout.flush()?;
    Ok((listeners, options))
}

/// [`start`], for a server that has no pool: only the listener (`--workers` is accepted and
/// ignored, `--work` is still honoured by [`work`]).
pub fn listen() -> io::Result<TcpListener> {
    start().map(|(listener, _)| listener)
}

/// The `--work` of this run, in nanoseconds: set once by [`start`], read by [`work`].
static WORK_NANOS: AtomicU64 = AtomicU64::new(0);

// ANCHOR: work
/// Spends, on the calling thread, the CPU time that the complete lines in `lines` cost
/// (`--work` for each `\n`; nothing unless asked for), before their echoes are sent.
///
/// A busy loop on the thread's own CPU clock, not a sleep: a sleeping thread leaves the CPU to
/// others, while real request handling (parsing, compressing, hashing) keeps it. That
/// difference is the whole point of the pools' and offload's lessons, and measuring thread
/// CPU time means a thread that is preempted still does all of its work.
pub fn work(lines: &[u8]) {
    let per_line = WORK_NANOS.load(Ordering::Relaxed);
    if per_line == 0 {
        return;
    }
    let nanos = per_line * lines.iter().filter(|&&b| b == b'\n').count() as u64;
    let clock = ClockId::CLOCK_THREAD_CPUTIME_ID;
    let Ok(begun) = clock_gettime(clock) else {
        return;
    };
    let until = begun + TimeSpec::from(Duration::from_nanos(nanos));
    while clock_gettime(clock).is_ok_and(|now| now < until) {
        std::hint::spin_loop();
    }
}
// ANCHOR_END: work

/// The address to listen on: the argument if there is one, else [`DEFAULT_ADDR`].
pub fn listen_addr(arg: Option<String>) -> io::Result<SocketAddr> {
    let text = arg.as_deref().unwrap_or(DEFAULT_ADDR);
    text.parse().map_err(|_| {
        invalid(format!(
            "expected an address such as {DEFAULT_ADDR}, got {text:?}"
        ))
    })
}

/// Binds `addr` with `SO_REUSEADDR` (so a restarted server need not wait out TIME_WAIT) and
/// listens with a backlog of [`BACKLOG`].
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    bind_socket(addr, false)
}

// ANCHOR: bind_reuse_port
/// [`bind`], with `SO_REUSEPORT` as well: other sockets of this process that ask for it too
/// may bind the same address, and the kernel then deals each new connection to one of them,
/// by a hash of its addresses and ports. Every socket of the group must ask for it before it
/// binds, the first one included.
pub fn bind_reuse_port(addr: SocketAddr) -> io::Result<TcpListener> {
    bind_socket(addr, true)
}

// ANCHOR_END: bind_reuse_port

fn bind_socket(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_defaults_and_parses() {
        assert_eq!(listen_addr(None).unwrap().port(), 7878);
        assert_eq!(
            listen_addr(Some("127.0.0.1:0".into())).unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        let err = listen_addr(Some("nonsense".into())).unwrap_err();
        assert!(err.to_string().contains("nonsense"), "{err}");
    }

    #[test]
    fn options_come_before_the_address() {
        let parse = |args: &[&str]| Options::parse(args.iter().map(|a| a.to_string()));
        let plain = parse(&["127.0.0.1:0"]).unwrap();
        assert_eq!(
            (plain.workers, plain.work),
            (DEFAULT_WORKERS, Duration::ZERO)
        );
        let pool = parse(&["--workers", "3", "--work", "250", "127.0.0.1:0"]).unwrap();
        assert_eq!((pool.workers, pool.work), (3, Duration::from_micros(250)));
        assert_eq!(pool.addr.port(), 0);
        assert_eq!(parse(&["--workers", "2"]).unwrap().addr.port(), 7878);
        let own = parse(&["mine", "--work", "5", "127.0.0.1:9"]).unwrap();
        assert_eq!((own.addr.port(), own.work), (9, Duration::from_micros(5)));
        for (bad, says) in [
            (&["--workers"][..], "needs a number"),
            (&["--workers", "0"], "at least 1"),
            (&["--work", "lots"], "whole number"),
            (&["--threads", "2"], "unknown option"),
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn work_spends_cpu_time_not_wall_time() {
        WORK_NANOS.store(10_000_000, Ordering::Relaxed);
        let cpu = || clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).unwrap();
        let begun = cpu();
        work(b"two\nlines\nand a fragment");
        let spent = Duration::from(cpu() - begun);
        WORK_NANOS.store(0, Ordering::Relaxed);
        assert!(spent >= Duration::from_millis(20), "{spent:?}");
    }

    #[test]
    fn knows_when_descriptors_ran_out() {
        assert!(out_of_descriptors(&io::Error::from_raw_os_error(
            libc::EMFILE
        )));
        assert!(out_of_descriptors(&io::Error::from_raw_os_error(
            libc::ENFILE
        )));
        assert!(!out_of_descriptors(&io::Error::from_raw_os_error(
            libc::ECONNABORTED
        )));
    }

    #[test]
    fn sockets_that_reuse_the_port_share_it() {
        let first = bind_reuse_port("127.0.0.1:0".parse().unwrap()).unwrap();
        let second = bind_reuse_port(first.local_addr().unwrap()).unwrap();
        assert_eq!(first.local_addr().unwrap(), second.local_addr().unwrap());
        // A socket that did not ask for it cannot join.
        assert!(bind(first.local_addr().unwrap()).is_err());
    }

    #[test]
    fn bind_uses_the_large_backlog() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_ne!(listener.local_addr().unwrap().port(), 0);
    }
}
