//! The forking server's own checks: a child process per connection, each process closing the
//! descriptors it does not own, every ended child reaped (also when many end at once), and a
//! parent that survives its children's deaths, the signals they send, and a refused fork.
//! Book: `book/src/forking.md`.
//!
//! Processes are told apart by pid *and* start time: once a process is reaped its pid may be
//! reused, and these checks fork hundreds.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::contain::server::Server;
use crate::contain::shepherd::Limits;
use crate::drive::client::{secs, show, Client, Ending, REPLY};
use crate::drive::traffic::{self, round};
use crate::probe::procfs::{self, Proc};
use crate::probe::settle::poll;
use crate::probe::sockets::{self, Table};
use crate::rubric::check::{Category, Check};
use crate::rubric::common;
use crate::verdict::{Outcome, Verdict};
use crate::{ensure, fail};

const LIMIT: Duration = Duration::from_secs(20);

/// Clients kept connected and idle when children are counted.
const IDLE: usize = 20;

/// How long a child may stay a zombie.
const ZOMBIE_GRACE: Duration = Duration::from_secs(1);

/// How long a child may outlive its connection, or stay unreaped after the grader killed it.
/// An exit takes well under a millisecond; this leaves room for a machine busy with other work.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// The forking rubric: the shared checks, then this architecture's.
pub fn rubric() -> Vec<&'static Check> {
    let mut checks = common::rubric();
    checks.extend([
        &CHILD_PER_CONNECTION,
        &STALLED_CLIENT,
        &PARENT_CLOSES,
        &CHILDREN_EXIT,
        &NO_ZOMBIES,
        &SIGCHLD_IN_ACCEPT,
        &CRASH_ISOLATION,
        &BOUNDED_PROCESSES,
        &FORK_FAILURE,
    ]);
    checks
}

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
        let (got, ending) = first.read_to_end(REPLY);
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

pub static NO_ZOMBIES: Check = Check {
    id: "no-zombies",
    category: Category::Resources,
    points: 15,
    summary: "no child stays a zombie over 1 s, also when 50 end at once and their SIGCHLDs merge",
    hint: "reap in a loop, `waitpid(None, Some(WaitPidFlag::WNOHANG))` until it finds no ended \
           child, each time SIGCHLD arrives (not once per signal: signals merge), and without \
           waiting for the next client to do it",
    book: "forking.md#zombies-and-sigchld",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut watch = ZombieWatch::default();
        let when = "while 50 clients came and went one after another";
        for i in 1..=50 {
            let mut client = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
            client.echo(format!("client {i} comes and goes\n").as_bytes())?;
            drop(client);
            watch.look(&server, when)?;
        }
        watch.settle(&server, "after 50 clients came and went one after another")?;

        // Then 50 that leave together. The parent is paused while their children exit: the
        // kernel keeps one pending SIGCHLD however many children end meanwhile, as happens
        // whenever the parent is slow to run on a busy machine.
        let before = live_children(&server);
        let clients = Client::connect_many(server.addr(), 50)?;
        // A server that cannot fork for all 50 at once is graded by `child-per-connection`;
        // here the children it has are enough.
        let serving = poll(Duration::from_secs(3), || {
            let new = new_since(&live_children(&server), &before);
            (new.len() >= 50).then_some(new)
        })
        .unwrap_or_else(|| new_since(&live_children(&server), &before));
        {
            let _paused = Paused::new(&server)?;
            drop(clients);
            still_running(&server, &serving, Duration::from_secs(3));
        }
        ZombieWatch::default().settle(
            &server,
            "after 50 clients left at once (the grader paused the server with SIGSTOP while \
             their children exited, so their SIGCHLDs merged into one, and then resumed it)",
        )
    },
};

pub static SIGCHLD_IN_ACCEPT: Check = Check {
    id: "sigchld-in-accept",
    category: Category::Robustness,
    points: 10,
    summary: "a SIGCHLD that arrives while the parent waits in accept (EINTR) neither ends nor \
              stalls the server",
    hint: "a signal interrupts accept: nix's accept4 then fails with EINTR (unless the handler \
           was installed with SA_RESTART), which means \"try again\", not \"stop\"; and a \
           SIGCHLD handler must never wait for a child that is still running",
    book: "forking.md#signals-interrupt-system-calls-eintr",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let mut stayer = Client::connect_with(server.addr(), None, "client 1")?;
        stayer.echo(b"client 1 stays connected\n")?;
        for i in 2..=5 {
            let before = live_children(&server);
            let attempt = Client::connect_with(server.addr(), None, &format!("client {i}"))
                .and_then(|mut client| {
                    client.echo(format!("client {i} comes and goes\n").as_bytes())?;
                    Ok(client)
                });
            let client = match attempt {
                Ok(client) => client,
                // Before any child has ended: this server cannot serve two clients at once,
                // which `stalled-client` grades. There is no SIGCHLD to speak of yet.
                Err(_) if i == 2 => return Ok(()),
                Err(v) => return Err(after_leaver(&server, v, i - 1)),
            };
            if i < 5 {
                let serving = new_since(&live_children(&server), &before);
                drop(client);
                // Once its child has ended, the SIGCHLD has reached the parent, which has
                // nothing to do but wait in accept.
                still_running(&server, &serving, EXIT_GRACE);
            }
        }
        stayer
            .echo(b"client 1 is still here\n")
            .map_err(|v| v.context("after clients 2 to 5 came and went"))
    },
};

