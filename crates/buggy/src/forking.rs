//! Known-buggy forking servers.

use crate::Bug;

pub const BUGS: &[Bug] = &[];
