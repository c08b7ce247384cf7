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
use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollEvent, EpollFlags};
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

// ANCHOR: connection
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
// ANCHOR_END: connection

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

    // ANCHOR: wants
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
    // ANCHOR_END: wants

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

    // ANCHOR: on_event
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
    // ANCHOR_END: on_event

    // ANCHOR: on_readable
    /// The socket is readable: read what has arrived (within a budget), hand each run of
    /// complete lines to `complete`, in order, and keep the unfinished line.
    pub fn on_readable(
        &mut self,
        scratch: &mut [u8],
        mut complete: impl FnMut(&mut Connection, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        for _ in 0..READS_PER_EVENT {
            if !self.wants_read() {
                break; // backpressure (this read filled the output past its bound), or held
            }
            let n = match (&self.stream).read(scratch) {
                Ok(n) => n,
                Err(e) if would_block(&e) => break,
                Err(e) if interrupted(&e) => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                // EOF: the client sends no more. Its unfinished line will never end: drop it.
                self.line = Vec::new();
                self.state = State::Closing;
                break;
            }
            self.received(&scratch[..n], &mut complete)?;
            if n < scratch.len() {
                // A short read means the socket had nothing more (and if more came since,
                // level-triggered epoll says so): skip the read that would only say
                // `WouldBlock`.
                break;
            }
        }
        Ok(())
    }

    /// Handles the bytes of one read.
    fn received(
        &mut self,
        bytes: &[u8],
        complete: &mut impl FnMut(&mut Connection, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        if let State::Lingering { discarded, .. } = &mut self.state {
            *discarded += bytes.len();
            return Ok(());
        }
        let mut rest = bytes;
        // First, the end of the line an earlier read left unfinished, if any.
        if !self.line.is_empty() {
            let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
                return self.keep_fragment(rest);
            };
            let (end, after) = rest.split_at(newline + 1);
            if self.line.len() + end.len() > MAX_LINE {
                return self.too_long();
            }
            self.line.extend_from_slice(end);
            // Taking the line leaves an empty Vec in its place: no memory held.
            let line = std::mem::take(&mut self.line);
            complete(self, &line)?;
            rest = after;
        }
        // Now `rest` starts a line: every complete line in one go, then keep the fragment.
        let end = rest.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let (lines, fragment) = rest.split_at(end);
        if !lines.is_empty() {
            complete(self, lines)?;
        }
        self.keep_fragment(fragment)
    }

    /// Keeps `fragment` as the start of a line yet to end, unless the line is too long now.
    fn keep_fragment(&mut self, fragment: &[u8]) -> io::Result<()> {
        // `MAX_LINE` bytes without a `\n`: even if the next byte is one, the line is too long.
        if self.line.len() + fragment.len() >= MAX_LINE {
            return self.too_long();
        }
        self.line.extend_from_slice(fragment);
        Ok(())
    }
    // ANCHOR_END: on_readable

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

    // ANCHOR: send
    /// Sends `bytes` after any output still waiting, and keeps what the socket does not take.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut rest = bytes;
        if self.unsent.is_empty() {
            // Nothing waits: write straight from the read's bytes, no copy.
            let n = write_some(&self.stream, rest)?;
            rest = &rest[n..];
        }
        // Queued behind what waits, in order; `on_writable` sends it when the socket drains.
        self.unsent.extend(rest);
        Ok(())
    }
    // ANCHOR_END: send

    // ANCHOR: on_writable
    /// The socket is writable: send what waits, as far as the socket takes it.
    pub fn on_writable(&mut self) -> io::Result<()> {
        while !self.unsent.is_empty() {
            let (oldest, _) = self.unsent.as_slices();
            let n = write_some(&self.stream, oldest)?;
            if n == 0 {
                return Ok(()); // the socket is full: wait for the next EPOLLOUT
            }
            self.unsent.drain(..n);
        }
        // All sent: give the memory back, and finish the lingering close if one is under way.
        self.unsent = VecDeque::new();
        self.shut_if_flushed()
    }
    // ANCHOR_END: on_writable
}
