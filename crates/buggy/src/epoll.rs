//! Known-buggy epoll servers: one event loop, correct but for the one flaw each server turns
//! on (see [`Flaws`]), plus a server that gives each connection a thread.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::timerfd::{ClockId, TimerFd, TimerFlags};
use workbook_kit::event_loop::refuse_one;
use workbook_kit::{MAX_LINE, TOO_LONG};

use crate::Fails::{Exactly, Nothing, Own};
use crate::{Also, Bug, Sometimes};

pub const BUGS: &[Bug] = &[
    Bug {
        name: "epoll-written-differently",
        about: "correct, written differently from the reference: this corpus's own \
                level-triggered loop, with no flaw",
        arch: "epoll",
        fails: Nothing,
        says: "",
        alone: false,
        run: || serve(Flaws::NONE),
    },
    Bug {
        name: "epoll-poll-loop",
        about: "correct, with no epoll instance at all: one thread waits in poll(2) on the \
                listener and every connection, rebuilding the list each time round",
        arch: "epoll",
        fails: Nothing,
        says: "",
        alone: false,
        run: poll_loop,
    },
    Bug {
        name: "epoll-read-once",
        about: "edge-triggered, reads once (4 KiB) per wakeup and never drains the socket",
        arch: "epoll",
        // Unavoidable: every check that sends more than one 4 KiB read's worth at once
        // (1,000 pipelined lines, a 64 KiB line, 1 MiB, an endless line, 8 MiB) leaves bytes
        // in the socket that no new edge will announce.
        fails: Exactly(&[
            "partial-reads",
            "pipelined",
            "longest-line",
            "mebibyte",
            "too-long",
            "partial-writes",
        ]),
        says: "edge-triggered: read until WouldBlock",
        alone: false,
        run: || {
            serve(Flaws {
                read_once: Some(4096),
                ..Flaws::NONE
            })
        },
    },
    Bug {
        name: "epoll-read-once-64k",
        about: "edge-triggered, reads once (64 KiB) per wakeup and never drains the socket",
        arch: "epoll",
        // Only a client that writes faster than one 64 KiB read per wakeup takes leaves
        // bytes behind: the one that sends 8 MiB always does; the one that sends 1 MiB
        // while it reads does on most runs, not all (see SOMETIMES).
        fails: Exactly(&["partial-writes"]),
        says: "edge-triggered: read until WouldBlock",
        alone: false,
        run: || {
            serve(Flaws {
                read_once: Some(64 * 1024),
                ..Flaws::NONE
            })
        },
    },
    Bug {
        name: "epoll-always-epollout",
        about: "level-triggered, keeps every connection registered for EPOLLOUT, so it spins",
        arch: "epoll",
        // Alone: it spins a core whenever a client is connected.
        fails: Exactly(&["emfile"]),
        says: "asks for EPOLLOUT while it has nothing to write",
        alone: true,
        run: || {
            serve(Flaws {
                always_epollout: true,
                ..Flaws::NONE
            })
        },
    },
    Bug {
        name: "epoll-accept-batch",
        about: "edge-triggered listener, accepts at most 16 connections per wakeup",
        arch: "epoll",
        fails: Exactly(&["accept-burst"]),
        says: "left waiting in the listen queue",
        alone: false,
        run: || {
            serve(Flaws {
                accept_batch: true,
                ..Flaws::NONE
            })
        },
    },
    Bug {
        name: "epoll-fragment-echo",
        about: "echoes whatever a read returns, without waiting for the end of the line",
        arch: "epoll",
        // As `byte-echo`: echoing bytes as they come also echoes the fragment dropped at EOF
        // and the over-long line.
        fails: Exactly(&["byte-by-byte", "half-close", "too-long"]),
        says: "expected nothing back before the `\\n`",
        alone: false,
        run: || {
            serve(Flaws {
                fragment_echo: true,
                ..Flaws::NONE
            })
        },
    },
    Bug {
        name: "epoll-shared-buffer",
        about: "keeps one unfinished-line buffer for all connections",
        arch: "epoll",
        // Unavoidable: `partial-writes` and `backpressure` also serve a second client while
        // a first one's unfinished line sits in the buffer (their lines are long, so a read
        // ending exactly at a line's end, which would hide the bug, is very unlikely).
        fails: Exactly(&["partial-reads", "partial-writes", "backpressure"]),
        says: "were mixed",
        alone: false,
        run: || {
            serve(Flaws {
                shared_line: true,
                ..Flaws::NONE
            })
        },
    },
    Bug {
        name: "epoll-blocking-writes",
        about: "never makes its sockets non-blocking, so a write to a slow reader blocks the loop",
        arch: "epoll",
        // `backpressure` also has a second client wait on the blocked loop.
        fails: Exactly(&["partial-writes", "backpressure"]),
        says: "must not hold up the others",
        alone: false,
        run: || {
            serve(Flaws {
                blocking: true,
                ..Flaws::NONE
            })
        },
    },
    Bug {
        name: "epoll-unbounded-output",
        about: "keeps reading from a client that reads nothing, buffering its echoes without bound",
        arch: "epoll",
        fails: Exactly(&["backpressure"]),
        says: "kept reading from a client whose echoes pile up",
        alone: false,
        run: || {
            serve(Flaws {
                unbounded: true,
                ..Flaws::NONE
            })
        },
    },
    Bug {
        name: "epoll-leak-on-reset",
        about: "when a read fails (a reset), stops watching the socket but never closes it",
        arch: "epoll",
        fails: Exactly(&["closed-peers"]),
        says: "descriptors leaked",
        alone: false,
        run: || {
            serve(Flaws {
                leak_on_error: true,
                ..Flaws::NONE
            })
        },
    },
    Bug {
        name: "epoll-timer-leak-on-reset",
        about: "gives every connection a timer descriptor, and when a read fails (a reset) \
                closes the socket but never the timer",
        arch: "epoll",
        fails: Exactly(&["closed-peers"]),
        says: "not sockets of connections",
        alone: false,
        run: || {
            serve(Flaws {
                leak_timer_on_error: true,
                ..Flaws::NONE
            })
        },
    },
    Bug {
        name: "epoll-emfile-spin",
        about: "treats a failed accept (EMFILE) as an empty queue, so the ready listener spins",
        arch: "epoll",
        // Alone: it spins a core at full speed for as long as it is out of descriptors.
        fails: Exactly(&["emfile"]),
        says: "spinning on an accept",
        alone: true,
        run: || {
            serve(Flaws {
                spin_on_emfile: true,
                ..Flaws::NONE
            })
        },
    },
    Bug {
        name: "epoll-fixed-table",
        about: "keeps connections in a fixed table of 512 and turns away the rest",
        arch: "epoll",
        fails: Exactly(&["thousand-clients"]),
        says: "with 512 other clients connected",
        alone: false,
        run: || {
            serve(Flaws {
                table: Some(512),
                ..Flaws::NONE
            })
        },
    },
    Bug {
        name: "epoll-eager-buffers",
        about: "gives every connection its own 64 KiB read buffer, zeroed, when it is accepted",
        arch: "epoll",
        fails: Exactly(&["idle-memory"]),
        says: "KiB per connection",
        alone: false,
        run: || {
            serve(Flaws {
                eager_buffers: Some(64 * 1024),
                ..Flaws::NONE
            })
        },
    },
    Bug {
        name: "epoll-thread-per-connection",
        about: "an accept loop that gives each connection a thread (with a 64 KiB buffer)",
        arch: "epoll",
        // A thread per connection also costs its stack: with a 64 KiB buffer on it, far
        // more than an idle connection may.
        fails: Own("single-thread"),
        says: "2 threads",
        alone: false,
        run: thread_per_connection,
    },
];

