//! A thread per connection: clients served at once, however they interleave.

use std::time::{Duration, Instant};

use super::{settled_threads, threads, BURST, CROWD_REPLY, IDLE, LIMIT};
use crate::contain::server::Server;
use crate::drive::client::{mismatch, secs, show, Client};
use crate::drive::traffic::{self};
use crate::probe::sockets::Table;
use crate::rubric::check::{Category, Check};
use crate::verdict::Verdict;
use crate::{ensure, fail};

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
        // The threads the server has with no client: whatever it starts up front. Each
        // connection must add one to them.
        let baseline = settled_threads(&server)?;
        let want = baseline + IDLE;
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
            if threads >= want {
                return Ok(());
            }
            let pool = if threads > IDLE {
                " (threads started before any client, as a pool's are, serve at most as many \
                 clients at once as there are threads)"
            } else {
                ""
            };
            ensure!(
                Instant::now() < deadline,
                "with {IDLE} clients connected, each served one line and now idle, the server \
                 had {threads} thread{}; with no client connected it had {baseline}. A \
                 thread-per-connection server's threads follow its connections, one for each \
                 open connection on top of those it always has, so it should have had at \
                 least {want}{pool}",
                if threads == 1 { "" } else { "s" },
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
        let _others = traffic::others_served(
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

/// Connects `n` clients, one after another, each of which echoes one line and stays
/// connected: when it returns, every client has been served and is idle.
pub(crate) fn connect_and_echo(server: &Server, n: usize) -> Result<Vec<Client>, Verdict> {
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
pub(super) fn own_line(c: usize, l: usize) -> Vec<u8> {
    let filler: String = (0..(c * 7 + l * 13) % 40)
        .map(|i| char::from(b'a' + ((c + i) % 26) as u8))
        .collect();
    format!("client {c:02}, line {l:02}: {filler}\n").into_bytes()
}

/// The `piece`th third (0, 1 or 2) of `line`.
pub(super) fn third(line: &[u8], piece: usize) -> &[u8] {
    let cut = |k: usize| line.len() * k / 3;
    &line[cut(piece)..cut(piece + 1)]
}

/// Waits (up to 2 s) until the server has read everything the clients on ports `peers`
/// sent: the receive queues of its sockets for them are empty. Whether it has.
pub(super) fn all_read(server: &Server, peers: &[u16]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if Table::read(server.addr().port()).unread(peers) == 0 {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
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
