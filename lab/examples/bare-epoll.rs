//! The floor of an epoll echo: what a server that does nothing but echo bytes spends per
//! echo, to measure the epoll solution's CPU target against (`book/src/lab.md`, "Epoll
//! against tokio").
//!
//! ```text
//! cargo build --release -p workbook-lab --example bare-epoll
//! cargo run --release -p workbook-lab -- epoll tokio --conns 1000,10000 --rounds 5 \
//!     -- target/release/examples/bare-epoll
//! ```
//!
//! It is a measuring instrument, not a server to learn from: it keeps everything the epoll
//! solution does for correctness out of the way of the kernel's cost. Edge-triggered, so the
//! kernel polls a socket once per event, not once more on the next wait; connections are
//! found by descriptor in a `Vec`, with no map; bytes are echoed as they come, with no
//! lines, no line limit, no backpressure, no `--work`. A write the socket does not take
//! whole closes the connection (never with the lab's 64-byte lines). Follows the contract's
//! start (`workbook_kit::listen`: the address argument, the announce line).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use workbook_kit::event_loop::{interrupted, would_block};

/// The listener's token: no descriptor has this number.
const LISTENER: u64 = u64::MAX;

fn main() -> io::Result<()> {
    let listener = workbook_kit::listen()?;
    listener.set_nonblocking(true)?;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    epoll.add(&listener, EpollEvent::new(EpollFlags::EPOLLIN, LISTENER))?;
    let edge = EpollFlags::EPOLLIN | EpollFlags::EPOLLET;
    // Indexed by descriptor: a number is reused only once its socket is closed, and one
    // wait reports a socket once, so no slot sees an event meant for an earlier connection.
    let mut streams: Vec<Option<TcpStream>> = Vec::new();
    let mut events = vec![EpollEvent::empty(); 1024];
    let mut buf = vec![0; 64 * 1024];
    loop {
        let ready = match epoll.wait(&mut events, EpollTimeout::NONE) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        for event in &events[..ready] {
            if event.data() == LISTENER {
                // Level-triggered: what is left in the queue is reported again.
                while let Ok((stream, _)) = listener.accept() {
                    let fd = stream.as_raw_fd() as usize;
                    if stream.set_nonblocking(true).is_err()
                        || epoll
                            .add(&stream, EpollEvent::new(edge, fd as u64))
                            .is_err()
                    {
                        continue;
                    }
                    if streams.len() <= fd {
                        streams.resize_with(fd + 1, || None);
                    }
                    streams[fd] = Some(stream);
                }
                continue;
            }
            let slot = &mut streams[event.data() as usize];
            if slot.as_mut().is_some_and(|s| !echo(s, &mut buf)) {
                *slot = None; // closing the descriptor takes it out of the epoll set
            }
        }
    }
}

/// Echoes what has arrived, until the socket is drained: edge-triggered epoll reports it
/// again only once more arrives. A read shorter than the buffer drained it. Returns whether
/// the connection stays open.
fn echo(stream: &mut TcpStream, buf: &mut [u8]) -> bool {
    loop {
        match stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                if !matches!(stream.write(&buf[..n]), Ok(sent) if sent == n) {
                    return false;
                }
                if n < buf.len() {
                    return true;
                }
            }
            Err(e) if would_block(&e) => return true,
            Err(e) if interrupted(&e) => {}
            Err(_) => return false,
        }
    }
}
