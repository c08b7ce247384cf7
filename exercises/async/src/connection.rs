//! One connection's task: the iterative server's echo, written with `.await`. Write
//! `handle_connection` and `spend_work`; the rest is given.
//!
//! Every `.await` here is a place where the task may have to wait (for a line to arrive, for
//! the client to take its echoes, for a CPU-heavy line to be done): there it returns
//! `Pending` to the runtime, which runs other tasks on the same thread meanwhile and polls this
//! one again when its waker says it can go on. Nothing in the task may block its thread
//! instead: no `std::net` call, no `thread::sleep`, and no long computation, which is why a
//! line's `--work` goes to the blocking pool ([`spend_work`]).
//!
//! What the contract asks of a connection falls out of the shape of the loop:
//! - **the line limit**: a read stops after `MAX_LINE` bytes ([`read_line`]);
//! - **half-close**: a read of nothing is the client's EOF: its echoes are all sent by then,
//!   its unfinished line is dropped, and the task returns, which closes the connection;
//! - **backpressure**: the echo is awaited before the next read, so a client that does not
//!   read its echoes stops being read from, and the pressure goes back to it through TCP;
//! - **lingering close** after `ERR line too long` ([`lingering_close`]).

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{self, Duration, Instant};
use workbook_kit::MAX_LINE;

#[allow(unused_imports)] // yours to use in `handle_connection` and `spend_work`
use tokio::io::{AsyncWriteExt, BufReader};
#[allow(unused_imports)]
use tokio::task;
#[allow(unused_imports)]
use workbook_kit::TOO_LONG;

/// The read buffer each connection owns. An idle connection holds it for as long as it is
/// connected, so it is small: lines longer than it are gathered in the line's own buffer.
pub const READ_BUFFER: usize = 4096;

/// How long, and how many bytes, we keep reading after `ERR line too long` before closing.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 4 << 20;

/// What [`read_line`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A complete line, its `\n` included.
    Line,
    /// `MAX_LINE` bytes without a `\n`: the line can no longer fit.
    TooLong,
    /// The client's EOF (any unfinished fragment is dropped) or nothing more to read.
    End,
}

/// Reads the next line into `line` (cleared first), at most `MAX_LINE` bytes of it.
pub async fn read_line<R>(reader: &mut R, line: &mut Vec<u8>) -> io::Result<Next>
where
    R: AsyncBufRead + Unpin,
{
    line.clear();
    // `take` bounds the read: without it, one endless line would be buffered without end.
    let n = reader.take(MAX_LINE as u64).read_until(b'\n', line).await?;
    Ok(match line.last() {
        Some(b'\n') => Next::Line,
        Some(_) if n == MAX_LINE => Next::TooLong,
        _ => Next::End,
    })
}

/// Echoes every complete line received on `stream`, in order, until the client shuts its
/// write side. `offload`: lines cost CPU time (`--work`), spent off this worker thread.
///
/// Graded by: `one-line`, `pipelined`, `byte-by-byte`, `line-then-fragment`, `binary`,
/// `empty-lines`, `longest-line`, `half-close`, `mebibyte`, `too-long`, `reset`,
/// `backpressure`, `idle-memory`.
pub async fn handle_connection(stream: TcpStream, offload: bool) -> io::Result<()> {
    // TODO: split the stream into its two halves (`stream.split()`: borrowed, no lock) and
    // wrap the reading half in a `BufReader` of `READ_BUFFER` bytes. Book: "What an idle task
    // costs".
    // TODO: loop over `read_line`: a `Next::Line` is echoed with `write_all(...).await`,
    // after `spend_work` when `offload`; `Next::TooLong` gets `TOO_LONG`, then
    // `lingering_close`; `Next::End` returns. Await each echo before reading on: that is the
    // backpressure. Book: "A task per connection", "Backpressure for free".
    todo!(
        "echo the lines of {stream:?}, offload: {offload} (book: async.md, \"A task per \
         connection\")"
    )
}

/// Spends `line`'s CPU cost on the runtime's blocking pool, and hands the line back.
///
/// Graded by: `cpu-work`.
pub async fn spend_work(line: Vec<u8>) -> io::Result<Vec<u8>> {
    // TODO: `task::spawn_blocking` a closure that owns the line (`move`), calls
    // `workbook_kit::work(&line)` and returns the line; await its `JoinHandle` (an error
    // means the closure panicked: `io::Error::other`). Book: "The blocking trap".
    todo!(
        "spend the CPU cost of {} bytes of lines off the worker thread (book: async.md, \"The \
         blocking trap\")",
        line.len()
    )
}

/// Closes a connection that still has input in flight, the way nginx does: shut our write
/// side (the client reads the `ERR` line, then EOF), then read and discard until the client
/// closes too, within a bound of time and bytes. Closing at once with unread input would
/// make the kernel send a reset, which can destroy the `ERR` line before the client reads it.
pub async fn lingering_close<R, W>(reader: &mut R, writer: &mut W) -> io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    writer.shutdown().await?;
    let deadline = Instant::now() + LINGER_TIME;
    let mut drained = 0;
    while drained < LINGER_BYTES {
        // The read buffer is the sink: what it takes is thrown away.
        match time::timeout_at(deadline, reader.fill_buf()).await {
            Ok(Ok([])) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(bytes)) => {
                let n = bytes.len();
                reader.consume(n);
                drained += n;
            }
        }
    }
    Ok(())
}
