//! The server's sockets: the kernel's TCP table for the server's port (from `sock_diag`
//! netlink, see `diag.rs`; from `/proc/net/tcp`, through the `procfs` crate, where netlink
//! is refused) joined with the descriptors of the server's processes, so that a check can
//! ask who holds the server's end of a client's connection, and how much of what the client
//! sent is still unread.

mod diag;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use diag::{Entry, CLOSE_WAIT, ESTABLISHED, LISTEN, TIME_WAIT};

use super::procfs::socket_inodes;

/// The kernel's IPv4 TCP sockets on one port (local or remote), read once.
pub struct Table {
    port: u16,
    entries: Vec<Entry>,
}

/// The server's end of one connection, as the TCP table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// The client's address: the connection's other end.
    pub peer: SocketAddr,
    /// What reached the socket and the server has not read: bytes, plus one for the
    /// client's FIN (its end of stream) until a read has returned 0 for it.
    pub unread: u32,
    /// Bytes the server wrote that have not been taken by the client's side yet.
    pub unsent: u32,
    /// The client has closed its side (`CLOSE_WAIT`): a FIN came, the server has not closed.
    pub peer_closed: bool,
    pub inode: u64,
}

impl Table {
    /// Reads now every socket whose local or remote port is `port`: a server's listener and
    /// its ends of connections, and its clients' ends (empty if the table cannot be read).
    pub fn read(port: u16) -> Table {
        let entries = diag::on_port(port).unwrap_or_else(|_| from_proc(port));
        Table { port, entries }
    }

    /// The inode of the socket with local address `local` and peer `remote`; `None` if there
    /// is none with a descriptor (inode 0: not accepted yet, or closed).
    pub fn inode(&self, local: SocketAddr, remote: SocketAddr) -> Option<u64> {
        self.entries
            .iter()
            .find(|e| e.local == local && e.remote == remote && e.inode != 0)
            .map(|e| e.inode)
    }

    /// The server's ends of the connections accepted on the port that a descriptor still
    /// holds (not the listener, nor ends already closed).
    pub fn ends(&self) -> Vec<End> {
        self.entries
            .iter()
            .filter(|e| e.local.port() == self.port && e.inode != 0)
            .filter(|e| e.state != LISTEN)
            .map(|e| End {
                peer: e.remote,
                unread: e.rx_queue,
                unsent: e.tx_queue,
                peer_closed: e.state == CLOSE_WAIT,
                inode: e.inode,
            })
            .collect()
    }

    /// The inode of the socket listening on `addr`, if any.
    pub fn listener(&self, addr: SocketAddr) -> Option<u64> {
        self.entries
            .iter()
            .find(|e| e.state == LISTEN && e.local == addr && e.inode != 0)
            .map(|e| e.inode)
    }

    /// Bytes that reached the server's sockets on the port from the clients on ports `peers`
    /// but that the server has not read yet (the receive queues).
    pub fn unread(&self, peers: &[u16]) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.local.port() == self.port)
            .filter(|e| peers.contains(&e.remote.port()))
            .map(|e| u64::from(e.rx_queue))
            .sum()
    }

    /// How many of the clients on ports `peers` no longer have an open connection to the
    /// port, as their own ends show: the server closed it (the client's end waits in
    /// `CLOSE_WAIT`) or reset it (the client's end is gone from the table).
    pub fn ended(&self, peers: &[u16]) -> usize {
        let open = self
            .entries
            .iter()
            .filter(|e| e.remote.port() == self.port && e.state == ESTABLISHED)
            .filter(|e| peers.contains(&e.local.port()))
            .count();
        peers.len().saturating_sub(open)
    }
}

/// The sockets of connections that `pids` hold, as (pid, inode), one per descriptor: every
/// socket descriptor but the listeners on `port` and Unix-domain sockets (a loop's wake-up
/// pair, say). The server's end of a connection is a socket for as long as a descriptor
/// holds it, whatever became of the connection: in the TCP table while it lives
/// (`ESTABLISHED`, `CLOSE_WAIT`), in no table once it was reset. So a leaked end is found
/// either way.
pub fn connection_sockets(pids: &[i32], port: u16) -> Vec<(i32, u64)> {
    let held: Vec<(i32, u64)> = pids
        .iter()
        .flat_map(|&pid| {
            socket_inodes(pid)
                .into_iter()
                .map(move |inode| (pid, inode))
        })
        .collect();
    // Read after the descriptors: a socket made since is left out, not misread.
    let listeners: HashSet<u64> = Table::read(port)
        .entries
        .iter()
        .filter(|e| e.state == LISTEN)
        .map(|e| e.inode)
        .collect();
    let unix: HashSet<u64> = procfs::net::unix()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.inode)
        .collect();
    held.into_iter()
        .filter(|(_, inode)| !listeners.contains(inode) && !unix.contains(inode))
        .collect()
}

