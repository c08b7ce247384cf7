//! What the checks send: lines of varied length, a long exchange written while it is read,
//! rounds of one line over many clients.

use std::time::{Duration, Instant};

use crate::contain::server::Server;
use crate::drive::client::{show, Client, REPLY};
use crate::drive::random::Rng;
use crate::fail;
use crate::verdict::{Outcome, Verdict};

/// Writes `data` from one thread while reading the echo on this one, and compares.
pub fn exchange(client: &mut Client, data: &[u8], within: Duration) -> Outcome {
    let mut writer = client
        .stream()
        .try_clone()
        .map_err(|e| Verdict::new(format!("cannot clone a socket: {e}")))?;
    let to_send = data.to_vec();
    let sender = std::thread::spawn(move || {
        use std::io::Write;
        let _ = writer.set_write_timeout(Some(Duration::from_secs(10)));
        // Uneven chunks, so that line boundaries fall anywhere in a read.
        let mut rest = &to_send[..];
        let mut size = 1000;
        while !rest.is_empty() {
            let n = size.min(rest.len());
            writer.write_all(&rest[..n])?;
            rest = &rest[n..];
            size = size * 7 % 65_521 + 1;
        }
        Ok::<(), std::io::Error>(())
    });
    let (got, ending) = client.read_exact_within(data.len(), within);
    let sent = sender.join().unwrap_or(Ok(()));
    if got == data {
        return Ok(());
    }
    let at = data.iter().zip(&got).position(|(a, b)| a != b);
    let where_ = match at {
        Some(at) => format!(
            "the echo differs at byte {at}: expected {}, got {}",
            show(&data[at..(at + 40).min(data.len())]),
            show(&got[at..(at + 40).min(got.len())])
        ),
        None => format!(
            "only {} of the {} bytes came back, {ending}",
            got.len(),
            data.len()
        ),
    };
    let send_note = match sent {
        Err(e) => format!(" (sending failed too: {e})"),
        Ok(()) => String::new(),
    };
    fail!(
        "{} sent {} bytes of lines while reading the echo; {where_}{send_note}",
        client.name,
        data.len()
    )
}

/// `len` bytes of lines of varied length (1 to 200 bytes), reproducible from `seed`.
pub fn lines_of(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(len);
    let mut line = 0u64;
    while out.len() < len {
        let body = rng.below(200);
        let mut bytes: Vec<u8> = format!("{line:08} ").into_bytes();
        bytes.extend((0..body).map(|i| b'a' + ((line as usize + i) % 26) as u8));
        bytes.push(b'\n');
        let room = len - out.len();
        if bytes.len() > room {
            bytes.truncate(room.max(1) - 1);
            bytes.push(b'\n');
        }
        out.extend_from_slice(&bytes);
        line += 1;
    }
    out
}

/// Clients 2 to 4 connect, one after another, and each must be served while client 1 is in
/// the `situation` described; they stay connected (returned) so that serving one cannot
/// depend on another leaving.
pub fn others_served(server: &Server, situation: &str) -> Result<Vec<Client>, Verdict> {
    (2..=4)
        .map(|i| {
            let mut client = Client::connect_with(server.addr(), None, &format!("client {i}"))?;
            client
                .echo(format!("client {i} is not waiting for client 1\n").as_bytes())
                .map_err(|v| v.context(situation))?;
            Ok(client)
        })
        .collect()
}

/// Sends `line` on every client, then keeps those that get it back within [`REPLY`] (for
/// them all). A client the server closed at once may see its send fail: that is no failure.
pub fn round(mut clients: Vec<Client>, line: &[u8]) -> Vec<Client> {
    for client in &mut clients {
        let _ = client.send(line);
    }
    let deadline = Instant::now() + REPLY;
    clients
        .into_iter()
        .filter_map(|mut client| {
            // The last ones still get a moment: their replies may well be there already.
            let left = deadline.saturating_duration_since(Instant::now());
            let (got, _) =
                client.read_exact_within(line.len(), left.max(Duration::from_millis(50)));
            (got == line).then_some(client)
        })
        .collect()
}

/// Writes `data` to a client that never reads, until its writes block for 200 ms (the
/// buffers on both sides are full and the server cannot write its echoes) or all is sent.
pub fn fill_until_blocked(client: &Client, data: &[u8]) {
    use std::io::Write;
    let mut stream = client.stream();
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    for chunk in data.chunks(64 * 1024) {
        if stream.write_all(chunk).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_lines_have_the_asked_length_and_end_in_newlines() {
        for len in [1, 10, 1000, 1 << 20] {
            let data = lines_of(len, 1);
            assert_eq!(data.len(), len);
            assert_eq!(data.last(), Some(&b'\n'));
        }
    }
}
