//! Out of descriptors: the body of the `emfile` check of every architecture that holds a
//! descriptor per connection (epoll, threaded) or may (a forking parent that keeps some).
//! Each architecture has its own `Check`, with its own hint and book section, around it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::contain::server::Server;
use crate::contain::shepherd::Limits;
use crate::drive::client::{secs, Client};
use crate::probe::settle::poll;
use crate::probe::sockets::Table;
use crate::rubric::check::Ctx;
use crate::verdict::{Cause, Outcome, Verdict};

/// The descriptors the server may open in `emfile` (its `RLIMIT_NOFILE`).
pub const NOFILE: u64 = 64;

/// Clients connected after the first: many more than the server has descriptors for.
const CROWD: usize = 100;

/// How long the grader watches for a spin.
const WINDOW: Duration = Duration::from_secs(1);

/// How long the server may take to finish starting before the crowd comes.
const SETTLE: Duration = Duration::from_secs(2);

/// How long a new client has to be served once the crowd has left.
const RECOVERY: Duration = Duration::from_secs(3);

/// The story every verdict of `emfile` starts with.
const STORY: &str = "the server may open 64 descriptors, and 101 clients connected";

/// Starts the server with [`NOFILE`] descriptors, connects one client that is served, then
/// [`CROWD`] more, and fails if the server then spins (one of its threads runs for a tenth
/// of [`WINDOW`], or wants a CPU for half of it, while nobody sends anything: [`Spin`]),
/// stops serving the first client, or serves no new
/// client within [`RECOVERY`] once the crowd has left.
///
/// `why` diagnoses what the architecture's server may be doing wrong (it is asked on any
/// failure, while the clients are still connected); without a cause, a spin is blamed on
/// an accept that keeps failing.
pub fn out_of_descriptors(ctx: &Ctx, why: fn(&Server) -> Option<Cause>) -> Outcome {
    out_of_descriptors_with(ctx, &[], why)
}

/// [`out_of_descriptors`], with the server started with `options` (a pool large enough to
/// hold more connections than it has descriptors, say).
pub fn out_of_descriptors_with(
    ctx: &Ctx,
    options: &[&str],
    why: fn(&Server) -> Option<Cause>,
) -> Outcome {
    let limits = Limits {
        nofile: NOFILE,
        ..Limits::default()
    };
    let server = ctx.start_configured(&limits, options)?;
    let mut first = Client::connect_with(server.addr(), None, "client 1")?;
    first.echo(b"before the crowd\n")?;
    // A server may still be starting after its first client: a thread not yet run is
    // runnable (a multi-reactor's last loop, say, without its epoll instance and its spare
    // yet). The crowd must meet the server as it is once started (seen, on a busy machine:
    // "loop 3 failed: Too many open files"), so it waits until no thread is runnable, as
    // none is in a server that waits for clients; on past [`SETTLE`] if one stays busy.
    poll(SETTLE, || {
        (!server.tasks().iter().any(|t| t.state == 'R')).then_some(())
    });
    let crowd: Vec<Client> = (2..=CROWD + 1)
        .map(|i| Client::connect_with(server.addr(), None, &format!("client {i}")))
        .collect::<Result<_, _>>()?;
    let (busiest, percent) = watch(&server);
    if busiest.spun() {
        let cause = why(&server);
        let on = if cause.is_some() {
            ""
        } else {
            " on an accept that keeps failing"
        };
        return Err(Verdict::new(format!(
            "{STORY}; over the next {}, while nothing was being sent, a thread of the server \
             was running or waiting to run for {} ms, and ran for {} ms of it (the server \
             used {percent}% of a CPU): it is spinning{on}",
            secs(WINDOW),
            busiest.busy / 1_000_000,
            busiest.ran / 1_000_000
        ))
        .because(cause));
    }
    first
        .echo(b"still there?\n")
        .map_err(|v| v.context(format!("{STORY}; then client 1 sent another line")))
        .map_err(|v| v.because(why(&server)))?;
    let peers: Vec<u16> = crowd
        .iter()
        .filter_map(|c| c.stream().local_addr().ok())
        .map(|a| a.port())
        .collect();
    drop(crowd);
    crowd_gone(&server, &peers);
    let mut attempt = 0;
    let mut last = Verdict::new("no client could connect");
    let served = poll(RECOVERY, || {
        attempt += 1;
        let name = format!("newcomer {attempt}");
        let tried = Client::connect_with(server.addr(), None, &name).and_then(|mut c| {
            c.send(b"room for me now?\n")?;
            c.expect(b"room for me now?\n", Duration::from_millis(100))
        });
        match tried {
            Ok(()) => Some(()),
            Err(v) => {
                last = v;
                // Pacing, not synchronisation: a new client every 50 ms or so is enough.
                std::thread::sleep(Duration::from_millis(50));
                None
            }
        }
    });
    if served.is_some() {
        return Ok(());
    }
    Err(Verdict::new(format!(
        "{STORY}; then 100 of them left, and for {} no new client was served (the last \
         try: {})",
        secs(RECOVERY),
        last.message
    ))
    .because(why(&server)))
}

