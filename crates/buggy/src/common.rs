//! Servers with a bug in the line protocol or in how connections end: the iterative shape
//! (one connection at a time), wrong in one place each.

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::OnceLock;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use workbook_kit::{MAX_LINE, TOO_LONG};

use solution_iterative::handle_connection;

use crate::Bug;
use crate::Fails::Exactly;

pub const BUGS: &[Bug] = &[
    Bug {
        name: "turns-away-queued",
        about: "between two lines of its client, takes any newcomer off the listener and closes it",
        arch: "iterative",
        fails: Exactly(&["queued-client"]),
        says: "client 2 connected while client 1 was served",
        alone: false,
        run: || {
            let listener = workbook_kit::listen()?;
            LISTENER
                .set(listener.try_clone()?)
                .map_err(|_| io::Error::other("listener already set"))?;
            serve_listener(listener, |stream| {
                Lines {
                    turns_away: true,
                    ..LINES
                }
                .serve(stream)
            })
        },
    },
    Bug {
        name: "byte-echo",
        about: "echoes whatever each read returns, without waiting for the newline",
        arch: "iterative",
        // Echoing bytes as they come also echoes the dropped fragment and the long line.
        fails: Exactly(&["byte-by-byte", "half-close", "too-long"]),
        says: "expected nothing back before the `\\n`",
        alone: false,
        run: || serve_each(byte_echo),
    },
    Bug {
        name: "unflushed-at-eof",
        about: "batches echoes and drops the unsent ones when the client shuts its write side",
        arch: "iterative",
        fails: Exactly(&["half-close"]),
        says: "expected \"first\\nsecond\\n",
        alone: false,
        run: || serve_each(unflushed_at_eof),
    },
    Bug {
        name: "flush-when-empty",
        about: "sends its echoes only when its read buffer is empty, so a fragment holds them back",
        arch: "iterative",
        fails: Exactly(&["line-then-fragment"]),
        says: "nothing came back within 3 s",
        alone: false,
        run: || serve_each(flush_when_empty),
    },
    Bug {
        name: "no-line-limit",
        about: "reads lines with no bound, so an endless line grows its buffer forever",
        arch: "iterative",
        fails: Exactly(&["too-long"]),
        says: "buffering the line without a bound",
        alone: false,
        run: || serve_each(no_line_limit),
    },
    Bug {
        name: "shutdown-not-close",
        about: "shuts each connection down but never closes its descriptor",
        arch: "iterative",
        fails: Exactly(&["descriptors"]),
        says: "descriptors leaked",
        alone: false,
        run: || {
            serve_each(|stream| {
                handle_connection(stream.try_clone()?)?;
                // The bug: shutdown ends the TCP conversation, but the descriptor stays open.
                stream.shutdown(Shutdown::Both)?;
                std::mem::forget(stream);
                Ok(())
            })
        },
    },
    Bug {
        name: "thread-per-client-iterative",
        about: "claims to be iterative but serves each client on a new thread",
        arch: "iterative",
        // queued-client fails uncounted with the gate (single-process) it stands behind.
        fails: Exactly(&["single-process", "queued-client"]),
        says: "2 threads",
        alone: false,
        run: || {
            serve_each(|stream| {
                std::thread::spawn(move || handle_connection(stream))
                    .join()
                    .expect("the handler does not panic")
            })
        },
    },
    Bug {
        name: "ignores-sigterm",
        about: "ignores SIGTERM and SIGINT",
        arch: "iterative",
        fails: Exactly(&["sigterm"]),
        says: "still running 2 s after SIGTERM",
        alone: false,
        run: || {
            use nix::sys::signal::{signal, SigHandler, Signal};
            for sig in [Signal::SIGTERM, Signal::SIGINT] {
                // SAFETY: installs SIG_IGN, which runs no code of ours.
                unsafe { signal(sig, SigHandler::SigIgn) }?;
            }
            serve_each(handle_connection)
        },
    },
    Bug {
        name: "crlf-endings",
        about: "ends every echoed line with `\\r\\n`, as text protocols (SMTP, HTTP) do",
        arch: "iterative",
        // Every check of the rubric begins by echoing a line, and none can pass with a byte
        // added to each: the aimed check is the first, `one-line`, which does nothing else.
        fails: Exactly(&[
            "one-line",
            "pipelined",
            "byte-by-byte",
            "line-then-fragment",
            "binary",
            "empty-lines",
            "longest-line",
            "half-close",
            "mebibyte",
            "too-long",
            "reset",
            "sigterm",
            "descriptors",
            "single-process",
            "queued-client",
        ]),
        says: "they differ at byte 15 (expected \"\\n\", got \"\\r\")",
        alone: false,
        run: || {
            serve_each(|stream| {
                Lines {
                    answer: crlf,
                    ..LINES
                }
                .serve(stream)
            })
        },
    },
    Bug {
        name: "reader-per-line",
        about: "makes a new BufReader for every line, dropping whatever it read past the line",
        arch: "iterative",
        // Unavoidable: every check that sends two lines, or a line and a fragment, in one
        // write loses what follows the first (`line-then-fragment`: the fragment;
        // `empty-lines`: "\n\n\n"; `half-close`: the second line; `mebibyte`: almost all).
        fails: Exactly(&[
            "pipelined",
            "line-then-fragment",
            "empty-lines",
            "half-close",
            "mebibyte",
        ]),
        says: "after 1,000 lines in one write",
        alone: false,
        run: || {
            serve_each(|stream| {
                Lines {
                    reader_per_line: true,
                    ..LINES
                }
                .serve(stream)
            })
        },
    },
    Bug {
        name: "lossy-utf8",
        about: "turns each line into text with String::from_utf8_lossy before echoing it",
        arch: "iterative",
        fails: Exactly(&["binary"]),
        says: "expected \"invalid utf-8: \\xff\\xfe\\xc3(\\n\"",
        alone: false,
        run: || {
            serve_each(|stream| {
                Lines {
                    answer: lossy,
                    ..LINES
                }
                .serve(stream)
            })
        },
    },
    Bug {
        name: "skips-empty-lines",
        about: "answers nothing to an empty line, as if a lone `\\n` were a keep-alive",
        arch: "iterative",
        fails: Exactly(&["empty-lines"]),
        says: "expected \"\\n\", but nothing came back within 3 s",
        alone: false,
        run: || {
            serve_each(|stream| {
                Lines {
                    // The bug: nothing is sent for a line with nothing before its `\n`.
                    answer: |line| Cow::Borrowed(if line == b"\n" { &[] } else { line }),
                    ..LINES
                }
                .serve(stream)
            })
        },
    },
    Bug {
        name: "limit-off-by-one",
        about: "refuses a line that fills the limit, newline included: the longest valid line",
        arch: "iterative",
        fails: Exactly(&["longest-line"]),
        says: "got \"ERR line too long\\n\"",
        alone: false,
        run: || {
            serve_each(|stream| {
                Lines {
                    // The bug: the length is tested before the newline, so 65,535 bytes and
                    // `\n` (65,536 in all, exactly MAX_LINE) count as too long.
                    refuses: |line| line.len() == MAX_LINE,
                    ..LINES
                }
                .serve(stream)
            })
        },
    },
    Bug {
        name: "hangs-up-after-4096-lines",
        about: "closes a connection after 4,096 lines, so that one client cannot keep the \
                server forever (the contract has no such limit)",
        arch: "iterative",
        fails: Exactly(&["mebibyte"]),
        says: "of the 1048576 bytes came back",
        alone: false,
        run: || {
            serve_each(|stream| {
                Lines {
                    // The bug: a fairness limit an iterative server seems to need, where the
                    // contract says to echo until EOF. `mebibyte` sends ~9,600 lines; no other
                    // check sends more than 1,000 on one connection. (Ignoring short writes
                    // would be the classic bug to aim at `mebibyte`, but on loopback a
                    // blocking write is never short, and a non-blocking one only once MiBs
                    // are unread, which a client that reads while it writes never leaves.)
                    quota: 4096,
                    ..LINES
                }
                .serve(stream)
            })
        },
    },
    Bug {
        name: "unwraps-on-reset",
        about: "unwraps each connection's result, so one client's reset panics the server",
        arch: "iterative",
        fails: Exactly(&["reset"]),
        says: "Connection reset by peer",
        alone: false,
        run: || {
            serve_each(|stream| {
                handle_connection(stream).unwrap();
                Ok(())
            })
        },
    },
];

