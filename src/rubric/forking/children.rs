//! A child per connection: who holds each connection, and children that end with it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::contain::server::Server;
use crate::drive::client::{secs, show, Client, Ending, MARGIN, REPLY};
use crate::drive::traffic::{self};
use crate::probe::procfs::{self};
use crate::probe::settle::poll;
use crate::probe::sockets::{self, Table};
use crate::rubric::check::{Category, Check};
use crate::{ensure, fail};

use super::{live_children, names, new_since, still_running, Leave, EXIT_GRACE, IDLE, LIMIT};

pub static CHILD_PER_CONNECTION: Check = Check {
    id: "child-per-connection",
    category: Category::Concurrency,
    points: 10,
    summary: "with 20 clients connected and idle: 20 child processes, and a one-thread parent",
    hint: "after each accept, fork: the child serves that connection and the parent goes back \
           to accept at once, in its one thread (no thread::spawn, no waiting for the child)",
    book: "forking.md#a-process-per-connection",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut clients = Client::connect_many(server.addr(), IDLE)?;
        // Connected is not yet accepted: give the parent a moment to fork for each.
        if poll(Duration::from_secs(3), || {
            (live_children(&server).len() == IDLE).then_some(())
        })
        .is_none()
        {
            let n = live_children(&server).len();
            fail!(
                "with {IDLE} clients connected and idle, the server had {n} child process{}; \
                 a forking server has one per open connection",
                if n == 1 { "" } else { "es" }
            );
        }
        let threads = procfs::read(server.pid()).map_or(0, |p| p.threads);
        ensure!(
            threads == 1,
            "with {IDLE} clients connected, the server's main process had {threads} threads; \
             a forking server's parent only accepts and forks, in its one thread"
        );
        for client in &mut clients {
            let line = format!("{} has a process of its own\n", client.name);
            client.echo(line.as_bytes())?;
        }
        // Children existing is not enough (a server may fork idle decoys while it serves
        // every connection itself): which process waits to read each client's next line?
        // A child of its own.
        let mut readers = HashMap::new();
        for client in &clients {
            let Some(reader) = who_reads(&server, client) else {
                fail!(
                    "{} was served, but no process of the server was seen waiting to read \
                     its connection",
                    client.name
                );
            };
            ensure!(
                reader != server.pid(),
                "{} was served by the server's main process (it waits to read the client's \
                 connection); in a forking server the child forked for a connection serves it",
                client.name
            );
            if let Some(other) = readers.insert(reader, client.name.clone()) {
                fail!(
                    "{other} and {} were served by the same process ({reader}); a forking \
                     server gives each connection a child of its own",
                    client.name
                );
            }
        }
        Ok(())
    },
};

pub static STALLED_CLIENT: Check = Check {
    id: "stalled-client",
    category: Category::Concurrency,
    points: 10,
    summary: "a client stalled in the middle of a line does not delay another client's echo",
    hint: "the parent must never read from a client or wait for a child: fork, close the \
           parent's copy of the socket, and go straight back to accept",
    book: "forking.md#a-process-per-connection",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut stalled = Client::connect_with(server.addr(), None, "client 1")?;
        stalled.echo(b"client 1 starts well\n")?;
        stalled.send(b"client 1 stops in the middle of a li")?;
        // Clients 2 to 4 stay connected too: serving one must not depend on another leaving.
        let _others =
            traffic::others_served(&server, "client 1 has sent half a line and nothing since")?;
        stalled.send(b"ne\n")?;
        stalled
            .expect(b"client 1 stops in the middle of a line\n", REPLY)
            .map_err(|v| v.context("client 1 finished its line after clients 2 to 4 were served"))
    },
};

