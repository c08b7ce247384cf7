//! The kernel's TCP table for one port, through `sock_diag` netlink (what `ss` uses).
//!
//! Why not `/proc/net/tcp`: it lists every TCP socket of the machine as text, and the kernel
//! formats each line and seeks back through its hash table for each page read. With a dozen
//! gradings at once, each with 1,000 connections, reading it took a third of the machine's
//! CPU. Here the kernel runs a filter (`sport == P || dport == P`) and sends only the
//! matching sockets, in binary.
//!
//! Requests and replies are built and read as bytes: the layouts are those of
//! `linux/netlink.h`, `linux/sock_diag.h` and `linux/inet_diag.h`.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    recv, sendto, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

/// One socket, as the kernel reports it: the fields `/proc/net/tcp` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The TCP state, numbered as the kernel numbers it (`include/net/tcp_states.h`).
    pub state: u8,
    /// Received, not yet read (a listener: connections waiting to be accepted).
    pub rx_queue: u32,
    /// Written, not yet acknowledged (a listener: 0).
    pub tx_queue: u32,
    /// 0 for sockets no descriptor holds (a handshake under way, `TIME_WAIT`).
    pub inode: u64,
}

pub const ESTABLISHED: u8 = 1;
pub const LISTEN: u8 = 10;
pub const CLOSE_WAIT: u8 = 8;
pub const TIME_WAIT: u8 = 6;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_MULTI: u16 = 0x2;
const INET_DIAG_REQ_BYTECODE: u16 = 1;
const IPPROTO_TCP: u8 = 6;
const AF_INET: u8 = 2;
// The filter's operations (`enum` in inet_diag.h).
const BC_JMP: u8 = 1;
const BC_S_GE: u8 = 2;
const BC_S_LE: u8 = 3;
const BC_D_GE: u8 = 4;
const BC_D_LE: u8 = 5;

/// Every IPv4 TCP socket whose local or remote port is `port`, but those in `TIME_WAIT`
/// (closed, inode 0, and by far the most numerous after many short connections).
pub fn on_port(port: u16) -> io::Result<Vec<Entry>> {
    let all_but_time_wait = !(1u32 << TIME_WAIT);
    ask(&request(
        all_but_time_wait,
        [0; 48],
        &port_filter(port),
        true,
    ))
}

/// The socket listening on `addr`, if any. The kernel looks in its table of listeners only,
/// not through every connection.
pub fn listener(addr: SocketAddrV4) -> io::Result<Option<Entry>> {
    let mut id = [0; 48];
    id[0..2].copy_from_slice(&addr.port().to_be_bytes());
    let found = ask(&request(1 << LISTEN, id, &[], true))?;
    Ok(found.into_iter().find(|e| e.local == SocketAddr::V4(addr)))
}

/// The socket with local address `local` and peer `remote`, if any: one lookup in the
/// kernel's hash table.
pub fn connection(local: SocketAddrV4, remote: SocketAddrV4) -> io::Result<Option<Entry>> {
    let mut id = [0; 48];
    id[0..2].copy_from_slice(&local.port().to_be_bytes());
    id[2..4].copy_from_slice(&remote.port().to_be_bytes());
    id[4..8].copy_from_slice(&local.ip().octets());
    id[20..24].copy_from_slice(&remote.ip().octets());
    // INET_DIAG_NOCOOKIE: any socket with those addresses.
    id[40..48].fill(0xff);
    // Where no connection matches, the kernel's lookup finds the listener on `local`.
    let exact = |e: &Entry| e.local == SocketAddr::V4(local) && e.remote == SocketAddr::V4(remote);
    match ask(&request(u32::MAX, id, &[], false)) {
        Ok(found) => Ok(found.into_iter().find(exact)),
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ENOENT as i32) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sends `request` and collects the sockets of the reply.
fn ask(request: &[u8]) -> io::Result<Vec<Entry>> {
    // Owned here, so closed on every way out; the calls below take its raw number.
    let netlink = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )?;
    let fd = netlink.as_raw_fd();
    sendto(fd, request, &NetlinkAddr::new(0, 0), MsgFlags::empty())?;
    let mut entries = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = recv(fd, &mut buf, MsgFlags::empty())?;
        if n == 0 {
            return Err(io::Error::other(
                "sock_diag: the kernel's reply ended early",
            ));
        }
        if read_reply(&buf[..n], &mut entries)? {
            return Ok(entries);
        }
    }
}

