//! Known-buggy async servers: tokio's runtime and an accept loop spawning a task per
//! connection, as the reference does, each with one part wrong (see [`Flaws`]). Most serve
//! their connections with the reference's own task, `solution_async::connection`, or with
//! its line reading and lingering close; the flaw is in what is around them.

use std::future::Future;
use std::io;

use solution_async::connection::{
    handle_connection, lingering_close, read_line, Next, READ_BUFFER,
};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::{runtime, task, time};
use workbook_kit::{out_of_descriptors, OUT_OF_DESCRIPTORS_PAUSE, TOO_LONG};

use crate::Bug;
use crate::Fails::{Exactly, Nothing, Own};

pub const BUGS: &[Bug] = &[
    Bug {
        name: "async-block-in-place",
        about: "correct, written differently from the reference: a line's --work is spent \
                inside block_in_place, on the worker's own thread, instead of spawn_blocking",
        arch: "async",
        fails: Nothing,
        says: "",
        alone: false,
        run: || serve(Flaws::serving(Serving::WorkInPlace)),
    },
    Bug {
        name: "async-blocking-read",
        about: "serves each connection with a blocking std::net read and write inside its task",
        arch: "async",
        // A task that blocks holds its worker: with every worker held by an idle client, no
        // task runs, so the server serves only as many clients at once as it has workers.
        fails: Own("runtime-threads"),
        says: "blocked in a read on a client's socket",
        alone: false,
        run: || serve(Flaws::serving(Serving::BlockingRead)),
    },
    Bug {
        name: "async-spawn-blocking-per-connection",
        about: "a thread per connection dressed as tasks: spawn_blocking for each connection",
        arch: "async",
        fails: Own("runtime-threads"),
        says: "a thread per connection (spawn_blocking for each",
        alone: false,
        run: || serve(Flaws::serving(Serving::ThreadEach)),
    },
    Bug {
        name: "async-current-thread",
        about: "runs the reference's tasks on a current_thread runtime: one thread for all",
        arch: "async",
        fails: Own("runtime-threads"),
        says: "is an event loop (a current_thread runtime)",
        alone: false,
        run: || {
            serve(Flaws {
                one_thread: true,
                ..Flaws::NONE
            })
        },
    },
    Bug {
        name: "async-inline-work",
        about: "spends each line's --work in the task, on the worker thread",
        arch: "async",
        fails: Exactly(&["cpu-work"]),
        says: "the work held the worker threads",
        alone: false,
        run: || serve(Flaws::serving(Serving::WorkInline)),
    },
    Bug {
        name: "async-ignores-work",
        about: "never spends --work: every line is answered at once",
        arch: "async",
        fails: Exactly(&["cpu-work"]),
        says: "the server does not spend it",
        alone: false,
        run: || serve(Flaws::serving(Serving::IgnoresWork)),
    },
    Bug {
        name: "async-unbounded-channel",
        about: "a reader task queues echoes for a writer task on an unbounded channel",
        arch: "async",
        fails: Exactly(&["backpressure"]),
        says: "kept reading from a client whose echoes pile up",
        alone: false,
        run: || serve(Flaws::serving(Serving::Unbounded)),
    },
    Bug {
        name: "async-big-future",
        about: "declares a 64 KiB buffer in each task, so that every future holds one",
        arch: "async",
        fails: Exactly(&["idle-memory"]),
        says: "KiB per connection, over the 8 KiB allowed",
        alone: false,
        run: || serve(Flaws::serving(Serving::BigFuture)),
    },
    Bug {
        name: "async-emfile-spin",
        about: "logs a failed accept and awaits the next at once, so out of descriptors it spins",
        arch: "async",
        // Alone: it spins a core while it is out of descriptors.
        fails: Exactly(&["emfile"]),
        says: "spinning on an accept that keeps failing",
        alone: true,
        run: || {
            serve(Flaws {
                emfile_spin: true,
                ..Flaws::NONE
            })
        },
    },
];

/// What a server gets wrong; [`Flaws::NONE`] is the reference's design.
#[derive(Clone, Copy)]
struct Flaws {
    /// A `current_thread` runtime instead of `--workers` worker threads.
    one_thread: bool,
    /// Out of descriptors, awaits the next accept at once instead of pausing.
    emfile_spin: bool,
    /// How each connection is served.
    serving: Serving,
}

impl Flaws {
    const NONE: Flaws = Flaws {
        one_thread: false,
        emfile_spin: false,
        serving: Serving::Reference,
    };

    const fn serving(serving: Serving) -> Flaws {
        Flaws {
            serving,
            ..Flaws::NONE
        }
    }
}

