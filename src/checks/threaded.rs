//! The threaded server's own checks: one process, a thread per open connection, every client
//! served at once, per-connection state kept apart, threads that end, and a server that
//! survives when no thread can be created. Book: `book/src/threaded.md`.

use std::time::{Duration, Instant};

use crate::check::{Category, Check, Outcome, Verdict};
use crate::checks::common::{self, round};
use crate::client::{mismatch, secs, show, Client, REPLY};
use crate::procfs;
use crate::server::Server;
use crate::shepherd::Limits;
use crate::{ensure, fail};

const LIMIT: Duration = Duration::from_secs(20);

/// Clients kept connected and idle when threads are counted.
const IDLE: usize = 50;

/// Clients connected at once in `many-clients`.
const BURST: usize = 200;

/// How long the clients of a crowd (`many-clients`, `interleaved`) have, all together, to get
/// their echoes: hundreds of threads start on a busy 2-core machine meanwhile.
const CROWD_REPLY: Duration = Duration::from_secs(5);

/// The threaded rubric: the shared checks, then this architecture's.
pub fn rubric() -> Vec<&'static Check> {
    let mut checks = common::rubric();
    checks.extend([
        &THREAD_PER_CONNECTION,
        &STALLED_CLIENT,
        &MANY_CLIENTS,
        &INTERLEAVED,
        &THREADS_END,
        &SPAWN_FAILURE,
    ]);
    checks
}

pub static THREAD_PER_CONNECTION: Check = Check {
    id: "thread-per-connection",
    category: Category::Concurrency,
    points: 10,
    summary: "with 50 clients connected and idle: one process, and a thread for each client",
    hint: "accept in one loop and start a thread (thread::Builder::spawn) for every connection; \
           no fork, and no fixed number of threads",
    book: "threaded.md#spawning-a-thread-per-connection",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let _clients = connect_and_echo(&server, IDLE)?;
        // Each client has had its echo, so its thread exists; the poll only forgives a
        // /proc snapshot taken while a thread was still being set up.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let children = server
                .tree()
                .iter()
                .filter(|p| p.pid != server.pid() && !p.is_zombie())
                .count();
            ensure!(
                children == 0,
                "with {IDLE} clients connected and idle, the server had {children} child \
                 processes; a threaded server serves every connection in its one process, on \
                 a thread of its own, and never forks"
            );
            let threads = threads(&server)?;
            if threads > IDLE {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "with {IDLE} clients connected, each served one line and now idle, the server \
                 had {threads} thread{}; a thread-per-connection server has one per open \
                 connection plus the accept thread, at least {}",
                if threads == 1 { "" } else { "s" },
                IDLE + 1
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    },
};

pub static STALLED_CLIENT: Check = Check {
    id: "stalled-client",
    category: Category::Concurrency,
    points: 10,
    summary: "a client that connects and says nothing does not delay the clients after it",
    hint: "the accept thread must only accept and start threads: any read from a client (or \
           any wait for a thread) on it holds up every connection behind that client",
    book: "threaded.md#keep-the-accept-thread-free",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut stalled = Client::connect_with(server.addr(), None, "client 1")?;
        let _others = common::others_served(
            &server,
            "client 1 connected first and has sent nothing since",
        )?;
        stalled
            .echo(b"client 1 speaks at last\n")
            .map_err(|v| v.context("after clients 2 to 4 were served"))
    },
};

pub static MANY_CLIENTS: Check = Check {
    id: "many-clients",
    category: Category::Concurrency,
    points: 10,
    summary: "200 clients connected at once are all served while all stay connected",
    hint: "start a thread for every connection as soon as it is accepted: a cap on threads, or \
           a pool, leaves the clients beyond it waiting for others to leave",
    book: "threaded.md#where-thread-per-connection-falls-over",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut clients = Client::connect_many(server.addr(), BURST)?;
        let lines: Vec<Vec<u8>> = (1..=BURST)
            .map(|i| format!("client {i} of {BURST}\n").into_bytes())
            .collect();
        for (client, line) in clients.iter_mut().zip(&lines) {
            client.send(line)?;
        }
        let deadline = Instant::now() + CROWD_REPLY;
        let mut served = 0;
        let mut first_unserved = None;
        for (client, line) in clients.iter_mut().zip(&lines) {
            let left = deadline.saturating_duration_since(Instant::now());
            let (got, ending) = client.read_exact_within(line.len(), left);
            if got == *line {
                served += 1;
            } else if first_unserved.is_none() {
                let why = mismatch(line, &got, &ending, CROWD_REPLY);
                first_unserved = Some(format!("{}: {why}", client.name));
            }
        }
        match first_unserved {
            None => Ok(()),
            Some(why) => fail!(
                "{BURST} clients connected at once and each sent one line; {served} of them got \
                 their echo within {}. {why}. Every connection needs its thread as soon as it \
                 is accepted, not once other clients leave",
                secs(CROWD_REPLY)
            ),
        }
    },
};

