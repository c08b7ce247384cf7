//! The threads: one event loop and N workers, whatever the load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use super::LIMIT;
use crate::contain::server::Server;
use crate::drive::client::Client;
use crate::fail;
use crate::probe::procfs;
use crate::probe::settle::poll;
use crate::rubric::check::{Category, Check};
use crate::rubric::diagnose::Explained;
use crate::rubric::epoll::{collect, difference, greeted};
use crate::verdict::{Outcome, Verdict};

pub static LOOP_AND_WORKERS: Check = Check {
    id: "loop-and-workers",
    category: Category::Concurrency,
    points: 10,
    summary: "one process: one thread in epoll_wait and the N workers of --workers N, with 1 \
              and with 100 idle clients",
    hint: "one thread runs the event loop and owns every socket; `--workers N` starts N more \
           threads at start-up, which wait for work, never for a socket (a worker that reads \
           a connection makes a thread pool, not offload)",
    book: "offload.md#one-loop-n-workers",
    limit: LIMIT,
    run: |ctx| {
        const WORKERS: usize = 3;
        let server = ctx.start_options(&["--workers", "3"])?;
        let mut first = Client::connect_with(server.addr(), None, "client 1")?;
        first.echo(b"count your threads\n")?;
        settled(&server, WORKERS, "with --workers 3 and 1 client connected")?;
        let _others = greeted(&server, 2, 100, 1)?;
        first.echo(b"still the same threads?\n")?;
        settled(
            &server,
            WORKERS,
            "with --workers 3 and 100 idle clients connected",
        )
        .explained(&server)
    },
};

/// Fails unless the server looks as [`look`] wants within 2 s (a thread may be busy for a
/// moment when we look); `when` begins the verdict.
fn settled(server: &Server, workers: usize, when: &str) -> Outcome {
    let mut last = String::new();
    let found = poll(Duration::from_secs(2), || match look(server, workers) {
        Ok(_) => Some(()),
        Err(why) => {
            last = why;
            None
        }
    });
    match found {
        Some(()) => Ok(()),
        None => fail!("{when}, the server had {last}"),
    }
}

/// One look at the server: one process of `workers + 1` threads, exactly one of them asleep
/// in `epoll_wait` (the loop, whose thread id is returned) and none blocked reading a
/// socket. Otherwise, what is wrong, to follow "the server had".
fn look(server: &Server, workers: usize) -> Result<i32, String> {
    let processes = server.tree().iter().filter(|p| !p.is_zombie()).count();
    if processes != 1 {
        return Err(format!(
            "{processes} processes: an offload server is one process"
        ));
    }
    let tasks = procfs::tasks(server.pid());
    if tasks.len() != workers + 1 {
        return Err(format!(
            "{} thread(s), where one loop and the {workers} workers `--workers {workers}` asks \
             for make {}: the workers start with the server, one thread each",
            tasks.len(),
            workers + 1
        ));
    }
    let reading = procfs::reading_sockets(server.pid()).len();
    if reading > 0 {
        return Err(format!(
            "{reading} of its {} threads blocked reading a client's socket: with offload, the \
             loop owns every socket and the workers only work (a worker serving a connection \
             is a thread pool)",
            tasks.len()
        ));
    }
    let waiting: Vec<i32> = tasks
        .iter()
        .filter(|t| t.in_epoll_wait())
        .map(|t| t.tid)
        .collect();
    match waiting[..] {
        [tid] => Ok(tid),
        [] => Err(format!(
            "none of its {} threads waiting in epoll_wait while every client was idle: one \
             thread runs an event loop for all the sockets",
            tasks.len()
        )),
        _ => Err(format!(
            "{} threads waiting in epoll_wait: one loop owns every socket, and the workers \
             wait for work, not for sockets",
            waiting.len()
        )),
    }
}

