//! The iterative server, solved: one loop accepts a connection, serves it to the end, then
//! accepts the next. Book: `book/src/iterative.md`.
//!
//! Two functions:
//! - [`serve`], the accept loop. Everything else the server does happens inside one call to
//!   [`handle_connection`], so a second client waits in the kernel's backlog until the first
//!   leaves. That wait is this architecture's whole story.
//! - [`handle_connection`], the line echo of the contract: bounded lines, half-close, and a
//!   lingering close after `ERR line too long`. The forking and threaded servers reuse it
//!   unchanged; only the way connections are dispatched differs.

#![forbid(unsafe_code)]

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use workbook_kit::{MAX_LINE, TOO_LONG};

// ANCHOR: linger_limits
/// How long, and how many bytes, we keep reading after `ERR line too long` before closing.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 4 << 20;
// ANCHOR_END: linger_limits

// ANCHOR: serve
/// Accepts connections one after another and serves each to its end.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                // One client's trouble (a reset, a write to a closed socket) ends that
                // connection only: log it and take the next.
                if let Err(e) = handle_connection(stream) {
                    eprintln!("connection ended: {e}");
                }
            }
            // accept can fail for reasons that concern one connection only (ECONNABORTED:
            // the client gave up while it waited in the backlog). Never unwrap it.
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
    Ok(())
}
// ANCHOR_END: serve

// ANCHOR: handle_connection
/// Echoes every complete line received on `stream`, in order, until the client shuts its
/// write side; then drops any unfinished fragment and closes.
pub fn handle_connection(stream: TcpStream) -> io::Result<()> {
    let mut reader = BufReader::new(&stream);
    let mut writer = BufWriter::new(&stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        // ANCHOR: bounded_read
        // `take` bounds the read: a line that has not ended after MAX_LINE bytes never will
        // fit, and without the bound one client could make us buffer without limit.
        let n = (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)?;
        // ANCHOR_END: bounded_read
        // ANCHOR: answer_line
        match line.last() {
            Some(b'\n') => {
                // The CPU cost of a request (`--work`, 0 unless the lab asks for it).
                workbook_kit::work(&line);
                writer.write_all(&line)?
            }
            Some(_) if n == MAX_LINE => {
                writer.write_all(TOO_LONG)?;
                writer.flush()?;
                return lingering_close(&stream);
            }
            // EOF: at a line boundary (nothing read) or after a fragment, which the contract
            // says to drop. Dropping `stream` closes the connection.
            _ => return writer.flush(),
        }
        // ANCHOR_END: answer_line
        // ANCHOR: flush_when_idle
        // Send the echoes before the next read could block: when no complete line is left
        // in the buffer. One write for a burst of pipelined lines, and no echo waits for
        // input that may never come (a fragment after the last `\n` is not a line).
        if !reader.buffer().contains(&b'\n') {
            writer.flush()?;
        }
        // ANCHOR_END: flush_when_idle
    }
}
// ANCHOR_END: handle_connection

// ANCHOR: lingering_close
/// Closes a connection that still has input in flight, the way nginx does.
///
/// A plain `close` with unread input makes the kernel send a reset, which can destroy the
/// `ERR` line before the client reads it. So: shut our write side (the client sees EOF after
/// the ERR line), then read and discard until the client closes too, within a bound of time
/// and bytes, and only then close.
fn lingering_close(stream: &TcpStream) -> io::Result<()> {
    stream.shutdown(Shutdown::Write)?;
    let deadline = Instant::now() + LINGER_TIME;
    // On the heap, not the stack: an optimised build inlines this function into
    // `handle_connection`, and a 16 KiB array would then be part of that frame, its pages
    // touched (by the stack probe) in every connection's thread, lingering or not.
    let mut sink = vec![0u8; 16 * 1024];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left))?;
        match (&*stream).read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    Ok(())
}
// ANCHOR_END: lingering_close