/// Every failure of a server that leaves input unread names the cause, not only the first.
pub const ALSO: &[Also] = &[
    Also {
        bug: "epoll-read-once",
        check: "pipelined",
        says: "edge-triggered: read until WouldBlock",
    },
    Also {
        bug: "epoll-read-once",
        check: "too-long",
        says: "edge-triggered: read until WouldBlock",
    },
];

/// A 64 KiB read per wakeup keeps up with a client that sends 1 MiB while it reads on some
/// runs (CI saw `mebibyte` pass once): each arrival makes a new edge, and most arrivals are
/// smaller than one read.
pub const SOMETIMES: &[Sometimes] = &[Sometimes {
    bug: "epoll-read-once-64k",
    check: "mebibyte",
    says: "edge-triggered: read until WouldBlock",
}];

/// What is wrong with one server; all false is a correct server.
#[derive(Clone, Copy)]
pub(crate) struct Flaws {
    /// Connections registered once with `EPOLLET`; one read of this many bytes per event.
    read_once: Option<usize>,
    /// The listener registered with `EPOLLET`; at most [`ACCEPT_BATCH`] accepts per event (a
    /// fairness limit that is harmless with level-triggered epoll, and strands the rest of
    /// a burst with edge-triggered).
    accept_batch: bool,
    /// Each read's bytes are echoed at once, line or not.
    fragment_echo: bool,
    /// One unfinished-line buffer for every connection.
    shared_line: bool,
    /// Sockets left blocking: one read per (level-triggered) event, and writes block.
    blocking: bool,
    /// No bound on output waiting for a client: reading never pauses.
    unbounded: bool,
    /// A connection whose read fails is removed from epoll and forgotten, not closed.
    leak_on_error: bool,
    /// Every connection has a timer descriptor (an idle deadline, say), forgotten, not
    /// closed, when its read fails; its socket is closed.
    leak_timer_on_error: bool,
    /// Every accept error ends the accept loop as `WouldBlock` would.
    spin_on_emfile: bool,
    /// At most this many connections; the others are closed at once.
    table: Option<usize>,
    /// A read buffer of its own, this large, for every connection, filled with zeros up front.
    eager_buffers: Option<usize>,
    /// Every connection registered for `EPOLLOUT` (level-triggered), output or not.
    always_epollout: bool,
}

