//! The rubrics: the checks every architecture shares, and each architecture's own.

pub mod common;
pub mod epoll;
pub mod forking;
pub mod iterative;
pub mod threaded;
