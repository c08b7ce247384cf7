//! One client's connection: its buffers, its state, and what it waits for.
//!
//! A non-blocking read returns whatever has arrived: part of a line, many lines, lines and a
//! part. A non-blocking write takes what fits in the socket's buffer: maybe all, maybe some,
//! maybe nothing. So each connection keeps two buffers, and both are its own:
//!
//! - `line`: the bytes after the last `\n` seen, waiting for the rest of their line;
//! - `unsent`: echoes the socket did not take yet, sent when epoll says it is writable.
//!
//! Both are empty, holding no memory, while the connection is idle: they fill only while a
//! line is half-received or the client is slow to read.

use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollEvent, EpollFlags};
#[allow(unused_imports)] // yours to use in `on_readable`, `send` and `on_writable`
use workbook_kit::event_loop::{interrupted, would_block, write_some};
use workbook_kit::{MAX_LINE, TOO_LONG};

/// The size of the loop's scratch buffer, which every read lands in. No larger than
/// [`MAX_LINE`], so a line that begins and ends within one read is never too long.
pub const SCRATCH: usize = 64 * 1024;
const _: () = assert!(SCRATCH <= MAX_LINE);

/// Reads per readable event, at most: a client that sends without pause must not keep the
/// loop from the others. Level-triggered epoll reports what is left on the next wait.
pub const READS_PER_EVENT: usize = 4;

/// Backpressure: once this much output waits for a client, stop reading from it until it
/// has taken some. Without a bound, a client that sends and never reads makes the server
/// buffer its echoes without end.
pub const MAX_UNSENT: usize = 256 * 1024;

/// How long a connection drains its input after `ERR line too long`, at most...
pub const LINGER_TIME: Duration = Duration::from_secs(2);
/// ...and how many bytes it drains, at most.
pub const LINGER_BYTES: usize = 4 << 20;

/// One client's connection.
#[derive(Debug)]
pub struct Connection {
    /// The socket, non-blocking.
    stream: TcpStream,
    /// The unfinished line: what arrived since the last `\n`. Holds no memory between lines.
    line: Vec<u8>,
    /// Echoes the socket has not taken yet, oldest first. Holds no memory once all are sent.
    unsent: VecDeque<u8>,
    state: State,
    /// What the epoll set is asked to report for this socket now (`EPOLLIN`, `EPOLLOUT`).
    interest: EpollFlags,
    /// Reading waits until the lines already read are echoed: set by a loop that hands lines
    /// to other threads (the offload solution's), never by this crate's own loop.
    held: bool,
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Reading lines and echoing them.
    Open,
    /// After `ERR line too long`: our write side is shut (once the ERR is out), and what the
    /// client still sends is read and thrown away, so that closing does not reset the
    /// connection before the client has read the ERR. Ends at EOF, at the byte cap, or
    /// when the loop's deadline for it passes.
    Lingering { until: Instant, discarded: usize },
    /// Nothing more will be read (the client sent EOF): send what is owed, then close.
    Closing,
}

impl Connection {
    /// Makes `stream` non-blocking and adds it to `epoll` under `token`, waiting to read.
    pub fn new(stream: TcpStream, epoll: &Epoll, token: u64) -> io::Result<Connection> {
        stream.set_nonblocking(true)?;
        let interest = EpollFlags::EPOLLIN;
        epoll.add(&stream, EpollEvent::new(interest, token))?;
        Ok(Connection {
            stream,
            line: Vec::new(),
            unsent: VecDeque::new(),
            state: State::Open,
            interest,
            held: false,
        })
    }

    /// The socket, for the epoll set.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Whether to read: not after EOF, not while too many echoes wait (backpressure), and
    /// not while held. A lingering connection reads whatever waits, to throw it away.
    pub fn wants_read(&self) -> bool {
        match self.state {
            State::Open => !self.held && self.unsent.len() < MAX_UNSENT,
            State::Lingering { .. } => true,
            State::Closing => false,
        }
    }

    /// Whether there is output the socket has not taken yet.
    pub fn wants_write(&self) -> bool {
        !self.unsent.is_empty()
    }

    /// Whether the connection should be closed now.
    pub fn is_done(&self) -> bool {
        match self.state {
            State::Open => false,
            State::Lingering { discarded, .. } => discarded >= LINGER_BYTES,
            State::Closing => self.unsent.is_empty(),
        }
    }

    /// When to give up lingering, if the connection is lingering.
    pub fn linger_deadline(&self) -> Option<Instant> {
        match self.state {
            State::Lingering { until, .. } => Some(until),
            _ => None,
        }
    }

    /// Asks epoll for what the connection wants now, if that changed: `EPOLLOUT` only while
    /// output waits (a socket is writable nearly always, so asking for it otherwise would wake
    /// the loop for nothing), `EPOLLIN` only while reading is wanted (level-triggered epoll
    /// would otherwise keep reporting input we have decided not to read: a busy loop).
    pub fn update_interest(&mut self, epoll: &Epoll, token: u64) -> io::Result<()> {
        let mut wanted = EpollFlags::empty();
        if self.wants_read() {
            wanted |= EpollFlags::EPOLLIN;
        }
        if self.wants_write() {
            wanted |= EpollFlags::EPOLLOUT;
        }
        if wanted != self.interest {
            epoll.modify(&self.stream, &mut EpollEvent::new(wanted, token))?;
            self.interest = wanted;
        }
        Ok(())
    }