impl Flaws {
    pub(crate) const NONE: Flaws = Flaws {
        read_once: None,
        accept_batch: false,
        fragment_echo: false,
        shared_line: false,
        blocking: false,
        unbounded: false,
        leak_on_error: false,
        leak_timer_on_error: false,
        spin_on_emfile: false,
        table: None,
        eager_buffers: None,
        always_epollout: false,
    };

    /// Correct but for a read buffer of `size` bytes given to every connection up front.
    pub(crate) const fn eager_buffers(size: usize) -> Flaws {
        Flaws {
            eager_buffers: Some(size),
            ..Flaws::NONE
        }
    }
}

const MAX_UNSENT: usize = 256 * 1024;
const ACCEPT_BATCH: usize = 16;
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 4 << 20;

struct Conn {
    stream: TcpStream,
    line: Vec<u8>,
    unsent: Vec<u8>,
    /// The connection's own read buffer (`epoll-eager-buffers`), or empty.
    buf: Vec<u8>,
    /// Its timer (`epoll-timer-leak-on-reset`), never armed: it only holds a descriptor.
    timer: Option<TimerFd>,
    /// EOF seen: flush, then close.
    closing: bool,
    /// After ERR line too long: the deadline and the bytes discarded so far.
    linger: Option<(Instant, usize)>,
    interest: EpollFlags,
}

impl Conn {
    /// A new connection, with no buffer of its own and watched for `interest`.
    fn new(stream: TcpStream, interest: EpollFlags) -> Conn {
        Conn {
            stream,
            line: Vec::new(),
            unsent: Vec::new(),
            buf: Vec::new(),
            timer: None,
            closing: false,
            linger: None,
            interest,
        }
    }

