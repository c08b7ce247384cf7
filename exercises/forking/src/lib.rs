//! Exercise: the forking server, a process per connection. Book: `book/src/forking.md`.

use std::io;
use std::net::TcpListener;

/// Accepts connections forever, forking a child to serve each.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    todo!("fork a child per connection accepted on {listener:?} (book: forking.md)")
}