/// A filter that keeps the sockets with `port` at either end.
fn port_filter(port: u16) -> Vec<u8> {
    // A little program: a jump's offsets count bytes from the operation, landing exactly at
    // the end accepts, 4 bytes past it rejects; and the kernel requires every jump to land on
    // an operation reached by the "yes" path. Each port test is followed by a word whose
    // last two bytes hold the port.
    let op = |code: u8, yes: u8, no: u16| [code, yes, no.to_ne_bytes()[0], no.to_ne_bytes()[1]];
    let port_word = op(0, 0, port);
    let mut filter = Vec::new();
    filter.extend(op(BC_S_GE, 8, 20)); //  0: local port >= P, else try the remote port (20)
    filter.extend(port_word);
    filter.extend(op(BC_S_LE, 8, 12)); //  8: local port <= P, else try the remote port (20)
    filter.extend(port_word);
    filter.extend(op(BC_JMP, 4, 20)); // 16: the local port is P: accept (36)
    filter.extend(op(BC_D_GE, 8, 20)); // 20: remote port >= P, else reject (40)
    filter.extend(port_word);
    filter.extend(op(BC_D_LE, 8, 12)); // 28: remote port <= P: accept (36), else reject (40)
    filter.extend(port_word);
    filter
}

/// A request for the sockets in `states` (a bit per state) that match `id` (a `struct
/// inet_diag_sockid`: zeros match anything in a dump) and `filter`: every one (`dump`), or
/// the one `id` names exactly.
fn request(states: u32, id: [u8; 48], filter: &[u8], dump: bool) -> Vec<u8> {
    let attr_len = if filter.is_empty() {
        0
    } else {
        4 + filter.len()
    };
    let total = 16 + 56 + attr_len;
    let flags = if dump {
        NLM_F_REQUEST | NLM_F_DUMP
    } else {
        NLM_F_REQUEST
    };
    let mut msg = Vec::with_capacity(total);
    // struct nlmsghdr
    msg.extend((total as u32).to_ne_bytes());
    msg.extend(SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    msg.extend(flags.to_ne_bytes());
    msg.extend(1u32.to_ne_bytes()); // sequence number
    msg.extend(0u32.to_ne_bytes()); // port id: the kernel's

    // struct inet_diag_req_v2: family, protocol, extensions, padding, states, socket id
    msg.extend([AF_INET, IPPROTO_TCP, 0, 0]);
    msg.extend(states.to_ne_bytes());
    msg.extend(id);
    if !filter.is_empty() {
        // struct nlattr, then the filter
        msg.extend((attr_len as u16).to_ne_bytes());
        msg.extend(INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        msg.extend(filter);
    }
    msg
}

/// Reads one datagram of the reply into `entries`; `true` once it is complete: a dump ends
/// with `NLMSG_DONE`, an exact lookup with its one socket.
fn read_reply(mut bytes: &[u8], entries: &mut Vec<Entry>) -> io::Result<bool> {
    let short = || io::Error::other("sock_diag: a reply shorter than its header says");
    while bytes.len() >= 16 {
        let len = u32::from_ne_bytes(bytes[0..4].try_into().unwrap_or_default()) as usize;
        let kind = u16::from_ne_bytes([bytes[4], bytes[5]]);
        if len < 16 || len > bytes.len() {
            return Err(short());
        }
        let payload = &bytes[16..len];
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = payload.get(0..4).ok_or_else(short)?;
                let errno = i32::from_ne_bytes(errno.try_into().unwrap_or_default());
                return Err(io::Error::from_raw_os_error(-errno));
            }
            SOCK_DIAG_BY_FAMILY => {
                entries.push(entry(payload).ok_or_else(short)?);
                let multipart = u16::from_ne_bytes([bytes[6], bytes[7]]) & NLM_F_MULTI != 0;
                if !multipart {
                    return Ok(true);
                }
            }
            _ => {}
        }
        // Messages are aligned to 4 bytes.
        bytes = bytes.get((len + 3) & !3..).unwrap_or_default();
    }
    Ok(false)
}

/// A `struct inet_diag_msg`: state, then the socket id (ports and addresses in network
/// order), then the queues and the inode.
fn entry(p: &[u8]) -> Option<Entry> {
    let word = |at: usize| Some(u32::from_ne_bytes(p.get(at..at + 4)?.try_into().ok()?));
    let addr = |port_at: usize, ip_at: usize| {
        let port = u16::from_be_bytes(p.get(port_at..port_at + 2)?.try_into().ok()?);
        let ip: [u8; 4] = p.get(ip_at..ip_at + 4)?.try_into().ok()?;
        Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
    };
    let state = *p.get(1)?;
    Some(Entry {
        state,
        local: addr(4, 8)?,
        remote: addr(6, 24)?,
        rx_queue: word(56)?,
        // For a listener, the limit of its accept queue: not what `tx_queue` means.
        tx_queue: if state == LISTEN { 0 } else { word(60)? },
        inode: u64::from(word(68)?),
    })
}