pub static PARENT_CLOSES: Check = Check {
    id: "parent-closes",
    category: Category::Resources,
    points: 10,
    summary: "the parent closes its copy of each client's socket, so a client sees EOF when its \
              child is done",
    hint: "fork duplicates every descriptor: right after fork the parent must drop its \
           TcpStream (and the child its listener), or the connection stays open, and each \
           later child inherits the copy too",
    book: "forking.md#who-closes-what",
    limit: LIMIT,
    run: |ctx| {
        const N: usize = 10;
        let server = ctx.start()?;
        let mut clients = Client::connect_many(server.addr(), N)?;
        // Wait until every client is held by a child and not by the parent. A server that
        // serves clients one at a time never gets there (`stalled-client` grades that): here
        // only the clients held by a child count.
        let deadline = Instant::now() + Duration::from_secs(3);
        let kept = loop {
            let sockets = Sockets::of(&server);
            let held: Vec<Option<Holders>> = clients.iter().map(|c| sockets.holders(c)).collect();
            let kept: Vec<usize> = (1..=N)
                .filter(|&i| {
                    held[i - 1]
                        .as_ref()
                        .is_some_and(|h| h.main && !h.others.is_empty())
                })
                .collect();
            let done = held
                .iter()
                .all(|h| h.as_ref().is_some_and(|h| !h.main && !h.others.is_empty()));
            if done || Instant::now() > deadline {
                break kept;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        ensure!(
            kept.is_empty(),
            "with {N} clients connected, each served by a child, the server's main process \
             still held the sockets of {} of them ({}): its descriptor count grows with every \
             connection, and those clients will not see EOF when their child is done",
            kept.len(),
            names(&kept)
        );
        let first = &mut clients[0];
        first.send(b"goodbye\n")?;
        first.shutdown_write()?;
        let (got, ending) = first.read_to_end(REPLY, MARGIN);
        if got == b"goodbye\n" && ending == Ending::Eof {
            return Ok(());
        }
        let still = match Sockets::of(&server).holders(first) {
            Some(h) => format!(": {}", h.describe(&server)),
            None => String::new(),
        };
        fail!(
            "client 1 sent \"goodbye\\n\" and shut its write side while clients 2 to {N} stayed \
             connected; expected \"goodbye\\n\" and then EOF, got {} {}{still}",
            show(&got),
            match ending {
                Ending::Timeout => format!("and the connection stayed open for {}", secs(REPLY)),
                other => other.to_string(),
            }
        )
    },
};

pub static CHILDREN_EXIT: Check = Check {
    id: "children-exit",
    category: Category::Resources,
    points: 5,
    summary: "a child exits when its client leaves: after a line, mid-line, or with a reset",
    hint: "end the child with std::process::exit once handle_connection returns, whether it \
           returned Ok or Err: a child that returns or `continue`s runs the parent's accept loop",
    book: "forking.md#how-a-child-ends",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let endings: [(&str, Leave); 3] = [
            ("closed its connection after a complete line", |_| Ok(())),
            ("closed its connection in the middle of a line", |mut c| {
                c.send(b"half a li")
            }),
            ("reset its connection in the middle of a line", |mut c| {
                c.send(b"half a li")?;
                c.reset();
                Ok(())
            }),
        ];
        for (i, (how, end)) in endings.into_iter().enumerate() {
            let name = format!("client {}", i + 1);
            let before = live_children(&server);
            let mut client = Client::connect_with(server.addr(), None, &name)?;
            client.echo(format!("{name} will leave soon\n").as_bytes())?;
            let serving = new_since(&live_children(&server), &before);
            end(client)?;
            if let Some(child) = still_running(&server, &serving, EXIT_GRACE).first() {
                fail!(
                    "{name} {how}; {} later the child that served it (pid {}) was still \
                     running: a child must exit as soon as its connection ends, however it ends",
                    secs(EXIT_GRACE),
                    child.pid
                );
            }
        }
        Ok(())
    },
};

/// The process whose thread is blocked reading `client`'s connection (polled: the child may
/// still be on its way back to its read); `None` if none is seen within 2 s.
fn who_reads(server: &Server, client: &Client) -> Option<i32> {
    let local = client.stream().local_addr().ok()?;
    poll(Duration::from_secs(2), || {
        let inode = sockets::inode(server.addr(), local)?;
        let live = server.tree().into_iter().filter(|p| !p.is_zombie());
        live.map(|p| p.pid).find(|&pid| {
            procfs::reading_sockets(pid)
                .iter()
                .any(|&(_, socket)| socket == inode)
        })
    })
}

/// Which of the server's processes hold the server's end of a connection.
pub(crate) struct Holders {
    /// The server's main process is one of them.
    pub(crate) main: bool,
    /// Processes other than the main one.
    pub(crate) others: Vec<i32>,
}

impl Holders {
    /// The holders, in words: "the server's main process (pid 12) and 2 children".
    fn who(&self, server: &Server) -> String {
        let mut who = Vec::new();
        if self.main {
            who.push(format!("the server's main process (pid {})", server.pid()));
        }
        match self.others.as_slice() {
            [] => {}
            [one] => who.push(format!("child {one}")),
            many => who.push(format!("{} children", many.len())),
        }
        who.join(" and ")
    }

    fn describe(&self, server: &Server) -> String {
        format!(
            "the server's end of its connection was still open in {}, and a connection closes \
             only when every copy of its descriptor is closed (children forked while the \
             parent held a copy inherited it)",
            self.who(server).replace(" and ", " and in ")
        )
    }
}

/// The sockets the server's processes hold at one moment: read once, then asked about
/// several clients.
pub(crate) struct Sockets {
    addr: SocketAddr,
    main: i32,
    table: Table,
    holders: sockets::Holders,
}

impl Sockets {
    pub(crate) fn of(server: &Server) -> Sockets {
        let live = server.tree().into_iter().filter(|p| !p.is_zombie());
        Sockets {
            addr: server.addr(),
            main: server.pid(),
            table: Table::read(server.addr().port()),
            holders: sockets::Holders::of(live.map(|p| p.pid)),
        }
    }

    /// The processes holding the server's end of `client`'s connection, or `None` if none
    /// does (not accepted yet, or closed).
    pub(crate) fn holders(&self, client: &Client) -> Option<Holders> {
        let local = client.stream().local_addr().ok()?;
        let inode = self.table.inode(self.addr, local)?;
        let mut found = Holders {
            main: false,
            others: Vec::new(),
        };
        for &pid in self.holders.of_inode(inode) {
            if pid == self.main {
                found.main = true;
            } else {
                found.others.push(pid);
            }
        }
        (found.main || !found.others.is_empty()).then_some(found)
    }
}
