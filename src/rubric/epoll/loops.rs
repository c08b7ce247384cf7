//! Which event loop serves a client: the epoll instance of the server's that watches the
//! server's end of the client's connection (`/proc/PID/fdinfo`). An epoll server has one
//! loop; a multi-reactor has several, and a check about what one stuck loop does to the
//! others' clients must put those clients on the stuck loop, or another loop would serve
//! them and the check would pass whatever the stuck loop does.

use crate::contain::server::Server;
use crate::drive::client::Client;
use crate::probe::epoll::{self, Instance};
use crate::probe::sockets::Table;
use crate::verdict::Verdict;

/// How many clients [`same_loop`] tries: with 4 loops dealt at random, the chance that none
/// of them lands on the wanted one is (3/4)^100, below 1e-12.
const TRIES: usize = 100;

/// Every epoll instance of every process of the server, in pid and descriptor order.
pub fn loops(server: &Server) -> Vec<Instance> {
    let mut pids: Vec<i32> = server
        .tree()
        .iter()
        .filter(|p| !p.is_zombie())
        .map(|p| p.pid)
        .collect();
    pids.sort_unstable();
    pids.into_iter().flat_map(epoll::instances).collect()
}

/// The inode of the server's end of `client`'s connection, if the server holds it.
fn server_end(table: &Table, server: &Server, client: &Client) -> Option<u64> {
    let ours = client.stream().local_addr().ok()?;
    table.inode(server.addr(), ours)
}

/// The places in `loops` of the instances that watch `client`'s connection: one, in a
/// server whose loops each have their own connections.
pub fn loops_of(loops: &[Instance], table: &Table, server: &Server, client: &Client) -> Vec<usize> {
    let Some(inode) = server_end(table, server, client) else {
        return Vec::new();
    };
    (0..loops.len())
        .filter(|&i| loops[i].watches(inode))
        .collect()
}

/// What [`crate::rubric::multi_reactor`]'s checks say of a connection several loops watch.
pub const SEVERAL: &str = "watched by several loops at once (see `own-connections`)";

/// Where [`client_on`] looks for a client: on the loop that serves another, or off it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Same,
    Other,
}

/// A new client called `name`, greeted, that the loop serving `first` serves too. A server
/// with fewer than two loops, or none that watches `first`, gets the first new client: there
/// is no other loop for it to land on.
pub fn same_loop(server: &Server, first: &Client, name: &str) -> Result<Client, Verdict> {
    client_on(server, first, name, Placement::Same)
}

/// A new client called `name`, greeted, on the loop that serves `first` ([`Placement::Same`])
/// or on another one ([`Placement::Other`]), connecting up to [`TRIES`] clients to find one.
/// `Same` settles for the first client when the server has fewer than two loops, or none that
/// watches `first`; `Other` keeps looking then (a multi-reactor's other loops may still be
/// starting), and fails if it is so at the last try.
pub fn client_on(
    server: &Server,
    first: &Client,
    name: &str,
    placement: Placement,
) -> Result<Client, Verdict> {
    let greeted = || -> Result<Client, Verdict> {
        let mut client = Client::connect_with(server.addr(), None, name)?;
        client.echo(format!("{name} says hello\n").as_bytes())?;
        Ok(client)
    };
    // What the last try saw: how many loops, and whether one watches `first`.
    let mut seen = (0, false);
    for _ in 0..TRIES {
        let client = greeted()?;
        let (all, table) = (loops(server), Table::read(server.addr().port()));
        let wanted = loops_of(&all, &table, server, first);
        let landed = loops_of(&all, &table, server, &client);
        if placement == Placement::Other && wanted.len() > 1 {
            return Err(Verdict::new(format!(
                "{}'s connection was {SEVERAL}: no other loop can be told from its own",
                first.name
            )));
        }
        let found = match placement {
            Placement::Same => all.len() < 2 || wanted.is_empty() || landed == wanted,
            Placement::Other => !landed.is_empty() && landed.iter().all(|l| !wanted.contains(l)),
        };
        if found {
            return Ok(client);
        }
        // One loop, for now, is no reason to stop looking for another: a loop that has not
        // started yet still has its listener, and the next client may land there, waiting
        // for its greeting until the loop starts.
        seen = (all.len(), !wanted.is_empty());
    }
    if placement == Placement::Other && (seen.0 < 2 || !seen.1) {
        return Err(Verdict::new(format!(
            "{TRIES} clients connected one after another, and the server still had {} epoll \
             instance(s), and {} that watches {}'s connection: there is no other event loop \
             to put {name} on",
            seen.0,
            if seen.1 { "one" } else { "none" },
            first.name
        )));
    }
    let which = match placement {
        Placement::Same => "the event loop that serves",
        Placement::Other => "an event loop other than the one that serves",
    };
    Err(Verdict::new(format!(
        "{TRIES} clients connected one after another, and none of them was served by {which} \
         {}",
        first.name
    )))
}
