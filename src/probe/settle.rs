//! Waiting for what a server does next, with a deadline: never a bare sleep.

use std::time::{Duration, Instant};

/// Calls `f` every 10 ms until it returns `Some`, for at most `within`.
pub fn poll<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = f() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
