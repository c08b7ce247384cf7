//! Driving a server as its clients would.
//!
//! - [`client`]: one connection, every operation with a deadline, failures as verdicts that
//!   show the bytes;
//! - [`random`]: reproducible data from a seed;
//! - [`traffic`]: what the checks send: lines of varied length, a mebibyte exchanged while
//!   reading, rounds over many clients.

pub mod client;
pub mod random;
pub mod traffic;
