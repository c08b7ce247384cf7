//! Signalling a process by identity, not by number.
//!
//! A pid is only a number: once its process has been reaped, the kernel may hand it to any
//! new process on the machine, and a `kill(pid)` then hits a stranger. The grader and the
//! shepherd never signal a process they merely saw in `/proc` that way. They open a pidfd
//! on the number (a handle on whatever process holds it now), check through `/proc` that
//! the process holding it is still the one they saw (same start time), and signal through
//! the handle. If the process ended in between, the handle names the dead one and the
//! signal fails with `ESRCH`; it never reaches the newcomer.
//!
//! nix has no pidfd calls (0.31), hence the two `libc::syscall`s.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::probe::procfs;

/// Sends `signal` to the process `pid` if it is still the one that started at `start`
/// (clock ticks since boot, as [`procfs::Proc::start`]). Returns whether it was sent.
pub fn signal_if_same(pid: i32, start: u64, signal: Signal) -> bool {
    if pid <= 0 {
        return false; // 0 and -1 mean groups and "everyone" to kill(2): never
    }
    let Ok(handle) = open(pid) else {
        return false;
    };
    // Checked after opening: the handle now pins whichever process we are about to judge.
    if procfs::read(pid).is_none_or(|p| p.start != start || p.is_zombie()) {
        return false;
    }
    send(&handle, signal).is_ok()
}

fn open(pid: i32) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags by value and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this descriptor to us, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn send(handle: &OwnedFd, signal: Signal) -> nix::Result<()> {
    let null = std::ptr::null::<libc::siginfo_t>();
    // SAFETY: a valid pidfd, a signal number, a null siginfo (the kernel fills in one as for
    // kill(2)) and no flags.
    let done = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            handle.as_raw_fd(),
            signal as i32,
            null,
            0,
        )
    };
    Errno::result(done).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_signalled_only_while_it_is_the_same() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let start = procfs::read(pid).unwrap().start;
        assert!(
            !signal_if_same(pid, start + 1, Signal::SIGKILL),
            "wrong start"
        );
        assert!(signal_if_same(pid, start, Signal::SIGKILL));
        child.wait().unwrap();
        assert!(!signal_if_same(pid, start, Signal::SIGKILL), "reaped");
    }
}
