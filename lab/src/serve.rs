//! The servers the lab measures, run as real processes: the lab starts itself again as
//! `lab __lab-serve NAME [--workers N] ADDR`, so one release build holds every reference solution and the
//! tokio reference, all built with the same compiler settings.

use std::io;
use std::net::TcpListener;
use std::process::ExitCode;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The first argument that makes the lab a server instead.
pub const ARG: &str = "__lab-serve";

/// The servers the lab knows by name. The iterative server is not among them: it serves one
/// connection at a time, so 1,000 connections would measure only its queue. `tokio` is the
/// yardstick for one loop, `tokio-mt` (as many workers as `--workers`) for several.
pub const NAMES: &[&str] = &[
    "forking",
    "threaded",
    "epoll",
    "prefork",
    "thread-pool",
    "multi-reactor",
    "async",
    "tokio",
    "tokio-mt",
];

/// The servers whose pool's size is theirs to choose (`--workers`): the lab gives them a
/// worker for every connection it will hold open at once, since a worker serves one
/// connection at a time and the others would wait for it.
pub const POOLS: &[&str] = &["prefork", "thread-pool"];

/// Serves as the server named in the arguments, if the lab was started as one.
pub fn run_if_requested() -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some(ARG) {
        return None;
    }
    let name = args.get(2).map(String::as_str).unwrap_or_default();
    // The address comes after `__lab-serve NAME`.
    workbook_kit::options_after(2);
    let served = match name {
        "multi-reactor" => workbook_kit::start_with(|options| {
            solution_multi_reactor::listeners(options.addr, options.workers)
        })
        .and_then(|(listeners, _)| solution_multi_reactor::serve(listeners)),
        "tokio-mt" => workbook_kit::start().and_then(|(listener, options)| {
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            runtime.worker_threads(options.workers);
            tokio_echo(listener, runtime)
        }),
        _ => workbook_kit::start().and_then(|(listener, options)| match name {
            "forking" => solution_forking::serve(listener),
            "threaded" => solution_threaded::serve(listener),
            "epoll" => solution_epoll::serve(listener),
            "prefork" => solution_prefork::serve(listener, options.workers),
            "thread-pool" => solution_thread_pool::serve(listener, options.workers),
            "async" => solution_async::serve(listener, options),
            "tokio" => tokio_echo(listener, tokio::runtime::Builder::new_current_thread()),
            _ => Err(io::Error::other(format!("no server called {name:?}"))),
        }),
    };
    Some(match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    })
}

/// The reference: a line echo on a tokio runtime (`current_thread`, or `multi_thread` with
/// its workers), written as tokio's own examples write one (a 4 KiB `BufReader` per
/// connection, a task each). It has no line limit and no backpressure: it is a yardstick for
/// speed and memory, not a contract-complete server.
fn tokio_echo(listener: TcpListener, mut runtime: tokio::runtime::Builder) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let runtime = runtime.enable_io().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(echo(stream));
                }
                Err(e) => eprintln!("accept failed: {e}"),
            }
        }
    })
}

async fn echo(stream: tokio::net::TcpStream) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::with_capacity(4096, reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if writer.write_all(&line).await.is_err() {
                    return;
                }
            }
        }
    }
}