/// What the buggy accept loops do with a failed accept, as the reference solutions do: log
/// it, and pause if the process is out of descriptors, so that only the servers whose bug
/// it is spin at the descriptor limit.
pub fn accept_failed(e: &io::Error) {
    eprintln!("accept failed: {e}");
    if workbook_kit::out_of_descriptors(e) {
        std::thread::sleep(workbook_kit::OUT_OF_DESCRIPTORS_PAUSE);
    }
}

/// Announces, then serves each connection with `handle` in turn.
pub fn serve_each(handle: fn(TcpStream) -> io::Result<()>) -> io::Result<()> {
    serve_listener(workbook_kit::listen()?, handle)
}

/// Serves each connection of `listener` with `handle` in turn.
pub fn serve_listener(
    listener: TcpListener,
    handle: fn(TcpStream) -> io::Result<()>,
) -> io::Result<()> {
    for stream in listener.incoming() {
        if let Err(e) = handle(stream?) {
            eprintln!("connection: {e}");
        }
    }
    Ok(())
}

fn byte_echo(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}

fn unflushed_at_eof(stream: TcpStream) -> io::Result<()> {
    let mut pending = Vec::new();
    let mut line = Vec::new();
    let mut reader = BufReader::new(&stream);
    // Echoes go out when 4 KiB have piled up or the input has been quiet for 20 ms.
    stream.set_read_timeout(Some(Duration::from_millis(20)))?;
    loop {
        let room = MAX_LINE - line.len();
        match (&mut reader).take(room as u64).read_until(b'\n', &mut line) {
            Ok(_) if line.len() == MAX_LINE && !line.ends_with(b"\n") => {
                return too_long(&stream);
            }
            // The bug: at EOF, `pending` is dropped instead of sent.
            Ok(0) => return Ok(()),
            Ok(_) if line.ends_with(b"\n") => {
                pending.append(&mut line);
                if pending.len() >= 4096 {
                    (&stream).write_all(&pending)?;
                    pending.clear();
                }
            }
            Ok(_) => return Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                (&stream).write_all(&pending)?;
                pending.clear();
            }
            Err(e) => return Err(e),
        }
    }
}