pub static CRASH_ISOLATION: Check = Check {
    id: "crash-isolation",
    category: Category::Robustness,
    points: 10,
    summary: "when a child is killed, the server goes on serving new clients and reaps it",
    hint: "a child may end by a signal (WaitStatus::Signaled) as well as by exit: reap it like \
           any other, and never treat it as the parent's own failure",
    book: "forking.md#when-a-child-crashes",
    limit: LIMIT,
    run: |ctx| {
        let server = ctx.start()?;
        let before = live_children(&server);
        let mut victim = Client::connect_with(server.addr(), None, "client 1")?;
        victim.echo(b"client 1 is about to lose its process\n")?;
        let serving = Sockets::of(&server)
            .holders(&victim)
            .map_or_else(Vec::new, |h| h.others);
        let Some(child) = new_since(&live_children(&server), &before)
            .into_iter()
            .find(|p| serving.contains(&p.pid))
        else {
            // No child serves client 1: `child-per-connection` says so. Nothing to kill.
            return Ok(());
        };
        let _ = kill(Pid::from_raw(child.pid), Signal::SIGKILL);
        drop(victim);
        still_running(&server, std::slice::from_ref(&child), EXIT_GRACE);
        let event = format!(
            "the grader killed child {} (which served client 1) with SIGKILL",
            child.pid
        );
        let mut next = Client::connect_with(server.addr(), None, "client 2")
            .map_err(|v| with_fate(&server, v, &event))?;
        next.echo(b"client 2 after the crash\n")
            .map_err(|v| with_fate(&server, v, &event))?;
        let gone = poll(EXIT_GRACE, || {
            (!server.tree().iter().any(|p| same(p, &child))).then_some(())
        });
        ensure!(
            gone.is_some(),
            "{event}; {} later it was still a zombie: the parent must reap a child that died of \
             a signal as it reaps one that exited",
            secs(EXIT_GRACE)
        );
        Ok(())
    },
};

pub static BOUNDED_PROCESSES: Check = Check {
    id: "bounded-processes",
    category: Category::Resources,
    points: 5,
    summary: "200 clients one after another never leave more than a few children running",
    hint: "the number of children follows the number of open connections: a child must end \
           with its connection, and never carry on into the accept loop it inherited",
    book: "forking.md#how-a-child-ends",
    limit: LIMIT,
    run: |ctx| {
        const CLIENTS: usize = 200;
        const FEW: usize = 10;
        let server = ctx.start()?;
        for i in 1..=CLIENTS {
            let mut client = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
            client.echo(format!("client {i} of {CLIENTS}\n").as_bytes())?;
            drop(client);
            if live_children(&server).len() <= FEW {
                continue;
            }
            // The children of clients that just left may still be on their way out.
            if poll(EXIT_GRACE, || {
                (live_children(&server).len() <= FEW).then_some(())
            })
            .is_none()
            {
                let n = live_children(&server).len();
                fail!(
                    "after {i} clients came and went one after another (never more than one \
                     connected), the server had {n} processes besides its main one, {} after \
                     the last client left: the processes pile up with the connections served",
                    secs(EXIT_GRACE)
                );
            }
        }
        Ok(())
    },
};

