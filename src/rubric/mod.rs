//! The rubrics: what a check is ([`check`]), the architectures ([`registry`]), the checks
//! every architecture shares ([`common`]), one folder per architecture, and the runner
//! ([`run`]).

pub mod check;
pub mod common;
pub mod epoll;
pub mod forking;
pub mod iterative;
pub mod registry;
pub mod run;
pub mod threaded;