fn no_line_limit(stream: TcpStream) -> io::Result<()> {
    let mut reader = BufReader::new(&stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        // The bug: no `take(MAX_LINE)`, so this reads as long as no newline comes.
        if reader.read_until(b'\n', &mut line)? == 0 || !line.ends_with(b"\n") {
            return Ok(());
        }
        (&stream).write_all(&line)?;
    }
}

fn flush_when_empty(stream: TcpStream) -> io::Result<()> {
    let mut reader = BufReader::new(&stream);
    let mut writer = std::io::BufWriter::new(&stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)?;
        match line.last() {
            Some(b'\n') => writer.write_all(&line)?,
            Some(_) if line.len() == MAX_LINE => {
                writer.flush()?;
                return too_long(&stream);
            }
            _ => return writer.flush(),
        }
        // The bug: a fragment left in the buffer keeps the finished lines' echoes waiting
        // until more input comes.
        if reader.buffer().is_empty() {
            writer.flush()?;
        }
    }
}

/// A line echo, part by part: the reference's loop (`solution_iterative::handle_connection`:
/// read a line of at most MAX_LINE bytes, echo it, refuse a longer one with ERR and a
/// lingering close, drop a fragment at EOF), with the parts the bugs above change. Each of
/// them overrides one part of [`LINES`]. Each echo is a write of its own, which no check
/// minds.
#[derive(Clone, Copy)]
struct Lines {
    /// A new `BufReader` for each line, instead of one for the connection.
    reader_per_line: bool,
    /// Whether a line as read (at most MAX_LINE bytes, its `\n` last if it has one) is too
    /// long.
    refuses: fn(&[u8]) -> bool,
    /// What goes back for a complete line, its `\n` included.
    answer: fn(&[u8]) -> Cow<'_, [u8]>,
    /// How many lines are answered before the server hangs up.
    quota: usize,
    /// Before each echo, whether to close whoever is waiting on [`LISTENER`].
    turns_away: bool,
}