pub static FORK_FAILURE: Check = Check {
    id: "fork-failure",
    category: Category::Robustness,
    points: 5,
    summary: "when fork fails (EAGAIN), the server closes that client, lives on, and forks again \
              once children have ended",
    hint: "fork returns an error when the process limit is reached: close that one connection \
           (drop the stream) and keep accepting; `fork()?` ends the whole server",
    book: "forking.md#when-fork-fails",
    limit: LIMIT,
    run: |ctx| {
        // RLIMIT_NPROC: the parent and 7 children.
        const CAP: usize = 8;
        const CLIENTS: usize = 12;
        let limits = Limits {
            max_tasks: CAP,
            ..Limits::default()
        };
        let server = ctx.start_with(&limits)?;
        let situation = format!(
            "{CLIENTS} clients connected while the server could have at most {CAP} processes \
             (the grader set RLIMIT_NPROC), so fork failed with EAGAIN for some"
        );
        let clients = Client::connect_many(server.addr(), CLIENTS)?;
        let served = round(clients, b"a process for me?\n");
        if let Some(limit) = server.limit() {
            fail!(
                "the grader limits this server to {CAP} processes with RLIMIT_NPROC, but it ran \
                 past that and was stopped ({limit}): RLIMIT_NPROC does not bind root, so the \
                 server's binary must be reachable by an unprivileged user (a checkout under \
                 /root is not)"
            );
        }
        if let Some(exit) = server.wait_exit(Duration::from_millis(100)) {
            fail!(
                "{situation}, and the server ended ({exit}): a failed fork must cost one \
                 client, not the server"
            );
        }
        ensure!(
            !served.is_empty(),
            "{situation}; none of them got an echo within {}",
            secs(REPLY)
        );
        let still = round(served, b"still served?\n");
        ensure!(
            !still.is_empty(),
            "{situation}; some got an echo of a first line, but none of a second one"
        );
        drop(still);
        // Once everyone has left, forking works again. A new client may still be turned
        // away while the last children end: it tries again for a while.
        const RETRY: Duration = Duration::from_secs(5);
        let mut refused = Verdict::new("no new client could connect");
        let again = poll(RETRY, || {
            let tried = Client::connect_with(server.addr(), None, "a new client")
                .and_then(|mut client| client.echo(b"room for me now?\n"));
            if let Err(v) = tried {
                refused = v;
                // Pacing, not synchronisation: one new client every 100 ms is enough.
                std::thread::sleep(Duration::from_millis(100));
                return None;
            }
            Some(())
        });
        if again.is_some() {
            return Ok(());
        }
        let left = server.tree().into_iter().filter(|p| p.pid != server.pid());
        let (zombies, running): (Vec<Proc>, Vec<Proc>) = left.partition(Proc::is_zombie);
        Err(refused.context(format!(
            "{situation}; then they all left, yet for {} no new client was served, and the \
             server still had {} zombies and {} other processes, all counted against the limit",
            secs(RETRY),
            zombies.len(),
            running.len()
        )))
    },
};

/// How a client leaves, in `children-exit`.
type Leave = fn(Client) -> Outcome;

/// The server's processes besides its main one that have not ended.
fn live_children(server: &Server) -> Vec<Proc> {
    server
        .tree()
        .into_iter()
        .filter(|p| p.pid != server.pid() && !p.is_zombie())
        .collect()
}

/// Whether `a` and `b` are the same process: same pid, same start time.
fn same(a: &Proc, b: &Proc) -> bool {
    a.pid == b.pid && a.start == b.start
}

/// The processes of `now` that are not in `before`.
fn new_since(now: &[Proc], before: &[Proc]) -> Vec<Proc> {
    now.iter()
        .filter(|p| !before.iter().any(|b| same(p, b)))
        .cloned()
        .collect()
}

/// Waits up to `within` for each of `procs` to end (to be a zombie, or gone); returns those
/// still running then.
fn still_running(server: &Server, procs: &[Proc], within: Duration) -> Vec<Proc> {
    let running = || {
        let live = live_children(server);
        procs
            .iter()
            .filter(|p| live.iter().any(|l| same(l, p)))
            .cloned()
            .collect::<Vec<_>>()
    };
    poll(within, || Some(running()).filter(Vec::is_empty)).unwrap_or_else(running)
}

/// "clients 1, 2 and 5".
fn names(numbers: &[usize]) -> String {
    let list: Vec<String> = numbers.iter().map(usize::to_string).collect();
    match list.split_last() {
        Some((last, [])) => format!("client {last}"),
        Some((last, rest)) => format!("clients {} and {last}", rest.join(", ")),
        None => "none".into(),
    }
}

/// Remembers when each zombie was first seen, and fails once one has been a zombie too long.
#[derive(Default)]
struct ZombieWatch {
    first_seen: HashMap<(i32, u64), Instant>,
}

