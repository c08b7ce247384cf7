//! The client side: idle connections, and a closed loop of echoes on many connections.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every request is one line of this many bytes, its `\n` included.
pub const LINE: usize = 64;

/// How long a client waits for an echo before it calls the server stuck.
const PATIENCE: Duration = Duration::from_secs(10);

fn line() -> [u8; LINE] {
    let mut line = [b'x'; LINE];
    line[LINE - 1] = b'\n';
    line
}

/// Opens `n` connections, one after another, each echoing one line, and keeps them open: the
/// server has met every client, and now each is idle.
pub fn open_idle(addr: SocketAddr, n: usize) -> io::Result<Vec<TcpStream>> {
    let line = line();
    let mut echo = [0; LINE];
    (1..=n)
        .map(|i| {
            let mut stream = TcpStream::connect(addr)?;
            stream.set_read_timeout(Some(PATIENCE))?;
            stream.write_all(&line)?;
            stream.read_exact(&mut echo).map_err(|e| {
                io::Error::new(e.kind(), format!("idle connection {i}: no echo: {e}"))
            })?;
            Ok(stream)
        })
        .collect()
}

/// What a closed-loop run measured.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Echoes completed during the measurement.
    pub requests: u64,
    /// How long the measurement lasted.
    pub elapsed: Duration,
    /// Round-trip times, from sending a line to having its echo.
    pub p50: Duration,
    pub p99: Duration,
}

impl Rate {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

const WARMING: u8 = 0;
const MEASURING: u8 = 1;
const STOPPING: u8 = 2;

/// Runs `conns` connections, each sending a line and waiting for its echo, over and over
/// (a closed loop, as rust_echo_bench does), on a tokio `current_thread` runtime in this
/// thread (so the phase is a plain `Cell`: every client runs on it). `during` is called once the measurement starts and once it ends, so the caller
/// can sample the server over exactly that window.
pub fn closed_loop(
    addr: SocketAddr,
    conns: usize,
    warmup: Duration,
    measure: Duration,
    mut during: impl FnMut(),
) -> io::Result<Rate> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut streams = Vec::with_capacity(conns);
        for _ in 0..conns {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            streams.push(stream);
        }
        let phase = Rc::new(Cell::new(WARMING));
        let local = tokio::task::LocalSet::new();
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|stream| local.spawn_local(client(stream, phase.clone())))
            .collect();
        let (started, ended) = local
            .run_until(async {
                tokio::time::sleep(warmup).await;
                phase.set(MEASURING);
                during();
                let started = Instant::now();
                tokio::time::sleep(measure).await;
                phase.set(STOPPING);
                let ended = Instant::now();
                during();
                (started, ended)
            })
            .await;
        let mut samples = Vec::new();
        for task in tasks {
            let mut times = local
                .run_until(task)
                .await
                .map_err(|e| io::Error::other(format!("a client task failed: {e}")))??;
            samples.append(&mut times);
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1));
            Duration::from_nanos(samples.get(i).copied().unwrap_or(0))
        };
        Ok(Rate {
            requests: samples.len() as u64,
            elapsed: ended - started,
            p50: at(0.50),
            p99: at(0.99),
        })
    })
}

/// One client of the closed loop: its round-trip times (ns) while measuring.
async fn client(mut stream: tokio::net::TcpStream, phase: Rc<Cell<u8>>) -> io::Result<Vec<u64>> {
    let line = line();
    let mut echo = [0; LINE];
    let mut times = Vec::new();
    loop {
        let now = phase.get();
        if now == STOPPING {
            return Ok(times);
        }
        let sent = Instant::now();
        stream.write_all(&line).await?;
        tokio::time::timeout(PATIENCE, stream.read_exact(&mut echo))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no echo within 10 s"))??;
        // Only round trips that began and ended inside the window count.
        if now == MEASURING && phase.get() == MEASURING {
            times.push(sent.elapsed().as_nanos() as u64);
        }
    }
}
