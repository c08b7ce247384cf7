//! Signals of one kind do not queue: five children end while `SIGCHLD` is held back, and
//! the handler runs once for all five. Not the server: the handler only counts, and the
//! parent collects its children at the end with a blocking `waitpid`.
//! Run it with `cargo run -q -p book-listings --bin forking-merge`.

use std::ffi::c_int;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::Duration;

use nix::sys::signal::{
    sigaction, sigprocmask, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal,
};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult};

/// How many times the handler has run.
static RUNS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count(_signal: c_int) {
    RUNS.fetch_add(1, Ordering::SeqCst);
}

fn main() -> nix::Result<()> {
    // ANCHOR: install
    let action = SigAction::new(
        SigHandler::Handler(count),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only adds to an atomic, which is async-signal-safe.
    unsafe { sigaction(Signal::SIGCHLD, &action) }?;
    // ANCHOR_END: install

    // Hold SIGCHLD back, as a busy machine or a parent inside another handler would.
    let mut sigchld = SigSet::empty();
    sigchld.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&sigchld), None)?;
    for _ in 0..5 {
        // Safe: this program has one thread.
        if let ForkResult::Child = unsafe { fork() }? {
            std::process::exit(0);
        }
    }
    sleep(Duration::from_millis(200)); // all five have ended by now
    sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&sigchld), None)?; // delivered here
    let runs = RUNS.load(Ordering::SeqCst);
    println!("5 children ended; the handler ran {runs} time(s)");

    let mut reaped = 0;
    while waitpid(None, None).is_ok() {
        reaped += 1; // ends with ECHILD: no children left
    }
    println!("the parent reaped {reaped} zombies afterwards");
    Ok(())
}
