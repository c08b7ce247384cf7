//! `Read::take` bounds a `read_until`: the three ways a bounded read of a line can end.
//! Not the server: the reader here is a byte string, and the limit is 8 bytes, not 65,536.
//! Run it with `cargo run -q -p book-listings --bin iterative-take`.

use std::io::{BufRead, BufReader, Read};

fn main() -> std::io::Result<()> {
    const LIMIT: u64 = 8;
    let input: &[u8] = b"short\nmuch too long\nfrag";
    let mut reader = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader).take(LIMIT).read_until(b'\n', &mut line)?;
        println!("{n} bytes: {:?}", String::from_utf8_lossy(&line));
        if n == 0 {
            return Ok(());
        }
    }
}
