//! The grader's side of a connection: every operation has a deadline, and every failure
//! becomes a [`Verdict`] that shows the bytes involved.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::verdict::Verdict;

/// How long a reply may take in an ordinary check. An echo takes well under a millisecond;
/// this leaves room for a machine busy with other work.
pub const REPLY: Duration = Duration::from_secs(3);

/// How many bytes more than it expects a check reads before it stops: enough to show what a
/// wrong reply looks like, bounded whatever the server sends.
pub const MARGIN: usize = 64 * 1024;

/// How long a connect may take.
pub const CONNECT: Duration = Duration::from_secs(3);

/// How a read that was asked for more ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The server closed its side (FIN).
    Eof,
    /// The connection was reset (RST).
    Reset,
    /// Nothing more came before the deadline.
    Timeout,
    /// Any other error.
    Error(String),
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Eof => write!(f, "then the server closed the connection"),
            Ending::Reset => write!(f, "then the connection was reset"),
            Ending::Timeout => write!(f, "then nothing more"),
            Ending::Error(e) => write!(f, "then the read failed: {e}"),
        }
    }
}

/// One connection to the server under test.
pub struct Client {
    stream: TcpStream,
    /// "client 2", for messages.
    pub name: String,
}

impl Client {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> Result<Client, Verdict> {
        Self::connect_with(addr, None, "client")
    }

    /// Connects with a name for messages and, optionally, a small receive buffer set before
    /// the connect (so that a slow reader makes the server's writes block sooner).
    pub fn connect_with(
        addr: SocketAddr,
        rcvbuf: Option<usize>,
        name: &str,
    ) -> Result<Client, Verdict> {
        let connect = || -> io::Result<TcpStream> {
            let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            if let Some(size) = rcvbuf {
                socket.set_recv_buffer_size(size)?;
            }
            socket.connect_timeout(&addr.into(), CONNECT)?;
            socket.set_tcp_nodelay(true)?;
            Ok(socket.into())
        };
        let stream = connect().map_err(|e| {
            Verdict::new(format!(
                "{name} could not connect to {addr}: {e}{}",
                if e.kind() == io::ErrorKind::ConnectionRefused {
                    " (is the server still listening?)"
                } else {
                    ""
                }
            ))
        })?;
        Ok(Client {
            stream,
            name: name.to_string(),
        })
    }

    /// Connects `n` clients named "client 1" to "client n".
    pub fn connect_many(addr: SocketAddr, n: usize) -> Result<Vec<Client>, Verdict> {
        (1..=n)
            .map(|i| Client::connect_with(addr, None, &format!("client {i}")))
            .collect()
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Sends all of `bytes`, failing if the server does not take them within [`REPLY`].
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), Verdict> {
        self.stream
            .set_write_timeout(Some(REPLY))
            .and_then(|()| self.stream.write_all(bytes))
            .map_err(|e| Verdict::new(format!("{} could not send {}: {e}", self.name, show(bytes))))
    }

    /// Sends `line` and expects exactly the same bytes back within [`REPLY`].
    pub fn echo(&mut self, line: &[u8]) -> Result<(), Verdict> {
        self.send(line)?;
        self.expect(line, REPLY)
            .map_err(|v| v.context(format!("{} sent {}", self.name, show(line))))
    }

    /// Reads `expected.len()` bytes within `within` and compares them; stops at the first
    /// byte that differs (waiting for the rest would only delay the verdict).
    pub fn expect(&mut self, expected: &[u8], within: Duration) -> Result<(), Verdict> {
        let deadline = Instant::now() + within;
        let mut got = Vec::with_capacity(expected.len().min(1 << 20));
        let ending = loop {
            if got.len() >= expected.len() || !expected.starts_with(&got) {
                break Ending::Timeout;
            }
            let want = (expected.len() - got.len()).min(64 * 1024);
            match self.read_some(want, deadline) {
                Ok(chunk) => got.extend_from_slice(&chunk),
                Err(ending) => break ending,
            }
        };
        if got == expected {
            return Ok(());
        }
        Err(Verdict::new(mismatch(expected, &got, &ending, within)))
    }

    /// Reads until `n` bytes have come, the connection ends, or `within` passes.
    pub fn read_exact_within(&mut self, n: usize, within: Duration) -> (Vec<u8>, Ending) {
        let mut got = Vec::with_capacity(n.min(1 << 20));
        let deadline = Instant::now() + within;
        while got.len() < n {
            let want = (n - got.len()).min(64 * 1024);
            match self.read_some(want, deadline) {
                Ok(chunk) => got.extend_from_slice(&chunk),
                Err(ending) => return (got, ending),
            }
        }
        (got, Ending::Timeout)
    }

    /// Reads until the server ends the connection or `within` passes, keeping at most
    /// `most` bytes: past them it stops reading (the ending is then [`Ending::Timeout`]), so
    /// that a server flooding its replies cannot fill the grader's memory.
    pub fn read_to_end(&mut self, within: Duration, most: usize) -> (Vec<u8>, Ending) {
        self.read_exact_within(most, within)
    }

