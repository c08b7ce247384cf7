//! What an event loop needs beyond epoll itself: error predicates for non-blocking calls, a
//! non-blocking write, a way out of `EMFILE`, and a queue of deadlines. Given to the epoll exercise as they are, so
//! that it is about the loop and the buffers (book: `epoll.md`).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Instant;

use nix::sys::epoll::EpollTimeout;

use crate::OUT_OF_DESCRIPTORS_PAUSE;

// ANCHOR: predicates
/// The socket has nothing to give (or no room to take) right now: wait for epoll.
pub fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// A signal arrived during the call: simply make it again.
pub fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

/// The process (`EMFILE`) or the system (`ENFILE`) has no descriptor left. (Every
/// architecture's accept loop needs it, so it lives at the root of the crate.)
pub use crate::out_of_descriptors;
// ANCHOR_END: predicates

// ANCHOR: write_some
/// Writes as much of `bytes` as the socket takes now; 0 if it takes nothing (`WouldBlock`).
pub fn write_some(stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    if bytes.is_empty() {
        return Ok(0);
    }
    loop {
        match (&*stream).write(bytes) {
            Ok(n) => return Ok(n),
            Err(e) if would_block(&e) => return Ok(0),
            Err(e) if interrupted(&e) => continue,
            Err(e) => return Err(e),
        }
    }
}
// ANCHOR_END: write_some

// ANCHOR: refuse
/// Out of descriptors (`EMFILE`), maybe with a connection waiting in the listen queue.
///
/// Leaving it there keeps the listener readable, and a level-triggered loop would spin at full
/// CPU, failing to accept it again and again. So: give back the spare descriptor, accept the
/// connection with it, close it at once (its client sees the connection end, instead of
/// hanging), and take the spare again.
///
/// Returns whether a connection was refused: not always, because accept takes a descriptor
/// before it looks at the queue, so it fails with `EMFILE` even when the queue is empty.
pub fn refuse_one(listener: &TcpListener, reserve: &mut Option<File>) -> bool {
    // A spare lost earlier (see below) is taken again as soon as a descriptor is free.
    let Some(spare) = reserve.take().or_else(|| File::open("/dev/null").ok()) else {
        // No spare and none to be had: refusing is impossible, and waiting again at once
        // would spin. Pause, as a blocking accept loop does, and let the next wait retry.
        thread::sleep(OUT_OF_DESCRIPTORS_PAUSE);
        return false;
    };
    drop(spare);
    let refused = match listener.accept() {
        Ok((stream, _)) => {
            drop(stream);
            true
        }
        Err(_) => false,
    };
    // In one thread this cannot fail for lack of descriptors: we hold no more than before the
    // spare was given back. But threads share one descriptor table, and in the multi-reactor
    // another loop's accept may take the one we just freed; then the spare is lost until a
    // descriptor is free again, and the pause above keeps this loop from spinning meanwhile.
    *reserve = File::open("/dev/null").ok();
    refused
}
// ANCHOR_END: refuse

/// When to give up on lingering connections: tokens to act on at given times, earliest first.
///
/// Every linger lasts equally long, so deadlines arrive in the order they expire and a
/// `VecDeque` is all the timer wheel the loop needs. The loop sleeps in `epoll_wait` no
/// longer than until the earliest one.
#[derive(Debug, Default)]
pub struct Deadlines {
    queue: VecDeque<(Instant, u64)>,
}

impl Deadlines {
    /// Remembers to act on `token` at `deadline`, which is no earlier than any before it.
    pub fn push(&mut self, deadline: Instant, token: u64) {
        self.queue.push_back((deadline, token));
    }

    /// How long `epoll_wait` may sleep: until the earliest deadline, or for ever if none.
    pub fn timeout(&self) -> EpollTimeout {
        match self.queue.front() {
            None => EpollTimeout::NONE,
            Some(&(deadline, _)) => {
                // Rounded up: waking early would spin through the loop until the deadline.
                let ms = deadline
                    .saturating_duration_since(Instant::now())
                    .as_millis()
                    + 1;
                EpollTimeout::try_from(ms).unwrap_or(EpollTimeout::MAX)
            }
        }
    }

    /// Takes the next token whose deadline is past `now`, if any.
    pub fn pop_expired(&mut self, now: Instant) -> Option<u64> {
        let &(deadline, token) = self.queue.front()?;
        if deadline > now {
            return None;
        }
        self.queue.pop_front();
        Some(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deadlines_come_out_in_order_once_due() {
        let start = Instant::now();
        let mut deadlines = Deadlines::default();
        assert_eq!(deadlines.timeout(), EpollTimeout::NONE);
        deadlines.push(start + Duration::from_secs(1), 7);
        deadlines.push(start + Duration::from_secs(2), 8);
        assert_ne!(deadlines.timeout(), EpollTimeout::NONE);
        assert_eq!(deadlines.pop_expired(start), None);
        assert_eq!(
            deadlines.pop_expired(start + Duration::from_secs(3)),
            Some(7)
        );
        assert_eq!(
            deadlines.pop_expired(start + Duration::from_secs(3)),
            Some(8)
        );
        assert_eq!(deadlines.pop_expired(start + Duration::from_secs(3)), None);
    }
}