/// The inode of the socket listening on `addr`, if any: [`Table::listener`], asking the
/// kernel about listeners only.
pub fn listener(addr: SocketAddr) -> Option<u64> {
    match addr {
        SocketAddr::V4(v4) => match diag::listener(v4) {
            Ok(found) => held(found),
            Err(_) => Table::read(addr.port()).listener(addr),
        },
        SocketAddr::V6(_) => None,
    }
}

/// [`Table::inode`] for one connection, looked up alone.
pub fn inode(local: SocketAddr, remote: SocketAddr) -> Option<u64> {
    match (local, remote) {
        (SocketAddr::V4(l), SocketAddr::V4(r)) => match diag::connection(l, r) {
            Ok(found) => held(found),
            Err(_) => Table::read(local.port()).inode(local, remote),
        },
        _ => None,
    }
}

/// The inode of `found`, if a descriptor holds it (0: none does).
fn held(found: Option<Entry>) -> Option<u64> {
    found.map(|e| e.inode).filter(|&inode| inode != 0)
}

/// The sockets on `port` from `/proc/net/tcp`, which lists every socket of the machine, but
/// those in `TIME_WAIT`, as [`diag::on_port`] does.
fn from_proc(port: u16) -> Vec<Entry> {
    let table = procfs::net::tcp().unwrap_or_default();
    table
        .into_iter()
        .filter(|e| e.local_address.port() == port || e.remote_address.port() == port)
        .filter(|e| e.state.to_u8() != TIME_WAIT)
        .map(|e| Entry {
            local: e.local_address,
            remote: e.remote_address,
            state: e.state.to_u8(),
            rx_queue: e.rx_queue,
            tx_queue: e.tx_queue,
            inode: e.inode,
        })
        .collect()
}

/// Which processes hold which socket inodes, for a set of processes at one moment.
pub struct Holders(HashMap<u64, Vec<i32>>);

impl Holders {
    /// The socket descriptors of each process in `pids`.
    pub fn of(pids: impl IntoIterator<Item = i32>) -> Holders {
        let mut by_inode: HashMap<u64, Vec<i32>> = HashMap::new();
        for pid in pids {
            for inode in socket_inodes(pid) {
                let holders = by_inode.entry(inode).or_default();
                if !holders.contains(&pid) {
                    holders.push(pid);
                }
            }
        }
        Holders(by_inode)
    }

    /// The processes that hold `inode` (empty if none does).
    pub fn of_inode(&self, inode: u64) -> &[i32] {
        self.0.get(&inode).map(Vec::as_slice).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_connection_its_holder_and_its_unread_bytes() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        client.write_all(b"unread\n").unwrap();
        let me = std::process::id() as i32;
        let peer = client.local_addr().unwrap();
        let found = super::super::settle::poll(std::time::Duration::from_secs(2), || {
            let table = Table::read(addr.port());
            (table.unread(&[peer.port()]) == 7).then_some(table)
        })
        .expect("the 7 bytes show in the receive queue");
        let inode = found.inode(accepted.local_addr().unwrap(), peer).unwrap();
        assert_eq!(Holders::of([me]).of_inode(inode), &[me]);
        let listening = found.listener(addr).unwrap();
        assert_eq!(Holders::of([me]).of_inode(listening), &[me]);
    }

