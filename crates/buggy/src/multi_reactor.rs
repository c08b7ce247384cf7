//! Known-buggy multi-reactors: N loops on `SO_REUSEPORT` listeners as the reference has
//! them, with one part wrong. The loops are the epoll server's (`solution_epoll::serve`)
//! where the bug is in how connections reach them, and this corpus's own loop (`epoll.rs`)
//! where it is inside a loop.

use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent};

use crate::epoll::{run, Flaws, Loop, Together};
use crate::Fails::{Exactly, Nothing, Own};
use crate::{Also, Bug};

pub const BUGS: &[Bug] = &[
    Bug {
        name: "multi-reactor-slow-start",
        about: "correct, written differently: the loops start one after another, 150 ms \
                apart, each making its epoll instance and its spare descriptor as it starts, \
                as on a machine too busy to run new threads at once",
        arch: "multi-reactor",
        fails: Nothing,
        says: "",
        alone: false,
        run: slow_start,
    },
    Bug {
        name: "multi-reactor-late-loop",
        about: "correct, written differently: its last loop first spends 300 ms of CPU (as \
                if warming a cache) before it makes its epoll instance and its spare, and, as \
                the reference, the server ends if a loop fails",
        arch: "multi-reactor",
        fails: Nothing,
        says: "",
        alone: false,
        run: late_loop,
    },
    Bug {
        name: "multi-reactor-one-loop",
        about: "one event loop (the epoll server), whatever --workers asks for",
        arch: "multi-reactor",
        fails: Own("loops"),
        says: "had 1 epoll instance",
        alone: false,
        run: || {
            let listener = workbook_kit::listen()?;
            solution_epoll::serve(listener)
        },
    },
    Bug {
        name: "multi-reactor-one-thread",
        about: "N loops, each with its listener and epoll instance, all run by one thread in \
                turn, each waiting at most 1 ms",
        arch: "multi-reactor",
        fails: Own("loops"),
        says: "loops that share a thread take turns",
        alone: false,
        run: one_thread,
    },
    Bug {
        name: "multi-reactor-one-loop-gets-all",
        about: "N loops, but only the first listens on the announced port (the others on ports \
                of their own), so one loop gets every connection",
        arch: "multi-reactor",
        // Unavoidable: `busy-loop` needs a client on another loop than client A's, and every
        // client lands on the same one.
        fails: Exactly(&["fair-share", "busy-loop"]),
        says: "held 1000, 0 and 0 of their connections",
        alone: false,
        run: || {
            let (mut listeners, options) = workbook_kit::start_with(|options| {
                Ok(vec![workbook_kit::bind_reuse_port(options.addr)?])
            })?;
            // The bug: port 0 for each of the others, so each gets a port nobody connects to.
            for _ in 1..options.workers {
                listeners.push(workbook_kit::bind_reuse_port(
                    "127.0.0.1:0".parse().unwrap(),
                )?);
            }
            solution_multi_reactor::serve(listeners)
        },
    },
    Bug {
        name: "multi-reactor-two-loops",
        about: "registers every connection in the next loop's epoll set as well",
        arch: "multi-reactor",
        // Unavoidable: in `fair-share`, no loop's share can be told when connections are in
        // two loops; in `busy-loop`, no client can be put on a loop other than client A's.
        fails: Exactly(&["own-connections", "fair-share", "busy-loop"]),
        says: "was watched by 2 epoll instances",
        alone: false,
        run: || loops(Flaws::NONE, Wrong::Neighbours),
    },
    Bug {
        name: "multi-reactor-global-lock",
        about: "one lock shared by every loop, held while an event is handled (its lines' \
                work included), so a busy loop stalls them all",
        arch: "multi-reactor",
        fails: Exactly(&["busy-loop"]),
        says: "must not hold up the others",
        alone: false,
        run: || loops(Flaws::NONE, Wrong::Lock),
    },
    Bug {
        name: "multi-reactor-4k-buffers",
        about: "gives every connection its own 4 KiB read buffer, zeroed, when it is accepted \
                (within epoll's 16 KiB, over the multi-reactor's 1 KiB)",
        arch: "multi-reactor",
        fails: Exactly(&["idle-memory"]),
        says: "over the 1 KiB allowed",
        alone: false,
        run: || loops(Flaws::eager_buffers(4096), Wrong::Nothing),
    },
];

