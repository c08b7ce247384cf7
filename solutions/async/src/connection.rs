//! One connection's task: the iterative server's echo, written with `.await`.
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

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::TcpStream;
use tokio::task;
use tokio::time::{self, Duration, Instant};
use workbook_kit::{MAX_LINE, TOO_LONG};

// ANCHOR: limits
/// The read buffer each connection owns. An idle connection holds it for as long as it is
/// connected, so it is small: lines longer than it are gathered in the line's own buffer.
pub const READ_BUFFER: usize = 4096;

/// How long, and how many bytes, we keep reading after `ERR line too long` before closing.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 4 << 20;
// ANCHOR_END: limits

// ANCHOR: next
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
// ANCHOR_END: next

// ANCHOR: handle_connection
/// Echoes every complete line received on `stream`, in order, until the client shuts its
/// write side. `offload`: lines cost CPU time (`--work`), spent off this worker thread.
pub async fn handle_connection(mut stream: TcpStream, offload: bool) -> io::Result<()> {
    // Borrowed halves of one socket: no lock, no reference count, one task uses both.
    let (reader, mut writer) = stream.split();
    let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
    let mut line = Vec::new();
    loop {
        match read_line(&mut reader, &mut line).await? {
            Next::Line => {
                if offload {
                    line = spend_work(line).await?;
                }
                // Awaited before the next read: while the client does not take its echoes,
                // this task reads nothing more, and its lines wait in the kernel's buffers.
                writer.write_all(&line).await?;
            }
            Next::TooLong => {
                writer.write_all(TOO_LONG).await?;
                return lingering_close(&mut reader, &mut writer).await;
            }
            // Returning drops the stream, which closes the connection.
            Next::End => return Ok(()),
        }
    }
}
// ANCHOR_END: handle_connection

// ANCHOR: spend_work
/// Spends `line`'s CPU cost on the runtime's blocking pool, and hands the line back.
///
/// Spent here, on the worker thread, it would hold that thread for the whole computation:
/// every task queued on the worker would wait, and with as many busy lines as workers, the
/// whole server. `spawn_blocking` runs it on a thread of the blocking pool instead, and this
/// task waits for it like for any other event. One job per line, not one per batch of
/// lines: the pool takes jobs in order, so a client that sent a thousand CPU-heavy lines at
/// once takes its turns with everyone else instead of holding a pool thread for them all.
pub async fn spend_work(line: Vec<u8>) -> io::Result<Vec<u8>> {
    // The closure must own what it uses (the pool may run it after this task has gone), so
    // the line moves in and comes back out: no copy.
    let spent = task::spawn_blocking(move || {
        workbook_kit::work(&line);
        line
    });
    // An error here means the closure panicked: end this connection with it.
    spent.await.map_err(io::Error::other)
}
// ANCHOR_END: spend_work

// ANCHOR: lingering_close
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
// ANCHOR_END: lingering_close
