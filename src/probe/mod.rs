//! Looking at a server from outside: everything the grader learns from `/proc` is read here,
//! and nowhere else.
//!
//! - [`procfs`]: processes, threads, descriptors, memory and CPU time;
//! - [`epoll`]: what a process's epoll instances watch, and for which events;
//! - [`sockets`]: the TCP table and who holds which socket;
//! - [`settle`]: waiting until a value stops changing, or a condition holds, with a deadline.

pub mod epoll;
pub mod procfs;
pub mod settle;
pub mod sockets;
