//! Running and containing a server under test.
//!
//! - [`shepherd`]: the small process that owns one server's whole tree, caps it and kills it;
//! - [`fence`]: the tree in namespaces of its own, the shepherd's side; [`init`]: the
//!   namespaces' first process, which builds the server's view and reaps;
//! - [`plain`]: the tree without namespaces, where the kernel allows none;
//! - [`plan`]: what the shepherd runs and as whom; [`memcg`]: a memory cgroup where one
//!   can be made; [`pidfd`]: signalling a process by identity, not by number;
//! - [`output`]: the server's stdout and stderr, made safe to show;
//! - [`protocol`]: the lines the shepherd and the grader exchange, as types;
//! - [`server`]: the server as the checks see it (start, address, probes, kill);
//! - [`sweep`]: what spans a whole run: Ctrl-C, and strays of a grader that was killed.

pub mod fence;
pub mod init;
pub mod memcg;
pub mod output;
pub mod pidfd;
pub mod plain;
pub mod plan;
pub mod protocol;
pub mod server;
pub mod shepherd;
pub mod sweep;
