//! The binary's commands beyond `grade`, one file each group; they print through
//! [`out`](crate::out) and `outln!`.

pub mod learner;
pub mod rubric;
