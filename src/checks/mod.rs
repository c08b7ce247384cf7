//! The rubrics: the checks every architecture shares, and each architecture's own.

pub mod common;
pub mod iterative;