/// The loop's thread id: the one thread asleep in `epoll_wait` while the server is idle.
pub(super) fn loop_thread(server: &Server) -> Result<i32, Verdict> {
    poll(Duration::from_secs(2), || {
        let tasks = procfs::tasks(server.pid());
        match tasks
            .iter()
            .filter(|t| t.in_epoll_wait())
            .collect::<Vec<_>>()[..]
        {
            [task] => Some(task.tid),
            _ => None,
        }
    })
    .ok_or_else(|| {
        Verdict::new(
            "the server, idle, had not exactly one thread waiting in epoll_wait: there is \
             no one loop thread to measure (see `loop-and-workers`)",
        )
    })
}

pub static FIXED_POOL: Check = Check {
    id: "fixed-pool",
    category: Category::Concurrency,
    points: 5,
    summary: "while 20 CPU-heavy lines are worked on, still exactly N + 1 threads (--workers 2, \
              then 5)",
    hint: "the work goes to the N workers started with the server, whatever the load: \
           a thread started per line (or per job) costs a thread creation each time and \
           puts no bound on the threads; and a worker that ends after one job leaves fewer",
    book: "offload.md#one-loop-n-workers",
    limit: LIMIT,
    run: |ctx| {
        for (workers, option) in [(2, "2"), (5, "5")] {
            let server = ctx.start_options(&["--workers", option, "--work", "20000"])?;
            under_load(&server, workers)?;
        }
        Ok(())
    },
};

/// 4 clients send 5 lines each in one write (20 ms of CPU each); the threads are counted
/// every 5 ms until every echo is back.
fn under_load(server: &Server, workers: usize) -> Outcome {
    const CLIENTS: usize = 4;
    let mut clients = greeted(server, 1, CLIENTS, 0)?;
    let lines: Vec<Vec<u8>> = (1..=CLIENTS)
        .map(|i| {
            (1..=5)
                .flat_map(|k| format!("client {i}, CPU-heavy line {k} of 5\n").into_bytes())
                .collect()
        })
        .collect();
    let story = format!(
        "with --workers {workers}, 4 clients sent 5 lines each in one write, 20 ms of CPU \
         each (--work 20000)"
    );
    let done = AtomicBool::new(false);
    let (got, (fewest, most)) = thread::scope(|s| {
        let counter = s.spawn(|| {
            let (mut fewest, mut most) = (usize::MAX, 0);
            while !done.load(Ordering::Relaxed) {
                if let Some(p) = procfs::read(server.pid()) {
                    fewest = fewest.min(p.threads);
                    most = most.max(p.threads);
                }
                thread::sleep(Duration::from_millis(5));
            }
            (fewest, most)
        });
        let sent = clients
            .iter_mut()
            .zip(&lines)
            .try_for_each(|(client, lines)| client.send(lines));
        let expected: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        let got = sent.map(|()| collect(&mut clients, &expected, Duration::from_secs(10)));
        done.store(true, Ordering::Relaxed);
        (got, counter.join().unwrap_or((0, 0)))
    });
    let got = got?;
    for (i, got) in got.iter().enumerate() {
        if *got != lines[i] {
            fail!("{story}; client {}'s {}", i + 1, difference(&lines[i], got));
        }
    }
    if fewest == most && most != workers + 1 {
        fail!(
            "{story}; the server had {most} threads throughout, where one loop and the \
             {workers} workers `--workers {workers}` asks for make {}: it does not size its \
             pool by --workers",
            workers + 1
        );
    }
    if most > workers + 1 {
        fail!(
            "{story}; while they were worked on, the server had up to {most} threads, where \
             one loop and {workers} workers make {}: it starts threads for the work instead \
             of handing it to its workers",
            workers + 1
        );
    }
    if fewest < workers + 1 {
        fail!(
            "{story}; while they were worked on, the server had as few as {fewest} threads, \
             where one loop and {workers} workers make {}: its workers must stay, waiting for \
             the next job",
            workers + 1
        );
    }
    Ok(())
}