/// Waits (at most [`RECOVERY`]) until the server has closed its ends of the crowd's
/// connections, so that newcomers come after the crowd has left, for the server too: a
/// forking server's children have ended, and their SIGCHLDs have been sent, by then.
/// A server that keeps them open is judged by the newcomers all the same.
fn crowd_gone(server: &Server, peers: &[u16]) {
    let port = server.addr().port();
    poll(RECOVERY, || {
        let ends = Table::read(port).ends();
        (!ends.iter().any(|e| peers.contains(&e.peer.port()))).then_some(())
    });
}

/// One thread over [`WINDOW`]: how long it was running or waiting to run, and how long it
/// ran, in nanoseconds, from its `schedstat`.
#[derive(Debug, Default, Clone, Copy)]
struct Spin {
    busy: u64,
    ran: u64,
}

impl Spin {
    /// Whether it spun: it ran for a tenth of the window, or it wanted a CPU for half the
    /// window and ran whenever it got one.
    ///
    /// A correct server, out of descriptors and with nobody sending, runs for microseconds
    /// now and then. A spinner that gets a fair share of a CPU runs for hundreds of
    /// milliseconds. On a loaded machine it may get little (seen: 360 ms, on 2 cores shared
    /// with 12 busy loops, while it was also held up writing its log to a full pipe), but it
    /// never sleeps: it wants a CPU all the time. A correct thread starved of CPUs may also
    /// wait for one most of the time (seen: runnable in 62 of 91 looks, on 2 cores shared
    /// by the suite and 2 busy loops), but each time it gets one it runs for microseconds
    /// and sleeps again: for under 1 % of the time it waited.
    fn spun(&self) -> bool {
        let window = WINDOW.as_nanos() as u64;
        self.ran * 10 >= window || (self.busy * 2 >= window && self.ran * 100 >= self.busy)
    }
}

/// Watches the server's threads for [`WINDOW`] (every 10 ms, so that a thread started
/// meanwhile counts too): the one that spun or came closest, and the share of a CPU the
/// whole server used.
fn watch(server: &Server) -> (Spin, u64) {
    let before = server.cpu_ns();
    // Per thread: its first and its last (CPU, wait) times.
    let mut seen: HashMap<i32, [(u64, u64); 2]> = HashMap::new();
    let end = Instant::now() + WINDOW;
    while Instant::now() < end {
        for task in server.tasks() {
            let now = (task.cpu_ns, task.wait_ns);
            seen.entry(task.tid).or_insert([now, now])[1] = now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let percent = server.cpu_ns().saturating_sub(before) * 100 / WINDOW.as_nanos() as u64;
    let busiest = seen
        .into_values()
        .map(|[first, last]| {
            let ran = last.0.saturating_sub(first.0);
            Spin {
                busy: ran + last.1.saturating_sub(first.1),
                ran,
            }
        })
        // A thread that spun, if any; else the one that wanted a CPU the longest.
        .max_by_key(|spin| (spin.spun(), spin.busy))
        .unwrap_or_default();
    (busiest, percent)
}