    fn wants_read(&self, flaws: &Flaws) -> bool {
        !self.closing
            && (self.linger.is_some() || flaws.unbounded || self.unsent.len() < MAX_UNSENT)
    }

    fn done(&self) -> bool {
        (self.closing && self.unsent.is_empty())
            || self.linger.is_some_and(|(_, n)| n >= LINGER_BYTES)
    }
}

/// What the loops of a multi-reactor made of this corpus's loop share, wrongly: nothing, in
/// a correct one.
#[derive(Clone, Default)]
pub(crate) struct Together {
    /// Held while an event is handled (`multi-reactor-global-lock`).
    pub lock: Option<Arc<Mutex<()>>>,
    /// Where every connection is registered too (`multi-reactor-two-loops`).
    pub neighbour: Option<Arc<Epoll>>,
}

pub(crate) struct Loop {
    flaws: Flaws,
    together: Together,
    listener: TcpListener,
    epoll: Arc<Epoll>,
    conns: HashMap<u64, Conn>,
    next: u64,
    reserve: Option<File>,
    shared_line: Vec<u8>,
    buf: Vec<u8>,
}

fn serve(flaws: Flaws) -> io::Result<()> {
    let listener = workbook_kit::listen()?;
    let epoll = Arc::new(Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?);
    run(listener, epoll, flaws, Together::default())
}

/// One loop over `listener`, in `epoll`: the whole epoll server, or one loop of many.
pub(crate) fn run(
    listener: TcpListener,
    epoll: Arc<Epoll>,
    flaws: Flaws,
    together: Together,
) -> io::Result<()> {
    let mut lp = Loop::new(listener, epoll, flaws, together)?;
    let mut events = vec![EpollEvent::empty(); 256];
    loop {
        lp.turn(&mut events, None)?;
    }
}

impl Loop {
    /// A loop over `listener`, which it adds to `epoll`.
    pub(crate) fn new(
        listener: TcpListener,
        epoll: Arc<Epoll>,
        flaws: Flaws,
        together: Together,
    ) -> io::Result<Loop> {
        listener.set_nonblocking(true)?;
        let mut flags = EpollFlags::EPOLLIN;
        if flaws.accept_batch {
            flags |= EpollFlags::EPOLLET;
        }
        epoll.add(&listener, EpollEvent::new(flags, 0))?;
        Ok(Loop {
            flaws,
            together,
            listener,
            epoll,
            conns: HashMap::new(),
            next: 1,
            reserve: Some(File::open("/dev/null")?),
            shared_line: Vec::new(),
            buf: vec![0; flaws.read_once.unwrap_or(64 * 1024)],
        })
    }