    /// Waits `period` and fails if any byte arrives meanwhile.
    pub fn expect_silence(&mut self, period: Duration) -> Result<(), Vec<u8>> {
        let deadline = Instant::now() + period;
        match self.read_some(4096, deadline) {
            Ok(bytes) => Err(bytes),
            Err(_) => Ok(()),
        }
    }

    /// One read of at most `max` bytes, waiting until `deadline`.
    fn read_some(&mut self, max: usize, deadline: Instant) -> Result<Vec<u8>, Ending> {
        let mut buf = vec![0u8; max.min(64 * 1024)];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Ending::Timeout);
            }
            if self.stream.set_read_timeout(Some(left)).is_err() {
                return Err(Ending::Error("cannot set a read timeout".into()));
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(Ending::Eof),
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(buf);
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => continue,
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                        return Err(Ending::Reset)
                    }
                    _ => return Err(Ending::Error(e.to_string())),
                },
            }
        }
    }

    /// Shuts the client's write side: the server reads EOF.
    pub fn shutdown_write(&self) -> Result<(), Verdict> {
        self.stream
            .shutdown(Shutdown::Write)
            .map_err(|e| Verdict::new(format!("{} could not shut its write side: {e}", self.name)))
    }

    /// Closes the connection with a reset (`SO_LINGER` 0) instead of a FIN.
    pub fn reset(self) {
        let socket = Socket::from(self.stream);
        let _ = socket.set_linger(Some(Duration::ZERO));
    }
}

/// Describes a reply that differs from the expected one.
pub fn mismatch(expected: &[u8], got: &[u8], ending: &Ending, within: Duration) -> String {
    if got.is_empty() {
        let what = match ending {
            Ending::Timeout => format!("nothing came back within {}", secs(within)),
            Ending::Eof => "the server closed the connection without answering".into(),
            Ending::Reset => "the connection was reset without an answer".into(),
            Ending::Error(e) => format!("the read failed: {e}"),
        };
        return format!("expected {}, but {what}", show(expected));
    }
    // How the reply ended, if it did: a read that stopped at the first difference (as
    // `expect` does) did not wait to see, and passes `Timeout`.
    let then = match ending {
        Ending::Timeout => String::new(),
        ended => format!(", {ended}"),
    };
    match expected.iter().zip(got).position(|(a, b)| a != b) {
        // Different from the first byte: the two, once each, say it all.
        Some(0) => format!("expected {}, got {}{then}", show(expected), show(got)),
        Some(at) => format!(
            "expected {}, got {}{then}: they differ at byte {at} (expected {}, got {})",
            show(expected),
            show(got),
            show(&expected[at..]),
            show(&got[at..])
        ),
        None => format!(
            "expected {}, got only the first {} of its {} bytes ({}), {ending} (waited {})",
            show(expected),
            got.len(),
            expected.len(),
            show(got),
            secs(within)
        ),
    }
}

/// Formats a duration for messages: `3 s`, `200 ms`.
pub fn secs(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Formats a count for messages: `32,768` rather than `32768`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// Shows bytes as an escaped, quoted string, shortened in the middle when long.
pub fn show(bytes: &[u8]) -> String {
    const KEEP: usize = 40;
    let escape = |b: &[u8]| -> String {
        b.iter()
            .flat_map(|&c| std::ascii::escape_default(c))
            .map(char::from)
            .collect()
    };
    if bytes.len() <= 2 * KEEP {
        format!("\"{}\"", escape(bytes))
    } else {
        format!(
            "\"{}\"...\"{}\" ({} bytes)",
            escape(&bytes[..KEEP]),
            escape(&bytes[bytes.len() - KEEP..]),
            bytes.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_bytes_escaped_and_short_and_counts_with_separators() {
        assert_eq!(show(b"a\n\0\xff"), r#""a\n\x00\xff""#);
        let long = vec![b'x'; 1000];
        assert!(show(&long).ends_with("(1000 bytes)"));
        let counts = [7, 32_768, 1_048_576].map(thousands);
        assert_eq!(counts, ["7", "32,768", "1,048,576"]);
    }

    #[test]
    fn mismatch_messages() {
        let m = mismatch(b"hello\n", b"", &Ending::Timeout, REPLY);
        assert_eq!(m, r#"expected "hello\n", but nothing came back within 3 s"#);
        let m = mismatch(b"hello\n", b"help\n", &Ending::Timeout, REPLY);
        assert!(m.contains("differ at byte 3"), "{m}");
        let m = mismatch(b"hello\n", b"hel", &Ending::Eof, REPLY);
        assert!(m.contains("only the first 3 of its 6 bytes"), "{m}");
        // A reply wrong from its first byte is shown once, not twice.
        let long = vec![b'a'; 65_536];
        let m = mismatch(&long, b"ERR line too long\n", &Ending::Eof, REPLY);
        assert_eq!(m.matches("(65536 bytes)").count(), 1, "{m}");
        assert!(m.ends_with("then the server closed the connection"), "{m}");
        let m = mismatch(&long, b"ERR line too long\n", &Ending::Timeout, REPLY);
        assert!(m.ends_with(r#"got "ERR line too long\n""#), "{m}");
    }
}