/// The listener of `turns-away-queued`, for its connections' loop to look at.
static LISTENER: OnceLock<TcpListener> = OnceLock::new();

/// The bug of `turns-away-queued`: "busy, come back later", said by closing every connection
/// that waits in the backlog while a client is being served (which the client in the middle
/// of sending proves it is).
fn turn_away_newcomers() -> io::Result<()> {
    let Some(listener) = LISTENER.get() else {
        return Ok(());
    };
    let mut waiting = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    while poll(&mut waiting, PollTimeout::ZERO).map_err(io::Error::from)? > 0 {
        drop(listener.accept()?);
    }
    Ok(())
}

/// The reference's parts.
const LINES: Lines = Lines {
    reader_per_line: false,
    refuses: |line| line.len() == MAX_LINE && !line.ends_with(b"\n"),
    answer: |line| Cow::Borrowed(line),
    quota: usize::MAX,
    turns_away: false,
};

impl Lines {
    fn serve(self, stream: TcpStream) -> io::Result<()> {
        let mut kept = BufReader::new(&stream);
        let mut fresh;
        let mut line = Vec::new();
        for _ in 0..self.quota {
            let reader = if self.reader_per_line {
                // The bug of `reader-per-line`: this reader takes all that has arrived (up to
                // 8 KiB), hands back the first line, and is dropped with the rest.
                fresh = BufReader::new(&stream);
                &mut fresh
            } else {
                &mut kept
            };
            line.clear();
            reader.take(MAX_LINE as u64).read_until(b'\n', &mut line)?;
            if (self.refuses)(&line) {
                return too_long(&stream);
            }
            if !line.ends_with(b"\n") {
                // EOF, after nothing or after a fragment, which the contract drops.
                return Ok(());
            }
            if self.turns_away {
                turn_away_newcomers()?;
            }
            (&stream).write_all(&(self.answer)(&line))?;
        }
        Ok(())
    }
}

/// The bug of `crlf-endings`: the line's `\n` becomes `\r\n`.
fn crlf(line: &[u8]) -> Cow<'_, [u8]> {
    let mut text = line[..line.len() - 1].to_vec();
    text.extend_from_slice(b"\r\n");
    Cow::Owned(text)
}

/// The bug of `lossy-utf8`: a line is bytes, but this makes it text, and every byte that is
/// not valid UTF-8 becomes U+FFFD (three other bytes).
fn lossy(line: &[u8]) -> Cow<'_, [u8]> {
    match String::from_utf8_lossy(line) {
        Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
        Cow::Owned(text) => Cow::Owned(text.into_bytes()),
    }
}

/// After `ERR line too long`: shut the write side and drain for a moment, so the ERR line
/// is not destroyed by a reset.
fn too_long(stream: &TcpStream) -> io::Result<()> {
    let mut stream = stream;
    stream.write_all(TOO_LONG)?;
    stream.shutdown(Shutdown::Write)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut sink = [0u8; 16 * 1024];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
    Ok(())
}