    /// One time round: waits (for ever, or at most `longest` ms), handles what is ready,
    /// and closes the lingering connections whose time is up.
    pub(crate) fn turn(
        &mut self,
        events: &mut [EpollEvent],
        longest: Option<u16>,
    ) -> io::Result<()> {
        let lingering = self.conns.values().any(|c| c.linger.is_some());
        let timeout = match (lingering, longest) {
            (true, longest) => EpollTimeout::from(longest.unwrap_or(100).min(100)),
            (false, Some(ms)) => EpollTimeout::from(ms),
            (false, None) => EpollTimeout::NONE,
        };
        let n = match self.epoll.wait(events, timeout) {
            Ok(n) => n,
            Err(Errno::EINTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for event in &events[..n] {
            match event.data() {
                0 => self.accept(),
                token => self.ready(token, event.events()),
            }
        }
        let now = Instant::now();
        let expired: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| c.linger.is_some_and(|(until, _)| until <= now))
            .map(|(&t, _)| t)
            .collect();
        for token in expired {
            self.close(token);
        }
        Ok(())
    }

    fn accept(&mut self) {
        for accepted in 1.. {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if self.flaws.table.is_some_and(|max| self.conns.len() >= max) {
                        drop(stream); // the table is full
                    } else {
                        self.register(stream);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // The bug of `epoll-emfile-spin`: EMFILE leaves the listener ready.
                Err(_) if self.flaws.spin_on_emfile => return,
                Err(e) if e.raw_os_error() == Some(Errno::EMFILE as i32) => {
                    // The kit's, which copes with the loops of a multi-reactor taking the
                    // descriptor one of them gave back.
                    if !refuse_one(&self.listener, &mut self.reserve) {
                        return;
                    }
                }
                Err(e) => {
                    eprintln!("accept: {e}");
                    return;
                }
            }
            // The bug of `epoll-accept-batch`.
            if self.flaws.accept_batch && accepted == ACCEPT_BATCH {
                return;
            }
        }
    }

    fn register(&mut self, stream: TcpStream) {
        let token = self.next;
        self.next += 1;
        let interest = if self.flaws.read_once.is_some() {
            EpollFlags::EPOLLIN
                | EpollFlags::EPOLLOUT
                | EpollFlags::EPOLLRDHUP
                | EpollFlags::EPOLLET
        } else if self.flaws.always_epollout {
            EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT
        } else {
            EpollFlags::EPOLLIN
        };
        if stream.set_nonblocking(!self.flaws.blocking).is_err()
            || self
                .epoll
                .add(&stream, EpollEvent::new(interest, token))
                .is_err()
        {
            return;
        }
        // The bug of `multi-reactor-two-loops`: the next loop watches it too (and, not
        // knowing its token, ignores what it hears).
        if let Some(neighbour) = &self.together.neighbour {
            let _ = neighbour.add(&stream, EpollEvent::new(interest, u64::MAX - token));
        }
        let mut conn = Conn::new(stream, interest);
        // The bug of `epoll-eager-buffers`: 64 KiB of memory for a connection that may never
        // send a byte (`multi-reactor-4k-buffers`: 4 KiB).
        if let Some(size) = self.flaws.eager_buffers {
            conn.buf.resize(size, 0);
        }
        if self.flaws.leak_timer_on_error {
            conn.timer = TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_CLOEXEC).ok();
        }
        self.conns.insert(token, conn);
    }

    fn ready(&mut self, token: u64, events: EpollFlags) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let mut own = std::mem::take(&mut conn.line);
        let line = if self.flaws.shared_line {
            &mut self.shared_line
        } else {
            &mut own
        };
        let mut own_buf = std::mem::take(&mut conn.buf);
        let buf = if own_buf.is_empty() {
            &mut self.buf
        } else {
            &mut own_buf
        };
        let flaws = &self.flaws;
        // The bug of `multi-reactor-global-lock`: one lock for every loop, held while the
        // event is handled, and so while its lines' work is done.
        let guard = self.together.lock.as_ref().map(|l| l.lock());
        let result = handle(conn, line, buf, events, flaws);
        drop(guard);
        conn.line = own;
        conn.buf = own_buf;
        match result {
            Ok(()) if conn.done() => self.close(token),
            Ok(()) => {
                // Edge-triggered connections stay registered for both, once.
                if flaws.read_once.is_some() {
                    return;
                }
                let mut wanted = EpollFlags::empty();
                if conn.wants_read(flaws) {
                    wanted |= EpollFlags::EPOLLIN;
                }
                // The bug of `epoll-always-epollout`: writable is asked for with nothing to
                // write, and a socket with room in its send buffer is always writable.
                if !conn.unsent.is_empty() || flaws.always_epollout {
                    wanted |= EpollFlags::EPOLLOUT;
                }
                if wanted != conn.interest {
                    conn.interest = wanted;
                    let mut event = EpollEvent::new(wanted, token);
                    if self.epoll.modify(&conn.stream, &mut event).is_err() {
                        self.close(token);
                    }
                }
            }
            // The bug of `epoll-leak-on-reset`: the socket leaves the epoll set and the map,
            // but its descriptor is never closed.
            Err(_) if flaws.leak_on_error => {
                if let Some(conn) = self.conns.remove(&token) {
                    let _ = self.epoll.delete(&conn.stream);
                    std::mem::forget(conn);
                }
            }
            // The bug of `epoll-timer-leak-on-reset`: the socket is closed, its timer never.
            Err(_) if flaws.leak_timer_on_error => {
                std::mem::forget(conn.timer.take());
                self.close(token);
            }
            Err(_) => self.close(token),
        }
    }

    fn close(&mut self, token: u64) {
        if let Some(conn) = self.conns.remove(&token) {
            let _ = self.epoll.delete(&conn.stream);
        }
        // The unfinished line of a connection that ended is dropped, shared or not.
        self.shared_line.clear();
    }
}

