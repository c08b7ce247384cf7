//! When to give up on lingering connections: a queue of deadlines, earliest first.
//!
//! Every linger lasts equally long, so deadlines arrive in the order they expire and a
//! `VecDeque` is all the timer wheel this server needs. The loop sleeps in `epoll_wait` no
//! longer than until the earliest one.

use std::collections::VecDeque;
use std::time::Instant;

use nix::sys::epoll::EpollTimeout;

/// Tokens to act on at given times.
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
