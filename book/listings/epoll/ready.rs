//! epoll in a few calls: register a socket under a token, wait, and watch level-triggering.
//! Not the server: one end of a socket pair, watched; the other end, written to.
//! Run it with `cargo run -q -p book-listings --bin epoll-ready`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

/// Our name for `near` in the epoll set: any `u64` we like.
const NEAR: u64 = 7;

/// Waits at most 100 ms and prints what epoll reports.
fn wait(epoll: &Epoll, moment: &str) -> nix::Result<()> {
    let mut events = [EpollEvent::empty(); 8];
    let n = epoll.wait(&mut events, 100u8)?;
    let ready: Vec<String> = events[..n]
        .iter()
        .map(|e| format!("token {}: {:?}", e.data(), e.events()))
        .collect();
    println!("{moment:<27} {n} ready {ready:?}");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (near, mut far) = UnixStream::pair()?;
    near.set_nonblocking(true)?;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    epoll.add(&near, EpollEvent::new(EpollFlags::EPOLLIN, NEAR))?;

    wait(&epoll, "nothing sent yet:")?;
    far.write_all(b"ping\n")?;
    wait(&epoll, "after 5 bytes arrived:")?;
    wait(&epoll, "again, nothing read:")?;

    let mut buf = [0u8; 3];
    let n = (&near).read(&mut buf)?;
    println!("read {n} of them");
    wait(&epoll, "2 bytes still unread:")?;
    let n = (&near).read(&mut buf)?;
    println!("read {n} more");
    wait(&epoll, "all read:")?;
    if let Err(e) = (&near).read(&mut buf) {
        println!("one more read: {:?}, {e}", e.kind());
    }

    let both = EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT;
    epoll.modify(&near, &mut EpollEvent::new(both, NEAR))?;
    wait(&epoll, "asking for EPOLLOUT too:")?;
    drop(far);
    wait(&epoll, "after the other end closed:")?;
    println!("a read now returns {} bytes: EOF", (&near).read(&mut buf)?);
    Ok(())
}