    /// Holds reading back until [`release`](Connection::release): what the loop does while
    /// the lines it has taken are worked on elsewhere, so that their echoes keep their order.
    pub fn hold(&mut self) {
        self.held = true;
    }

    /// Reading may go on: the held lines' echoes are back.
    pub fn release(&mut self) {
        self.held = false;
    }

    /// Whether reading is held back.
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// Calls the handlers for what `events` says is ready: writing first, since sending
    /// echoes makes room to read more. `complete` is what the loop does with complete lines.
    pub fn on_event(
        &mut self,
        events: EpollFlags,
        scratch: &mut [u8],
        complete: impl FnMut(&mut Connection, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        // An error or a hang-up is reported whatever we asked for. A read or a write is what
        // tells us which (EOF, or the error itself), so treat it as both readable and writable.
        let trouble = events.intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP);
        if (trouble || events.contains(EpollFlags::EPOLLOUT)) && self.wants_write() {
            self.on_writable()?;
        }
        if (trouble || events.contains(EpollFlags::EPOLLIN)) && self.wants_read() {
            self.on_readable(scratch, complete)?;
        }
        Ok(())
    }

    /// The socket is readable: read what has arrived (within a budget), hand each run of
    /// complete lines to `complete`, in order, and keep the unfinished line.
    ///
    /// Graded by: `one-line`, `pipelined`, `byte-by-byte`, `line-then-fragment`, `binary`,
    /// `empty-lines`, `longest-line`, `half-close`, `too-long`, `partial-reads`,
    /// `thousand-clients`.
    pub fn on_readable(
        &mut self,
        scratch: &mut [u8],
        complete: impl FnMut(&mut Connection, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        // TODO: read into `scratch` (with `std::io::Read`, which `&TcpStream` implements)
        // until WouldBlock, at most READS_PER_EVENT times, and no more once
        // `self.wants_read()` turns false (backpressure). Book: "Partial reads".
        // TODO: a read of 0 bytes is EOF: drop the unfinished line, go to `State::Closing`.
        // TODO: while `State::Lingering`, add what you read to `discarded`, and nothing more.
        // TODO: otherwise, complete `self.line` with the bytes up to the first `\n` and hand
        // it to `complete(self, &line)`; then the complete lines after it, in one call; keep
        // what follows the last `\n` in `self.line`. (The loop passes `echo`, which sends.) A line of more than MAX_LINE bytes, or MAX_LINE bytes with no `\n`
        // yet, means `self.too_long()`. Book: "Partial reads", "Too long, in a loop".
        todo!(
            "hand the lines read from {:?} through a scratch buffer of {} bytes to {} (book: \
             epoll.md, \"Partial reads\")",
            self.stream,
            scratch.len(),
            std::any::type_name_of_val(&complete)
        )
    }

    /// Answers `ERR line too long` and begins the lingering close.
    pub fn too_long(&mut self) -> io::Result<()> {
        self.line = Vec::new();
        self.state = State::Lingering {
            until: Instant::now() + LINGER_TIME,
            discarded: 0,
        };
        self.send(TOO_LONG)?;
        self.shut_if_flushed()
    }

    /// Once the ERR line is out, shuts our write side: the client reads it, then EOF.
    pub fn shut_if_flushed(&mut self) -> io::Result<()> {
        if matches!(self.state, State::Lingering { .. }) && self.unsent.is_empty() {
            self.stream.shutdown(Shutdown::Write)?;
        }
        Ok(())
    }

    /// Sends `bytes` after any output still waiting, and keeps what the socket does not take.
    ///
    /// Graded by: `mebibyte`, `partial-writes`, `backpressure`, `reset`.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        // TODO: if no output waits in `self.unsent`, write what the socket takes now
        // (`write_some`); queue the rest behind, in `self.unsent` (all of it, if output
        // already waits: bytes must go out in order). Book: "Partial writes".
        todo!(
            "send {} bytes on {:?} (book: epoll.md, \"Partial writes\")",
            bytes.len(),
            self.stream
        )
    }

    /// The socket is writable: send what waits, as far as the socket takes it.
    ///
    /// Graded by: `partial-writes`, `backpressure`, `half-close`, `too-long`.
    pub fn on_writable(&mut self) -> io::Result<()> {
        // TODO: write from `self.unsent`, oldest first, until it is empty or the socket takes
        // nothing more, and drop what was sent. Book: "Partial writes".
        // TODO: once it is empty, give its memory back (`VecDeque::new()`) and call
        // `self.shut_if_flushed()`: a lingering connection shuts its write side then.
        todo!(
            "send the {} bytes waiting for {:?} (book: epoll.md, \"Partial writes\")",
            self.unsent.len(),
            self.stream
        )
    }
}