#[derive(Clone, Copy)]
enum Serving {
    /// The reference's task.
    Reference,
    /// The reference's task, told that lines cost nothing.
    IgnoresWork,
    /// The iterative server's blocking `handle_connection`, inside the task.
    BlockingRead,
    /// The iterative server's `handle_connection` on a blocking-pool thread of its own.
    ThreadEach,
    /// Spends `--work` in the task.
    WorkInline,
    /// Spends `--work` in the task, inside `block_in_place` (correct).
    WorkInPlace,
    /// Queues echoes for a writer task on an unbounded channel.
    Unbounded,
    /// The reference's task, with a 64 KiB array held across its awaits.
    BigFuture,
}

/// The reference's `serve`, with `flaws`.
fn serve(flaws: Flaws) -> io::Result<()> {
    let (listener, options) = workbook_kit::start()?;
    listener.set_nonblocking(true)?;
    let mut builder = if flaws.one_thread {
        runtime::Builder::new_current_thread()
    } else {
        runtime::Builder::new_multi_thread()
    };
    builder.worker_threads(options.workers);
    let runtime = builder.enable_io().enable_time().build()?;
    let offload = !options.work.is_zero();
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener)?;
        loop {
            match listener.accept().await {
                Ok((stream, _)) => start(flaws.serving, stream, offload),
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    if out_of_descriptors(&e) && !flaws.emfile_spin {
                        time::sleep(OUT_OF_DESCRIPTORS_PAUSE).await;
                    }
                }
            }
        }
    })
}

/// Starts serving `stream` as `serving` says.
fn start(serving: Serving, stream: TcpStream, offload: bool) {
    match serving {
        Serving::Reference => spawn(handle_connection(stream, offload)),
        Serving::IgnoresWork => spawn(handle_connection(stream, false)),
        Serving::BlockingRead => spawn(async move {
            // The bug: a blocking socket, read and written in the task, on the worker.
            solution_iterative::handle_connection(blocking(stream)?)
        }),
        Serving::ThreadEach => {
            // The bug: a thread of the blocking pool for as long as the client stays.
            let served = blocking(stream).map(|s| task::spawn_blocking(move || logged(s)));
            if let Err(e) = served {
                eprintln!("connection ended: {e}");
            }
        }
        Serving::WorkInline => spawn(work_in_task(stream, false)),
        Serving::WorkInPlace => spawn(work_in_task(stream, offload)),
        Serving::Unbounded => spawn(unbounded(stream)),
        Serving::BigFuture => spawn(async move {
            // The bug: an array that lives across an await is part of the task's future.
            let scratch = [1u8; 64 * 1024];
            let served = handle_connection(stream, offload).await;
            std::hint::black_box(&scratch);
            served
        }),
    }
}

/// Spawns `connection` as a task that logs how it ended.
fn spawn(connection: impl Future<Output = io::Result<()>> + Send + 'static) {
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("connection ended: {e}");
        }
    });
}

/// `stream` as a blocking `std::net` socket, taken out of the reactor.
fn blocking(stream: TcpStream) -> io::Result<std::net::TcpStream> {
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// The iterative server's echo on `stream`, its error logged.
fn logged(stream: std::net::TcpStream) {
    if let Err(e) = solution_iterative::handle_connection(stream) {
        eprintln!("connection ended: {e}");
    }
}

/// The reference's loop with each line's `--work` spent in the task: on the worker itself
/// (the bug), or, with `in_place`, inside `block_in_place`, which first hands the worker's
/// other tasks to another thread.
async fn work_in_task(mut stream: TcpStream, in_place: bool) -> io::Result<()> {
    let (reader, mut writer) = stream.split();
    let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
    let mut line = Vec::new();
    loop {
        match read_line(&mut reader, &mut line).await? {
            Next::Line if in_place => task::block_in_place(|| workbook_kit::work(&line)),
            Next::Line => workbook_kit::work(&line),
            Next::TooLong => {
                writer.write_all(TOO_LONG).await?;
                return lingering_close(&mut reader, &mut writer).await;
            }
            Next::End => return Ok(()),
        }
        writer.write_all(&line).await?;
    }
}

/// Reads lines in this task and queues their echoes for a writer task on an unbounded
/// channel: the reader never waits for the writer, so a client that does not read makes the
/// queue grow without end.
async fn unbounded(stream: TcpStream) -> io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let (echoes, mut queued) = mpsc::unbounded_channel::<Vec<u8>>();
    let sending = tokio::spawn(async move {
        while let Some(echo) = queued.recv().await {
            writer.write_all(&echo).await?;
        }
        Ok::<_, io::Error>(writer)
    });
    let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
    let mut line = Vec::new();
    let next = loop {
        match read_line(&mut reader, &mut line).await? {
            // The bug: the send never waits, however long the queue.
            Next::Line => drop(echoes.send(line.clone())),
            end => break end,
        }
    };
    if next == Next::TooLong {
        drop(echoes.send(TOO_LONG.to_vec()));
    }
    drop(echoes);
    let mut writer = sending.await.map_err(io::Error::other)??;
    if next == Next::TooLong {
        lingering_close(&mut reader, &mut writer).await?;
    }
    Ok(())
}
