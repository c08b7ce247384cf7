//! The client beyond a busy pool, shared by the pools' checks (prefork's workers, the thread
//! pool's threads): while clients 1 to 3 keep 3 workers busy, client 4 waits, is never
//! refused, and is served as soon as one of them leaves.

use std::time::Duration;

use crate::contain::server::Server;
use crate::drive::client::{secs, show, Client, Ending, REPLY};
use crate::verdict::{Outcome, Verdict};
use crate::{ensure, fail};

/// How long the client beyond the pool must get nothing back: a server with room for it (a
/// spare thread, a master that accepts) serves it within milliseconds, however busy the
/// machine.
pub const QUEUED: Duration = Duration::from_secs(1);

/// The line client 4 sends while it waits.
const LINE: &[u8] = b"client 4 waits for a worker\n";

/// Connects client 4 while `clients` (1 to 3) keep the pool's 3 workers busy, sends it a
/// line, and checks that it waits for [`QUEUED`]: nothing comes back, and the connection
/// stays open. `why` ends the message when client 4 is served all the same, `wait_in` says
/// where a client beyond the pool waits ("in the backlog", "for a worker").
pub fn client_beyond(server: &Server, why: &str, wait_in: &str) -> Result<Client, Verdict> {
    let mut next = Client::connect_with(server.addr(), None, "client 4")
        .map_err(|v| v.context("a client beyond the pool must wait, not be refused"))?;
    next.send(LINE)?;
    let (got, ending) = next.read_exact_within(1, QUEUED);
    ensure!(
        got.is_empty(),
        "clients 1 to 3 kept the server's 3 workers busy, and client 4 was served all the \
         same (its echo began {}): {why}",
        show(&got)
    );
    if ending != Ending::Timeout {
        fail!(
            "clients 1 to 3 kept the server's 3 workers busy, and client 4, which had \
             connected and sent a line, saw its connection end ({ending}): a client beyond \
             the pool must wait {wait_in}, never be turned away"
        );
    }
    Ok(next)
}

/// Client 2 leaves `clients`, so client 4 (`next`, from [`client_beyond`]) must be served,
/// and the others still are. `explain` adds to the verdict when client 4 is not served.
pub fn next_is_served(
    mut clients: Vec<Client>,
    mut next: Client,
    explain: impl FnOnce(Verdict) -> Verdict,
) -> Outcome {
    drop(clients.remove(1));
    next.expect(LINE, REPLY).map_err(|v| {
        explain(v.context(format!(
            "client 4 waited {} while clients 1 to 3 were served, then client 2 left and \
             freed its worker",
            secs(QUEUED)
        )))
    })?;
    for client in &mut clients {
        let line = format!("{} is still served\n", client.name);
        client
            .echo(line.as_bytes())
            .map_err(|v| v.context("after client 2 left and client 4 was served"))?;
    }
    Ok(())
}
