//! A process's epoll instances, as `/proc/PID/fdinfo` shows them: what each one watches, and
//! for which events. It tells a loop that asks for the wrong thing (`EPOLLOUT` with nothing
//! to write, say) from one that is merely busy.
//!
//! The fdinfo of an epoll descriptor has one line per watched descriptor (proc(5)):
//! `tfd:        5 events:       19 data:                2  pos:0 ino:7e9f8 sdev:9`, where
//! `events` is the registered mask in hex and `ino` the watched file's inode, also in hex.

use std::fs;

/// `EPOLLOUT` in an event mask: report the descriptor when it is writable.
pub const EPOLLOUT: u32 = 0x004;

/// `EPOLLET` in an event mask: report changes only (edge-triggered).
pub const EPOLLET: u32 = 1 << 31;

/// One descriptor an epoll instance watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watched {
    /// Its number in the process that registered it.
    pub fd: i32,
    /// The events it is registered for.
    pub events: u32,
    /// The inode of the file it is: for a socket, the inode `/proc/net/tcp` shows.
    pub inode: u64,
}

impl Watched {
    /// Level-triggered and registered for writability: reported by every wait while its
    /// send buffer has room, which is nearly always.
    pub fn wants_write_level(&self) -> bool {
        self.events & EPOLLOUT != 0 && self.events & EPOLLET == 0
    }
}

/// One epoll instance: the descriptor a process has it open as, and what it watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The process that has it open.
    pub pid: i32,
    /// Its descriptor number in that process.
    pub fd: i32,
    /// What it watches, in the order fdinfo lists it.
    pub watched: Vec<Watched>,
}

impl Instance {
    /// Whether it watches the file with this inode.
    pub fn watches(&self, inode: u64) -> bool {
        self.watched.iter().any(|w| w.inode == inode)
    }
}

/// The epoll instances `pid` has open, in descriptor order (empty if none, or if the process
/// is gone). Threads share their process's descriptors, so this is every instance of every
/// thread of `pid`.
pub fn instances(pid: i32) -> Vec<Instance> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut found: Vec<Instance> = fds
        .flatten()
        .filter(|fd| {
            fs::read_link(fd.path()).is_ok_and(|to| to.as_os_str() == "anon_inode:[eventpoll]")
        })
        .filter_map(|fd| {
            let fd: i32 = fd.file_name().to_str()?.parse().ok()?;
            let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
            let watched = info.lines().filter_map(parse_line).collect();
            Some(Instance { pid, fd, watched })
        })
        .collect();
    found.sort_by_key(|i| i.fd);
    found
}

/// Every descriptor watched by any epoll instance `pid` has open (empty if none, or if the
/// process is gone).
pub fn watched(pid: i32) -> Vec<Watched> {
    instances(pid)
        .into_iter()
        .flat_map(|instance| instance.watched)
        .collect()
}

/// One `tfd:` line of an epoll descriptor's fdinfo.
fn parse_line(line: &str) -> Option<Watched> {
    let mut words = line.split_whitespace();
    let mut value_of =
        |key: &str| -> Option<&str> { words.by_ref().skip_while(|w| *w != key).nth(1) };
    let fd = value_of("tfd:")?.parse().ok()?;
    let events = u32::from_str_radix(value_of("events:")?, 16).ok()?;
    let inode = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ino:"))
        .and_then(|v| u64::from_str_radix(v, 16).ok())?;
    Some(Watched { fd, events, inode })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_interest_line() {
        let line = "tfd:        6 events: 8000201d data:                6  pos:0 ino:7e9fa sdev:9";
        let w = parse_line(line).unwrap();
        assert_eq!(w.fd, 6);
        assert_eq!(w.events, 0x8000_201d);
        assert_eq!(w.inode, 0x7e9fa);
        assert!(!w.wants_write_level(), "edge-triggered");
        let level = parse_line("tfd: 7 events: 1d data: 7 pos:0 ino:10 sdev:9").unwrap();
        assert!(level.wants_write_level());
        assert_eq!(parse_line("pos:\t0"), None);
    }

    #[test]
    fn reads_its_own_epoll_instance() {
        use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).unwrap();
        let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT;
        epoll.add(&listener, EpollEvent::new(flags, 9)).unwrap();
        let inode = super::super::sockets::listener(listener.local_addr().unwrap()).unwrap();
        let found = watched(std::process::id() as i32);
        let ours = found
            .iter()
            .find(|w| w.inode == inode)
            .expect("our listener");
        assert!(ours.wants_write_level(), "{ours:?}");
        let mine = instances(std::process::id() as i32);
        let holder = mine
            .iter()
            .find(|i| i.watches(inode))
            .expect("our instance");
        assert_eq!(holder.fd, std::os::fd::AsRawFd::as_raw_fd(&epoll.0));
    }
}