    #[test]
    fn netlink_and_proc_see_the_same_sockets_on_a_port_and_none_other() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let _elsewhere = std::net::TcpStream::connect(other.local_addr().unwrap()).unwrap();
        let (_accepted, _) = listener.accept().unwrap();
        client.write_all(b"abc").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let sorted = |mut v: Vec<Entry>| {
            v.sort_by_key(|e| (e.local, e.remote));
            v
        };
        // Polled: the bytes and the FIN reach the server's end a moment after the write.
        let seen = super::super::settle::poll(std::time::Duration::from_secs(2), || {
            let by_netlink = sorted(diag::on_port(port).expect("sock_diag answers"));
            let by_proc = sorted(from_proc(port));
            let settled = by_netlink
                .iter()
                .any(|e| e.state == CLOSE_WAIT && e.rx_queue == 4);
            (settled && by_netlink == by_proc).then_some(by_netlink)
        })
        .expect("netlink and /proc/net/tcp agree");
        // The listener, the server's end, the client's end: nothing of the other port.
        assert_eq!(seen.len(), 3, "{seen:?}");
        let table = Table {
            port,
            entries: seen.clone(),
        };
        let addr = listener.local_addr().unwrap();
        assert_eq!(super::listener(addr), table.listener(addr));
        assert!(super::listener(addr).is_some());
        let peer = client.local_addr().unwrap();
        assert_eq!(super::inode(addr, peer), table.inode(addr, peer));
        assert!(super::inode(addr, peer).is_some());
        assert_eq!(super::inode(addr, other.local_addr().unwrap()), None);
        assert!(seen
            .iter()
            .any(|e| e.state == LISTEN && e.local.port() == port));
        assert!(seen.iter().any(|e| e.remote.port() == port && e.inode != 0));
    }

    #[test]
    fn a_connection_the_server_closed_has_ended() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let kept = std::net::TcpStream::connect(addr).unwrap();
        let closed = std::net::TcpStream::connect(addr).unwrap();
        let (_first, _) = listener.accept().unwrap();
        drop(listener.accept().unwrap());
        let peers = [
            kept.local_addr().unwrap().port(),
            closed.local_addr().unwrap().port(),
        ];
        let ended = super::super::settle::poll(std::time::Duration::from_secs(2), || {
            Some(Table::read(addr.port()).ended(&peers)).filter(|&n| n == 1)
        });
        assert_eq!(ended, Some(1));
    }

    #[test]
    fn an_unread_end_of_stream_counts_as_one_byte() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let (_accepted, _) = listener.accept().unwrap();
        client.write_all(b"abc").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let peer = client.local_addr().unwrap();
        let end = super::super::settle::poll(std::time::Duration::from_secs(2), || {
            let ends = Table::read(addr.port()).ends();
            ends.into_iter().find(|e| e.peer == peer && e.peer_closed)
        })
        .expect("the server's end is in CLOSE_WAIT");
        assert_eq!((end.unread, end.unsent), (4, 0), "{end:?}");
    }

    #[test]
    fn connection_sockets_are_the_ends_held_open_whatever_became_of_them() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (live_end, _) = listener.accept().unwrap();
        let reset = socket2::Socket::from(std::net::TcpStream::connect(addr).unwrap());
        let (ended, _) = listener.accept().unwrap();
        let _pair = std::os::unix::net::UnixStream::pair().unwrap();
        let inode = |s: &std::net::TcpStream| {
            Table::read(addr.port())
                .inode(s.local_addr().unwrap(), s.peer_addr().unwrap())
                .unwrap()
        };
        let (live, ended_inode) = (inode(&live_end), inode(&ended));
        reset.set_linger(Some(std::time::Duration::ZERO)).unwrap();
        drop(reset);
        // Reset, the held end leaves the TCP table, and is still a connection's socket.
        let gone = super::super::settle::poll(std::time::Duration::from_secs(2), || {
            let table = Table::read(addr.port());
            (!table.ends().iter().any(|e| e.inode == ended_inode)).then_some(())
        });
        assert_eq!(gone, Some(()), "the reset end left the table");
        let me = std::process::id() as i32;
        let found: Vec<u64> = connection_sockets(&[me], addr.port())
            .into_iter()
            .map(|(pid, inode)| {
                assert_eq!(pid, me);
                inode
            })
            .collect();
        let mut expected = vec![live, ended_inode];
        expected.sort_unstable();
        // This test's process may hold sockets of other tests' on other ports: only those two
        // of this port's, and neither the listener nor the Unix pair.
        let listening = Table::read(addr.port()).listener(addr).unwrap();
        assert!(!found.contains(&listening));
        for inode in &expected {
            assert!(found.contains(inode), "{inode} not in {found:?}");
        }
        let pair: Vec<u64> = procfs::net::unix()
            .unwrap()
            .into_iter()
            .map(|e| e.inode)
            .filter(|i| socket_inodes(std::process::id() as i32).contains(i))
            .collect();
        assert!(pair.len() >= 2, "the pair is in /proc/net/unix");
        assert!(pair.iter().all(|i| !found.contains(i)));
    }
}
