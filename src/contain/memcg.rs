//! A memory cgroup for one server's tree, where the grader may make one.
//!
//! Why: the shepherd's memory cap adds up what `/proc` shows (resident memory, memfds, the
//! private `/tmp`), polled every tick. A memory cgroup counts everything the tree charges,
//! shared memory of every kind included, and the kernel enforces its limit at once instead
//! of a tick later: past the limit it reclaims, then kills inside the group, never outside.
//! The shepherd reads the group's OOM-kill counter to tell the grader which cap was hit.
//!
//! Where: a child of the shepherd's own cgroup in the v1 `memory` hierarchy, so that any
//! limit above the grader still applies. That needs write access to the shepherd's cgroup,
//! which root has on hosts with the v1 controller mounted read-write (this project's
//! machines). cgroup v2 is not tried: a v2 child gets the memory controller only if its
//! parent holds no process, and the grader's own group does. Without a cgroup, the polled
//! cap is all there is.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::probe::procfs;

/// Where the v1 memory controller is mounted.
const ROOT: &str = "/sys/fs/cgroup/memory";

/// A memory cgroup of our own; removed by [`MemoryCgroup::remove`] once its tree is dead.
#[derive(Debug)]
pub struct MemoryCgroup {
    dir: PathBuf,
}

impl MemoryCgroup {
    /// Makes the group `name` below our own, limited to `limit_mib`, or `None` where that is
    /// not allowed (not root, no v1 memory controller, a read-only hierarchy).
    pub fn create(name: &str, limit_mib: u64) -> Option<MemoryCgroup> {
        let dir = own_group()?.join(name);
        fs::create_dir(&dir).ok()?;
        let group = MemoryCgroup { dir };
        let bytes = (limit_mib << 20).to_string();
        if group.write("memory.limit_in_bytes", &bytes).is_err() {
            group.remove(Instant::now());
            return None;
        }
        // Memory and swap together, so that swapping out does not dodge the limit. Absent
        // where swap is not accounted, which changes nothing.
        let _ = group.write("memory.memsw.limit_in_bytes", &bytes);
        Some(group)
    }

    /// Moves `pid` into the group; its children are born there.
    pub fn adopt(&self, pid: i32) -> std::io::Result<()> {
        self.write("cgroup.procs", &pid.to_string())
    }

    /// How many processes the kernel killed in the group for going over its limit.
    pub fn oom_kills(&self) -> u64 {
        let text = fs::read_to_string(self.dir.join("memory.oom_control")).unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The most memory the group ever held, in MiB.
    pub fn peak_mib(&self) -> u64 {
        fs::read_to_string(self.dir.join("memory.max_usage_in_bytes"))
            .ok()
            .and_then(|n| n.trim().parse::<u64>().ok())
            .map_or(0, |b| b >> 20)
    }

    /// Removes the group, retrying until `deadline`: the kernel refuses while the last
    /// members are still exiting.
    pub fn remove(self, deadline: Instant) {
        while fs::remove_dir(&self.dir).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn write(&self, file: &str, value: &str) -> std::io::Result<()> {
        fs::write(self.dir.join(file), value)
    }
}

/// The name of the group of the shepherd `pid`: neutral, for the server can list the
/// cgroup hierarchy.
pub fn name_for(pid: u32) -> String {
    format!("s{pid}")
}

/// Removes the groups of shepherds that were killed outright (`SIGKILL` leaves them no
/// chance to clean up): groups named for a process that no longer exists. The kernel
/// refuses to remove a group that still has members, so a live tree is never touched.
pub fn sweep_stale() {
    let Some(dir) = own_group() else { return };
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix('s')?.parse::<i32>().ok());
        if pid.is_some_and(|pid| procfs::read(pid).is_none()) {
            let _ = fs::remove_dir(entry.path());
        }
    }
}

/// This process's own group in the v1 memory hierarchy.
fn own_group() -> Option<PathBuf> {
    let own = procfs::cgroup_v1_path(std::process::id() as i32, "memory")?;
    Some(PathBuf::from(format!(
        "{ROOT}{}",
        own.trim_end_matches('/')
    )))
}
