//! Servers with a bug in the line protocol or in how connections end: the iterative shape
//! (one connection at a time), wrong in one place each.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use workbook_kit::{MAX_LINE, TOO_LONG};

use solution_iterative::handle_connection;

use crate::Bug;
use crate::Fails::Exactly;

pub const BUGS: &[Bug] = &[
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
        says: "expected \"first\\nsecond\\n\"",
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
        fails: Exactly(&["single-process"]),
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
];

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