fn handle(
    conn: &mut Conn,
    line: &mut Vec<u8>,
    buf: &mut [u8],
    events: EpollFlags,
    flaws: &Flaws,
) -> io::Result<()> {
    let trouble = events.intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP);
    if (trouble || events.contains(EpollFlags::EPOLLOUT)) && !conn.unsent.is_empty() {
        flush(conn)?;
    }
    if !(trouble || events.contains(EpollFlags::EPOLLIN)) {
        return Ok(());
    }
    // The bug of `epoll-read-once`: one read per edge-triggered event, unless the client has
    // closed (then it reads to the end). Blocking sockets may read only once per
    // level-triggered event, or the second read would block the loop.
    let closed = events.intersects(EpollFlags::EPOLLRDHUP) || trouble;
    let reads = match () {
        _ if flaws.read_once.is_some() && closed => usize::MAX,
        _ if flaws.read_once.is_some() || flaws.blocking => 1,
        _ => 4,
    };
    for _ in 0..reads {
        if !conn.wants_read(flaws) {
            break;
        }
        let n = match (&conn.stream).read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                line.clear();
                return Err(e);
            }
        };
        if n == 0 {
            line.clear();
            conn.closing = true;
            break;
        }
        received(conn, line, &buf[..n], flaws)?;
    }
    Ok(())
}

fn received(conn: &mut Conn, line: &mut Vec<u8>, bytes: &[u8], flaws: &Flaws) -> io::Result<()> {
    if let Some((_, discarded)) = &mut conn.linger {
        *discarded += bytes.len();
        return Ok(());
    }
    // The bug of `epoll-fragment-echo`.
    if flaws.fragment_echo {
        return send(conn, bytes, flaws);
    }
    let mut rest = bytes;
    while let Some(i) = rest.iter().position(|&b| b == b'\n') {
        if line.len() + i + 1 > MAX_LINE {
            return too_long(conn, line, flaws);
        }
        line.extend_from_slice(&rest[..=i]);
        workbook_kit::work(line);
        send(conn, line, flaws)?;
        line.clear();
        rest = &rest[i + 1..];
    }
    if line.len() + rest.len() >= MAX_LINE {
        return too_long(conn, line, flaws);
    }
    line.extend_from_slice(rest);
    Ok(())
}

fn too_long(conn: &mut Conn, line: &mut Vec<u8>, flaws: &Flaws) -> io::Result<()> {
    line.clear();
    conn.linger = Some((Instant::now() + LINGER, 0));
    send(conn, TOO_LONG, flaws)?;
    if conn.unsent.is_empty() {
        conn.stream.shutdown(Shutdown::Write)?;
    }
    Ok(())
}

fn send(conn: &mut Conn, bytes: &[u8], flaws: &Flaws) -> io::Result<()> {
    // The bug of `epoll-blocking-writes`: a blocking socket waits for a slow reader.
    if flaws.blocking {
        return (&conn.stream).write_all(bytes);
    }
    let mut rest = bytes;
    if conn.unsent.is_empty() {
        rest = &rest[write_some(&conn.stream, rest)?..];
    }
    conn.unsent.extend_from_slice(rest);
    Ok(())
}

