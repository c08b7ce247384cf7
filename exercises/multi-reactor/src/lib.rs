//! Exercise: the multi-reactor server. Book: `book/src/multi-reactor.md`.
//!
//! N event loops, one per `--workers` (4 by default), each on a thread of its own, each with
//! its own listening socket, epoll instance and connections. The loop itself is your epoll
//! server's: `exercise_epoll::serve(listener)` runs one loop on one listener until it fails,
//! so finish `exercises/epoll` first (its idle connections must cost under 1 KiB each, since
//! `idle-memory` here holds the loops to that). Write:
//! - [`listeners`]: one listener per loop, all on one port, with `SO_REUSEPORT`;
//! - [`serve`]: a thread per listener running the loop, and what to do when one ends.
//!
//! `src/main.rs` already parses the options, calls `listeners` and announces the first
//! listener's address; it then calls `serve`. When you are done, `cargo test -p
//! exercise-multi-reactor` shows full marks. If the book and the grader disagree, the grader
//! is right: tell us.
//!
//! Run your server with `cargo run -p exercise-multi-reactor -- --workers 2` and watch its
//! loops with `ls /proc/PID/task` and `cat /proc/PID/fdinfo/*`.

#![forbid(unsafe_code)]

use std::io;
use std::net::{SocketAddr, TcpListener};

#[allow(unused_imports)] // yours to use in `listeners`
use workbook_kit::bind_reuse_port;

// ANCHOR: stubs
/// Binds `loops` listening sockets to `addr`, all with `SO_REUSEPORT`.
///
/// Graded by: `loops`, `own-connections`, `fair-share`, `idle-memory`.
pub fn listeners(addr: SocketAddr, loops: usize) -> io::Result<Vec<TcpListener>> {
    // TODO: bind the first listener to `addr` with `bind_reuse_port` (it sets SO_REUSEPORT
    // before binding, which every socket of the group must). Then bind `loops - 1` more the
    // same way, to the address the first one really got: `addr` may ask for port 0, "any
    // port", and each socket asking for port 0 would get a port of its own.
    // Book: "How connections reach the loops".
    todo!("bind {loops} listeners sharing {addr} (book: multi-reactor.md, \"How connections reach the loops\")")
}

/// Runs one event loop per listener, each on its own thread, until one of them ends.
///
/// Graded by: every check, since nothing is served without the loops; above all `loops`,
/// `busy-loop`, `emfile`.
pub fn serve(listeners: Vec<TcpListener>) -> io::Result<()> {
    // TODO: for each listener, start a thread (`std::thread::Builder`, named `loop-0`,
    // `loop-1`, ...: the names show in `top -H`) that runs `exercise_epoll::serve(listener)`.
    // Book: "One loop per core".
    // TODO: a loop returns only if it fails. Then end the server with that error (say which
    // loop it was), rather than run on with fewer loops than asked: wait for the first loop
    // to end, for instance with a `std::sync::mpsc` channel each thread sends its result on.
    // Book: "When a loop ends".
    todo!(
        "run a loop on each of {} listeners (book: multi-reactor.md, \"One loop per core\")",
        listeners.len()
    )
}
// ANCHOR_END: stubs