pub static INTERLEAVED: Check = Check {
    id: "interleaved",
    category: Category::Correctness,
    points: 10,
    summary: "50 clients sending their lines in pieces, interleaved, each get exactly their own",
    hint: "keep each connection's state (its unfinished line above all) in its own thread, as \
           locals; one buffer shared by all threads mixes the clients' bytes",
    book: "threaded.md#sharing-state-safely",
    limit: LIMIT,
    run: |ctx| {
        const WRITERS: usize = 50;
        const LINES: usize = 5;
        let server = ctx.start()?;
        let mut clients = Client::connect_many(server.addr(), WRITERS)?;
        let lines: Vec<Vec<Vec<u8>>> = (1..=WRITERS)
            .map(|c| (1..=LINES).map(|l| own_line(c, l)).collect())
            .collect();
        let peers: Vec<u16> = clients
            .iter()
            .filter_map(|c| c.stream().local_addr().ok())
            .map(|a| a.port())
            .collect();
        let mut in_step = true;
        for l in 0..LINES {
            // Every client sends the first piece of its line, then every client the second,
            // then the third: each thread holds an unfinished line while the others' pieces
            // arrive. The server must have read all the first pieces before the second ones
            // go out; otherwise a server slowed down by a busy machine might read each line
            // whole, and a buffer shared by all would go unnoticed.
            for piece in 0..3 {
                for (client, own) in clients.iter_mut().zip(&lines) {
                    client.send(third(&own[l], piece))?;
                }
                // A server that leaves clients unread (one at a time, say) is left to the
                // echoes below to judge, without more waiting.
                if piece == 0 {
                    in_step = in_step && all_read(&server, &peers);
                }
            }
        }
        let deadline = Instant::now() + CROWD_REPLY;
        for (client, own) in clients.iter_mut().zip(&lines) {
            let want = own.concat();
            let left = deadline.saturating_duration_since(Instant::now());
            let (got, ending) = client.read_exact_within(want.len(), left);
            if got == want {
                continue;
            }
            let back: Vec<&[u8]> = got.split_inclusive(|&b| b == b'\n').collect();
            let why = match own.iter().zip(&back).position(|(sent, came)| sent != came) {
                Some(i) => format!(
                    "{} sent {} and got back {}",
                    client.name,
                    show(&own[i]),
                    show(back[i])
                ),
                None => format!(
                    "{}: {}",
                    client.name,
                    mismatch(&want, &got, &ending, CROWD_REPLY)
                ),
            };
            fail!(
                "{WRITERS} clients each sent {LINES} lines, every line in three pieces with the \
                 other clients' pieces sent in between; {why}. A connection's unfinished line \
                 must be its own, not kept where other connections' bytes land too"
            );
        }
        Ok(())
    },
};

pub static THREADS_END: Check = Check {
    id: "threads-end",
    category: Category::Resources,
    points: 10,
    summary: "when 50 clients leave, the server's thread count returns to its baseline",
    hint: "a connection's thread must return once its client has gone: do not keep it waiting \
           on a channel, a lock or a join that nobody will answer",
    book: "threaded.md#detach-dont-join",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        Client::connect(server.addr())?.echo(b"warming up\n")?;
        let baseline = settled_threads(&server)?;
        let clients = connect_and_echo(&server, IDLE)?;
        let during = threads(&server)?;
        drop(clients);
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let now = threads(&server)?;
            if now <= baseline {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "the server had {baseline} threads before {IDLE} clients connected, {during} \
                 while they were connected, and still {now} 3 s after all of them left: \
                 {} threads outlived their clients",
                now - baseline
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    },
};

/// Threads the server may have in `spawn-failure` (its `RLIMIT_NPROC`).
const THREAD_CAP: usize = 20;

/// Clients connected at once in `spawn-failure`: more than the server can have threads.
const OVER_CAP: usize = 30;

pub static SPAWN_FAILURE: Check = Check {
    id: "spawn-failure",
    category: Category::Robustness,
    points: 5,
    summary: "when no more threads can be created, the server lives on and serves its clients",
    hint: "thread::spawn panics when the OS refuses a thread; use thread::Builder::spawn and, \
           when it returns an error, close that client and keep accepting",
    book: "threaded.md#when-a-thread-cannot-be-created",
    limit: LIMIT,
    run: |ctx| {
        let limits = Limits {
            max_tasks: THREAD_CAP,
            ..Limits::default()
        };
        let server = ctx.start_with(&limits)?;
        if uid(server.pid()) == Some(0) {
            fail!(
                "the server runs as root here, which RLIMIT_NPROC does not bind, so the grader \
                 cannot limit its threads: its binary must be reachable by an unprivileged \
                 user (a checkout under /root is not)"
            );
        }
        served_past_the_cap(&server).map_err(|v| match server.wait_exit(Duration::from_secs(1)) {
            Some(exit) => Verdict::new(format!(
                "{OVER_CAP} clients connected while the server could have at most {THREAD_CAP} \
                 threads (the grader sets RLIMIT_NPROC), so creating a thread failed, and the \
                 server ended ({exit}); thread::spawn panics when that happens"
            )),
            None => v,
        })
    },
};