fn flush(conn: &mut Conn) -> io::Result<()> {
    while !conn.unsent.is_empty() {
        let n = write_some(&conn.stream, &conn.unsent)?;
        if n == 0 {
            return Ok(());
        }
        conn.unsent.drain(..n);
    }
    if conn.linger.is_some() {
        conn.stream.shutdown(Shutdown::Write)?;
    }
    Ok(())
}

fn write_some(stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    if bytes.is_empty() {
        return Ok(0);
    }
    loop {
        match (&*stream).write(bytes) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `epoll-poll-loop`: this corpus's level-triggered loop, waiting in `poll` instead of
/// `epoll_wait`. What the chapter asks of an event loop (one thread, non-blocking sockets,
/// partial reads and writes, backpressure) holds; only the system call differs.
fn poll_loop() -> io::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;

    let listener = workbook_kit::listen()?;
    listener.set_nonblocking(true)?;
    let flaws = Flaws::NONE;
    let mut conns: Vec<Conn> = Vec::new();
    let mut reserve = Some(File::open("/dev/null")?);
    let mut buf = vec![0; 64 * 1024];
    loop {
        let mut fds = vec![PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        fds.extend(conns.iter().map(|c| {
            let mut wanted = PollFlags::empty();
            if c.wants_read(&flaws) {
                wanted |= PollFlags::POLLIN;
            }
            if !c.unsent.is_empty() {
                wanted |= PollFlags::POLLOUT;
            }
            PollFd::new(c.stream.as_fd(), wanted)
        }));
        let lingering = conns.iter().any(|c| c.linger.is_some());
        let timeout = if lingering {
            PollTimeout::from(100u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let got: Vec<PollFlags> = fds
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect();
        drop(fds);
        let now = Instant::now();
        let mut kept = Vec::with_capacity(conns.len());
        for (mut conn, &revents) in conns.into_iter().zip(&got[1..]) {
            let mut events = EpollFlags::empty();
            for (p, e) in [
                (PollFlags::POLLIN, EpollFlags::EPOLLIN),
                (PollFlags::POLLOUT, EpollFlags::EPOLLOUT),
                (PollFlags::POLLERR, EpollFlags::EPOLLERR),
                (PollFlags::POLLHUP, EpollFlags::EPOLLHUP),
            ] {
                if revents.contains(p) {
                    events |= e;
                }
            }
            let mut line = std::mem::take(&mut conn.line);
            let result = handle(&mut conn, &mut line, &mut buf, events, &flaws);
            conn.line = line;
            let expired = conn.linger.is_some_and(|(until, _)| until <= now);
            if result.is_ok() && !conn.done() && !expired {
                kept.push(conn);
            }
        }
        conns = kept;
        if got[0].contains(PollFlags::POLLIN) {
            loop {
                match listener.accept() {
                    Ok((stream, _)) if stream.set_nonblocking(true).is_ok() => {
                        conns.push(Conn::new(stream, EpollFlags::empty()));
                    }
                    Ok(_) => {}
                    Err(e) if e.raw_os_error() == Some(Errno::EMFILE as i32) => {
                        if !refuse_one(&listener, &mut reserve) {
                            break;
                        }
                    }
                    Err(_) => break, // WouldBlock: every waiting client is in
                }
            }
        }
    }
}

/// `epoll-thread-per-connection`: no event loop at all, a thread per connection.
fn thread_per_connection() -> io::Result<()> {
    let listener = workbook_kit::listen()?;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let spawned = std::thread::Builder::new().spawn(move || {
                    // A read buffer on the thread's stack, as such servers often have.
                    let buf = [0u8; 64 * 1024];
                    std::hint::black_box(&buf);
                    let _ = solution_iterative::handle_connection(stream);
                });
                if let Err(e) = spawned {
                    eprintln!("spawn: {e}");
                }
            }
            // Out of descriptors, say: wait a little rather than spin.
            Err(e) => {
                eprintln!("accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