impl ZombieWatch {
    /// Takes one look at the server's zombies.
    fn look(&mut self, server: &Server, when: &str) -> Outcome {
        let now = Instant::now();
        let zombies: Vec<Proc> = server
            .tree()
            .into_iter()
            .filter(|p| p.pid != server.pid() && p.is_zombie())
            .collect();
        self.first_seen
            .retain(|id, _| zombies.iter().any(|z| (z.pid, z.start) == *id));
        let old: Vec<i32> = zombies
            .iter()
            .filter(|z| {
                let seen = *self.first_seen.entry((z.pid, z.start)).or_insert(now);
                now.duration_since(seen) > ZOMBIE_GRACE
            })
            .map(|z| z.pid)
            .collect();
        if old.is_empty() {
            return Ok(());
        }
        let shown: Vec<String> = old.iter().take(5).map(i32::to_string).collect();
        let pids = format!(
            "pid {}{}",
            shown.join(", "),
            if old.len() > shown.len() { ", ..." } else { "" }
        );
        let (who, was) = match old.len() {
            1 => ("a child".to_string(), "a zombie"),
            n => (format!("{n} children"), "zombies"),
        };
        fail!(
            "{when}, {who} of the server stayed {was} for over {} ({pids}): the parent had \
             not collected their exit status",
            secs(ZOMBIE_GRACE)
        )
    }

    /// Looks until the server has no zombie and no child left (or 3 s have passed, if some
    /// child does not end: `children-exit` grades that).
    fn settle(&mut self, server: &Server, when: &str) -> Outcome {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            self.look(server, when)?;
            if server.tree().len() <= 1 || Instant::now() > deadline {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Keeps the server's main process stopped (SIGSTOP) until dropped (SIGCONT).
struct Paused<'a>(&'a Server);

impl<'a> Paused<'a> {
    fn new(server: &'a Server) -> Result<Paused<'a>, Verdict> {
        server.signal(Signal::SIGSTOP);
        // Made before the wait, so that SIGCONT is sent whatever happens next.
        let paused = Paused(server);
        poll(Duration::from_secs(2), || {
            procfs::read(server.pid()).filter(|p| p.state == 'T')
        })
        .ok_or_else(|| Verdict::new("the grader could not pause the server with SIGSTOP"))?;
        Ok(paused)
    }
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        self.0.signal(Signal::SIGCONT);
    }
}

/// Adds what became of the server's main process to a client's failure after `event`: it
/// ended, or where in the kernel it sleeps (`do_wait`: waiting for a child).
fn with_fate(server: &Server, verdict: Verdict, event: &str) -> Verdict {
    let fate = match server.wait_exit(Duration::from_millis(300)) {
        Some(exit) => format!("the server's main process had ended ({exit})"),
        None => match procfs::wchan(server.pid()) {
            Some(wchan) => format!(
                "the server's main process was still there, asleep in the kernel's `{wchan}`{}",
                match wchan.as_str() {
                    "do_wait" => " (waiting for a child to end)",
                    "inet_csk_accept" => " (in accept)",
                    _ => "",
                }
            ),
            _ => "the server's main process was still there".to_string(),
        },
    };
    Verdict::new(format!("{}; {event}, and {fate}", verdict.message))
}

/// [`with_fate`] after client `left` came and went while client 1 stayed connected.
fn after_leaver(server: &Server, verdict: Verdict, left: usize) -> Verdict {
    let event = format!(
        "before that, client {left} had left while client 1 stayed connected, and its child had \
         ended while the server waited in accept"
    );
    with_fate(server, verdict, &event)
}

/// Which of the server's processes hold the server's end of a connection.
struct Holders {
    main: bool,
    others: Vec<i32>,
}

impl Holders {
    fn describe(&self, server: &Server) -> String {
        let mut who = Vec::new();
        if self.main {
            who.push(format!("the server's main process (pid {})", server.pid()));
        }
        match self.others.as_slice() {
            [] => {}
            [one] => who.push(format!("child {one}")),
            many => who.push(format!("{} children", many.len())),
        }
        format!(
            "the server's end of its connection was still open in {}, and a connection closes \
             only when every copy of its descriptor is closed (children forked while the \
             parent held a copy inherited it)",
            who.join(" and in ")
        )
    }
}

/// The sockets the server's processes hold at one moment: read once, then asked about
/// several clients.
struct Sockets {
    addr: SocketAddr,
    main: i32,
    table: Table,
    holders: sockets::Holders,
}

impl Sockets {
    fn of(server: &Server) -> Sockets {
        let live = server.tree().into_iter().filter(|p| !p.is_zombie());
        Sockets {
            addr: server.addr(),
            main: server.pid(),
            table: Table::read(),
            holders: sockets::Holders::of(live.map(|p| p.pid)),
        }
    }

    /// The processes holding the server's end of `client`'s connection, or `None` if none
    /// does (not accepted yet, or closed).
    fn holders(&self, client: &Client) -> Option<Holders> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_clients() {
        assert_eq!(names(&[3]), "client 3");
        assert_eq!(names(&[1, 2, 5]), "clients 1, 2 and 5");
    }
}
