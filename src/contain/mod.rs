//! Running and containing a server under test.
//!
//! - [`shepherd`]: the small process that owns one server's whole tree, caps it and kills it;
//! - [`memcg`]: a memory cgroup where one can be made; [`pidfd`]: signalling a process by
//!   identity, not by number;
//! - [`output`]: the server's stdout and stderr, made safe to show;
//! - [`protocol`]: the lines the shepherd and the grader exchange, as types;
//! - [`server`]: the server as the checks see it (start, address, probes, kill);
//! - [`sweep`]: what spans a whole run: Ctrl-C, and strays of a grader that was killed.

pub mod memcg;
pub mod output;
pub mod pidfd;
pub mod protocol;
pub mod server;
pub mod shepherd;
pub mod sweep;
