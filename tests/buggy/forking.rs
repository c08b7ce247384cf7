//! The known-buggy forking servers and the checks that must catch them.

use crate::Case;

pub const CASES: &[Case] = &[];
