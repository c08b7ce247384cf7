//! The yardsticks: tokio echo servers the lab runs beside the workbook's own, as real
//! processes. The lab starts itself again as `lab __lab-serve NAME [OPTIONS] ADDR`, so they
//! are built with the same compiler settings as the lab, and they start as every workbook
//! server does (`workbook_kit::start`: backlog 4,096, the announce line, `--work`).
//!
//! The workbook's architectures are not here: the lab builds each registered
//! `solution-ARCH` and runs its binary (`targets.rs`), so a new architecture is measured as
//! soon as it is in the registry.

use std::io;
use std::net::TcpListener;
use std::process::ExitCode;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The first argument that makes the lab a server instead.
pub const ARG: &str = "__lab-serve";

/// The yardsticks by name: a single-threaded reactor, and a multi-threaded one.
pub const YARDSTICKS: &[(&str, &str)] = &[
    ("tokio", "tokio current_thread"),
    ("tokio-multi", "tokio multi_thread, 2 workers"),
];

/// The worker threads of `tokio-multi`: one per core of the machine the workbook is measured
/// on. Pinned to one CPU, as the lab pins every server, they share it.
const MULTI_WORKERS: usize = 2;

/// Serves as the yardstick named in the arguments, if the lab was started as one.
pub fn run_if_requested() -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some(ARG) {
        return None;
    }
    let name = args.get(2).cloned().unwrap_or_default();
    let served = workbook_kit::listen().and_then(|listener| match name.as_str() {
        "tokio" => tokio_echo(listener, None),
        "tokio-multi" => tokio_echo(listener, Some(MULTI_WORKERS)),
        _ => Err(io::Error::other(format!("no yardstick called {name:?}"))),
    });
    Some(match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    })
}

/// A line echo on tokio, written as tokio's own examples write one (a 4 KiB `BufReader`
/// per connection), on `current_thread` or on `multi_thread` with `workers` threads. It has
/// no line limit and no backpressure: a yardstick for speed and memory, not a
/// contract-complete server. It honours `--work` as the solutions do.
fn tokio_echo(listener: TcpListener, workers: Option<usize>) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut builder = match workers {
        None => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
    };
    let runtime = builder.enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(echo(stream));
                }
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    if workbook_kit::out_of_descriptors(&e) {
                        tokio::time::sleep(workbook_kit::OUT_OF_DESCRIPTORS_PAUSE).await;
                    }
                }
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
                workbook_kit::work(&line);
                if writer.write_all(&line).await.is_err() {
                    return;
                }
            }
        }
    }
}
