//! The rubrics: what a check is ([`check`]), the architectures ([`registry`]), the checks
//! every architecture shares ([`common`]), one folder per architecture, the
//! [diagnoses](diagnose) that name the bug behind a failure, and the runner ([`run`]).

pub mod async_tasks;
pub mod check;
pub mod common;
pub mod diagnose;
pub mod epoll;
pub mod forking;
pub mod iterative;
pub mod multi_reactor;
pub mod offload;
pub mod prefork;
pub mod registry;
pub mod run;
pub mod thread_pool;
pub mod threaded;