/// The secondary failures of a server that puts connections in two loops name the cause.
pub const ALSO: &[Also] = &[
    Also {
        bug: "multi-reactor-two-loops",
        check: "fair-share",
        says: "watched by several loops at once",
    },
    Also {
        bug: "multi-reactor-two-loops",
        check: "busy-loop",
        says: "watched by several loops at once",
    },
];

/// What the loops share that they should not.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wrong {
    Nothing,
    /// Each loop registers its connections in the next loop's epoll set too.
    Neighbours,
    /// One lock, held while any loop handles an event.
    Lock,
}

/// The reference's listeners and threads, each thread running this corpus's loop with
/// `flaws`, sharing `wrong`.
fn loops(flaws: Flaws, wrong: Wrong) -> io::Result<()> {
    let (listeners, _) = workbook_kit::start_with(|options| {
        solution_multi_reactor::listeners(options.addr, options.workers)
    })?;
    let epolls: Vec<Arc<Epoll>> = (0..listeners.len())
        .map(|_| Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let lock = Arc::new(Mutex::new(()));
    let threads: Vec<thread::JoinHandle<io::Result<()>>> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener): (usize, TcpListener)| {
            let together = Together {
                lock: (wrong == Wrong::Lock).then(|| lock.clone()),
                neighbour: (wrong == Wrong::Neighbours)
                    .then(|| epolls[(i + 1) % epolls.len()].clone()),
            };
            let epoll = epolls[i].clone();
            thread::spawn(move || run(listener, epoll, flaws, together))
        })
        .collect();
    join(threads)
}

/// The reference's loops, started [`STAGGER`] apart: the first client may be served while
/// the last loops have made nothing yet. A grader that takes its counts then must not take
/// their descriptors, made later, for leaks.
fn slow_start() -> io::Result<()> {
    const STAGGER: Duration = Duration::from_millis(150);
    let (listeners, _) = workbook_kit::start_with(|options| {
        solution_multi_reactor::listeners(options.addr, options.workers)
    })?;
    let threads = listeners
        .into_iter()
        .zip(0..)
        .map(|(listener, i)| {
            thread::spawn(move || {
                thread::sleep(STAGGER * i);
                solution_epoll::serve(listener)
            })
        })
        .collect();
    join(threads)
}

/// The reference, but its last loop busy for 300 ms before it sets up. A loop that fails
/// ends the server, as in the reference.
fn late_loop() -> io::Result<()> {
    let (mut listeners, _) = workbook_kit::start_with(|options| {
        solution_multi_reactor::listeners(options.addr, options.workers)
    })?;
    let last = listeners.pop().expect("at least one listener");
    thread::spawn(move || {
        let busy = std::time::Instant::now();
        while busy.elapsed() < Duration::from_millis(300) {
            std::hint::spin_loop();
        }
        let failed = solution_epoll::serve(last);
        eprintln!("the last loop failed: {failed:?}");
        std::process::exit(1);
    });
    solution_multi_reactor::serve(listeners)
}

/// The reference's listeners, each in a loop of its own, and one thread for all the loops:
/// while one handles its events, the others' clients wait.
fn one_thread() -> io::Result<()> {
    let (listeners, _) = workbook_kit::start_with(|options| {
        solution_multi_reactor::listeners(options.addr, options.workers)
    })?;
    let mut loops = Vec::new();
    for listener in listeners {
        let epoll = Arc::new(Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?);
        loops.push(Loop::new(
            listener,
            epoll,
            Flaws::NONE,
            Together::default(),
        )?);
    }
    let mut events = vec![EpollEvent::empty(); 256];
    loop {
        for lp in &mut loops {
            lp.turn(&mut events, Some(1))?;
        }
    }
}

/// Waits for the loops, in order: they serve until the process is stopped, and one that
/// fails, once waited for, ends the server.
fn join(threads: Vec<thread::JoinHandle<io::Result<()>>>) -> io::Result<()> {
    for thread in threads {
        thread
            .join()
            .map_err(|_| io::Error::other("a loop panicked"))??;
    }
    Ok(())
}
