//! How many of four processes waiting on one shared listener wake up for one connection:
//! waiting in a blocking `accept`, in `epoll_wait`, and in `epoll_wait` with
//! `EPOLLEXCLUSIVE`. Not the server: four children, one client. A child that gets back from
//! its wait says so on a pipe; one that the kernel woke but put back to sleep says nothing,
//! and only its count of context switches (`/proc/PID/status`) shows that it ran.
//! Run it with `cargo run -q -p book-listings --bin prefork-herd`.

use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::thread::sleep;
use std::time::Duration;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pause, pipe, write, ForkResult, Pid};

const WAITERS: usize = 4;

/// How a child waits for a connection.
#[derive(Clone, Copy)]
enum Wait {
    Accept,
    Epoll(EpollFlags),
}

/// A child's life: wait as `how` says, then write `+` on `report` if it got the connection,
/// `-` if another process took it first; then sleep until killed.
fn waiter(listener: &TcpListener, how: Wait, report: &OwnedFd) -> ! {
    if let Wait::Epoll(extra) = how {
        let epoll = Epoll::new(EpollCreateFlags::empty()).expect("an epoll instance");
        let event = EpollEvent::new(EpollFlags::EPOLLIN | extra, 0);
        epoll.add(listener, event).expect("the listener in it");
        let mut events = [EpollEvent::empty()];
        epoll.wait(&mut events, EpollTimeout::NONE).expect("a wait");
    }
    // After epoll the listener is non-blocking: accept says at once if it is too late.
    let got = listener.accept().is_ok();
    let _ = write(report, if got { b"+" } else { b"-" });
    loop {
        pause();
    }
}

/// How many times `pid` has been switched off a CPU: once more each time it slept again.
fn switches(pid: Pid) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .filter(|l| l.contains("ctxt_switches:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

fn round(listener: &TcpListener, how: Wait, name: &str) -> nix::Result<()> {
    let (reports, report) = pipe()?;
    let mut children: Vec<Pid> = Vec::new();
    for _ in 0..WAITERS {
        // Safe: this program has one thread.
        match unsafe { fork() }? {
            ForkResult::Child => waiter(listener, how, &report),
            ForkResult::Parent { child } => children.push(child),
        }
    }
    drop(report);
    sleep(Duration::from_millis(200)); // long enough for all four to be waiting
    let before: Vec<u64> = children.iter().map(|&c| switches(c)).collect();
    let _client = TcpStream::connect(listener.local_addr().expect("an address"));
    sleep(Duration::from_millis(200)); // long enough for every woken child to be done
    let ran = children
        .iter()
        .zip(&before)
        .filter(|(&c, &b)| switches(c) > b)
        .count();
    for &child in &children {
        kill(child, Signal::SIGKILL)?;
        waitpid(child, None)?;
    }
    // Every writer has ended, so the read ends at EOF.
    let mut said = Vec::new();
    fs::File::from(reports)
        .read_to_end(&mut said)
        .expect("the reports");
    println!(
        "{name:<28} {ran} of {WAITERS} woke up, {} came back from the wait",
        said.len()
    );
    Ok(())
}

fn main() -> nix::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a listener");
    round(&listener, Wait::Accept, "blocking accept:")?;
    listener.set_nonblocking(true).expect("non-blocking");
    round(&listener, Wait::Epoll(EpollFlags::empty()), "epoll_wait:")?;
    let exclusive = Wait::Epoll(EpollFlags::EPOLLEXCLUSIVE);
    round(&listener, exclusive, "epoll_wait, EPOLLEXCLUSIVE:")?;
    Ok(())
}
