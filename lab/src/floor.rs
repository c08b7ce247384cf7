//! The floor: one client, one connection, one line at a time, against the simplest echo
//! there is (a blocking thread inside the lab). No server can answer a lone client faster
//! than this on this machine, so every latency in a run is read against it: measured in
//! the same run, at the same placement, because on a small VM it moves five-fold with
//! where the two threads run.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::env::pin_current_thread;
use crate::load::{line, LINE};
use crate::stats::{self, Latency};

/// How long each floor measurement runs.
const SECS: Duration = Duration::from_secs(1);

/// One floor measurement.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Floor {
    /// Where the echo thread and the client ran, in words.
    pub placement: String,
    pub round_trips_per_second: f64,
    pub latency: Latency,
}

/// The floor at the run's placement (`server`, `client`), and, when those differ, with both
/// on the client's CPU. The calling thread is the client and stays where it is.
pub fn measure(
    server: Option<usize>,
    client: Option<usize>,
    cpus: usize,
) -> io::Result<Vec<Floor>> {
    let mut floors = vec![ping_pong(server, cpus, describe(server, client))?];
    if server != client && client.is_some() {
        floors.push(ping_pong(client, cpus, describe(client, client))?);
    }
    Ok(floors)
}

fn describe(server: Option<usize>, client: Option<usize>) -> String {
    match (server, client) {
        (Some(s), Some(c)) if s == c => format!("both on CPU {c}"),
        (Some(s), Some(c)) => format!("echo on CPU {s}, client on CPU {c}"),
        _ => "not pinned".into(),
    }
}

fn ping_pong(echo_cpu: Option<usize>, cpus: usize, placement: String) -> io::Result<Floor> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> io::Result<()> {
        pin_current_thread(echo_cpu, cpus).map_err(io::Error::other)?;
        let (mut stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        let mut buf = [0; LINE];
        // Until the client hangs up.
        while stream.read_exact(&mut buf).is_ok() {
            stream.write_all(&buf)?;
        }
        Ok(())
    });
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let (line, mut back) = (line(), [0; LINE]);
    let mut h = stats::histogram();
    let start = Instant::now();
    while start.elapsed() < SECS {
        let sent = Instant::now();
        stream.write_all(&line)?;
        stream.read_exact(&mut back)?;
        stats::record(&mut h, sent.elapsed());
    }
    let elapsed = start.elapsed();
    drop(stream);
    echo.join()
        .map_err(|_| io::Error::other("the floor's echo thread panicked"))??;
    Ok(Floor {
        placement,
        round_trips_per_second: h.len() as f64 / elapsed.as_secs_f64(),
        latency: Latency::of(&h),
    })
}
