//! What every workbook server shares: the contract's constants, the start-up ritual, and
//! what an accept loop needs when the process runs out of descriptors.
//!
//! Each architecture's `src/main.rs` is three lines: [`listen`] parses the address, binds,
//! announces; then the architecture's own `serve` takes the listener. Keeping this here means
//! every server starts the same way, so the grader can treat them all alike, and the exercises
//! are only about the part that differs: how connections are served.
//!
//! The contract itself is the book's chapter "The contract" (`book/src/contract.md`).

#[cfg(feature = "event-loop")]
pub mod event_loop;

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

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

/// Parses the listen address (the last command-line argument, or [`DEFAULT_ADDR`]), binds it
/// with a backlog of [`BACKLOG`], and announces `listening on ADDR` on stdout.
///
/// The announcement carries the port the kernel really chose, so `127.0.0.1:0` works: that is
/// how the grader runs many servers at once without port clashes.
pub fn listen() -> io::Result<TcpListener> {
    let addr = listen_addr(std::env::args().skip(1).last())?;
    let listener = bind(addr)?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    // stdout is a pipe under the grader; say it now, not when a buffer fills.
    stdout.flush()?;
    Ok(listener)
}

/// The address to listen on: the argument if there is one, else [`DEFAULT_ADDR`].
pub fn listen_addr(arg: Option<String>) -> io::Result<SocketAddr> {
    let text = arg.as_deref().unwrap_or(DEFAULT_ADDR);
    text.parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("expected an address such as {DEFAULT_ADDR}, got {text:?}"),
        )
    })
}

/// Binds `addr` with `SO_REUSEADDR` (so a restarted server need not wait out TIME_WAIT) and
/// listens with a backlog of [`BACKLOG`].
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
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
    fn bind_uses_the_large_backlog() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_ne!(listener.local_addr().unwrap().port(), 0);
    }
}
