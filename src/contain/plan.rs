//! What the shepherd runs, and as whom: decided once, before the server's tree is made,
//! whichever way it is then made ([namespaces](super::fence) or [plain](super::plain)).

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;

use nix::unistd::{Gid, Uid};

use crate::probe::procfs;

/// The first uid tried for a server when the grader runs as root (plus the shepherd's pid).
pub const FIRST_SERVER_UID: u32 = 200_000;

/// Who the server runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The grader is root: the server gets a uid (and gid) no process uses, so that
    /// `RLIMIT_NPROC` binds (root is exempt) and file permissions hold it like any user.
    Stranger(u32),
    /// The grader is an ordinary user: the server runs as that same user.
    Same { uid: u32, gid: u32 },
}

/// A server to start.
#[derive(Debug)]
pub struct Plan {
    /// Its command line, as given (`argv[0]` first).
    pub program: Vec<String>,
    /// The program's file, opened by the shepherd if it is a native binary. The server is
    /// executed through this descriptor (`/proc/self/fd/N`): that needs no search permission
    /// on the directories above it (a checkout under `/root`, a `mktemp -d`), and it still
    /// works where the namespaces hide its directory (under `/tmp`).
    pub exe: Option<File>,
    /// The environment every server gets: `PATH`, `HOME`, `LANG` of the shepherd's, and
    /// `RUST_BACKTRACE=0`. Each way of starting adds its own `TMPDIR`.
    pub env: Vec<(String, String)>,
    pub who: Who,
}

impl Plan {
    pub fn new(program: &[String]) -> Plan {
        let mut env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| matches!(k.as_str(), "PATH" | "HOME" | "LANG"))
            .collect();
        env.push(("RUST_BACKTRACE".into(), "0".into()));
        Plan {
            program: program.to_vec(),
            exe: native_binary(&program[0]),
            env,
            who: who(),
        }
    }

    /// The path to execute: the opened binary if there is one, else the program as named.
    pub fn exe_path(&self) -> String {
        match &self.exe {
            Some(file) => format!("/proc/self/fd/{}", file.as_raw_fd()),
            None => self.program[0].clone(),
        }
    }
}

fn who() -> Who {
    if !Uid::effective().is_root() {
        return Who::Same {
            uid: Uid::effective().as_raw(),
            gid: Gid::effective().as_raw(),
        };
    }
    // Start from our pid, so that shepherds running side by side try different uids, and
    // take the first that no process holds in any of its uid slots.
    let mut uid = FIRST_SERVER_UID + std::process::id();
    while procfs::uid_in_use(uid) {
        uid += 1;
    }
    Who::Stranger(uid)
}

/// `path`, opened, if it names a native (ELF) executable. A script would not do: its
/// interpreter would have to open the path again, and the descriptor closes at exec.
fn native_binary(path: &str) -> Option<File> {
    if !path.contains('/') {
        return None; // a name looked up in PATH, not a file we can open from here
    }
    let mut file = File::open(path).ok()?;
    let mut magic = [0; 4];
    file.read_exact(&mut magic).ok()?;
    (magic == *b"\x7fELF").then_some(file)
}