/// Connects [`OVER_CAP`] clients to a server limited to [`THREAD_CAP`] threads, each sending
/// a line; then the clients that got their echo send a second line, and at least one of them
/// must get it back.
///
/// A client beyond the cap may be closed (the reference does that) or kept waiting; either
/// is fine. What matters is that the server survives and goes on serving the clients it has
/// threads for.
fn served_past_the_cap(server: &Server) -> Outcome {
    let mut clients = Vec::new();
    for i in 1..=OVER_CAP {
        clients.push(Client::connect_with(
            server.addr(),
            None,
            &format!("client {i}"),
        )?);
    }
    let served = round(clients, b"a thread for me?\n");
    ensure!(
        !served.is_empty(),
        "none of {OVER_CAP} clients got an echo of its line within {}",
        secs(REPLY)
    );
    let before = served.len();
    let still = round(served, b"still served?\n");
    ensure!(
        !still.is_empty(),
        "{OVER_CAP} clients connected while the server could have at most {THREAD_CAP} \
         threads; {before} of them got an echo of their first line, but none an echo of a \
         second one within {}",
        secs(REPLY)
    );
    // Not `exit()`, which may not know yet: a server whose accept thread panicked can still
    // be dying (unwinding, printing the panic) while the threads it already had answer both
    // rounds, and the shepherd reports an exit up to a tick later. On a busy machine the
    // known-buggy `threaded-spawn-panics` passed that way.
    match server.wait_exit(Duration::from_millis(500)) {
        Some(exit) => fail!("the server ended ({exit}) while serving {OVER_CAP} clients"),
        None => Ok(()),
    }
}

/// Connects `n` clients, one after another, each of which echoes one line and stays
/// connected: when it returns, every client has been served and is idle.
fn connect_and_echo(server: &Server, n: usize) -> Result<Vec<Client>, Verdict> {
    (1..=n)
        .map(|i| {
            let mut client = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
            client.echo(format!("client {i} checks in\n").as_bytes())?;
            Ok(client)
        })
        .collect()
}

/// Line `l` of client `c`: it names its sender, so a mixed-up echo shows whose bytes it
/// holds, and its length varies so that the pieces cut it at different places.
fn own_line(c: usize, l: usize) -> Vec<u8> {
    let filler: String = (0..(c * 7 + l * 13) % 40)
        .map(|i| char::from(b'a' + ((c + i) % 26) as u8))
        .collect();
    format!("client {c:02}, line {l:02}: {filler}\n").into_bytes()
}

/// The `piece`th third (0, 1 or 2) of `line`.
fn third(line: &[u8], piece: usize) -> &[u8] {
    let cut = |k: usize| line.len() * k / 3;
    &line[cut(piece)..cut(piece + 1)]
}

/// Waits (up to 2 s) until the server has read everything the clients on ports `peers`
/// sent: the receive queues of its sockets for them are empty. Whether it has.
fn all_read(server: &Server, peers: &[u16]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if unread(server.addr().port(), peers) == Some(0) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Bytes that have reached the server's sockets from the clients on ports `peers` but that
/// the server has not read yet: the `rx_queue` column of `/proc/net/tcp`.
fn unread(port: u16, peers: &[u16]) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let port_of = |addr: &str| u16::from_str_radix(addr.rsplit(':').next()?, 16).ok();
    let mut unread = 0;
    // Each row: `sl local_address rem_address st tx_queue:rx_queue ...`, numbers in hex.
    for row in table.lines().skip(1) {
        let fields: Vec<&str> = row.split_whitespace().collect();
        let (Some(local), Some(remote), Some(queues)) =
            (fields.get(1), fields.get(2), fields.get(4))
        else {
            continue;
        };
        if port_of(local) == Some(port) && port_of(remote).is_some_and(|p| peers.contains(&p)) {
            unread += u64::from_str_radix(queues.split(':').nth(1)?, 16).ok()?;
        }
    }
    Some(unread)
}

/// Threads of the server's main process.
fn threads(server: &Server) -> Result<usize, Verdict> {
    procfs::read(server.pid())
        .map(|p| p.threads)
        .ok_or_else(|| Verdict::new("the server's main process is gone"))
}

/// The server's thread count once it has stopped changing (the warm-up client's thread may
/// still be ending).
fn settled_threads(server: &Server) -> Result<usize, Verdict> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let (mut last, mut steady) = (usize::MAX, 0);
    loop {
        let now = threads(server)?;
        steady = if now == last { steady + 1 } else { 0 };
        last = now;
        if steady >= 5 || Instant::now() > deadline {
            return Ok(now);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The real uid of process `pid`.
fn uid(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_named_and_cut_in_three() {
        let line = own_line(7, 3);
        assert!(line.starts_with(b"client 07, line 03: "));
        assert_eq!(line.last(), Some(&b'\n'));
        let pieces: Vec<&[u8]> = (0..3).map(|p| third(&line, p)).collect();
        assert!(pieces.iter().all(|p| !p.is_empty()));
        assert_eq!(pieces.concat(), line);
    }
}
