//! Reading `/proc`: the processes under a root, and what each one holds.
//!
//! Descendants are found by walking down the kernel's parent-child links, not by process
//! group: a server that calls `setsid` leaves its group but not its ancestry, and the
//! shepherd is a child subreaper (and a namespace's init reaps what its processes
//! orphan), so even a double-forked daemon stays below it.

mod tasks;

pub use tasks::{cpu_ns, reading_sockets, tasks, wchan, Task};

use std::collections::{HashMap, HashSet};
use std::fs;

/// One process, as `/proc/PID/stat` and `/proc/PID/status` describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// `R`, `S`, `D`, `Z` (zombie), `T` (stopped), ...
    pub state: char,
    /// Clock ticks since boot when it started: with `pid`, identifies a process over time.
    pub start: u64,
    pub threads: usize,
    pub rss_kib: u64,
}

impl Proc {
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

/// Reads one process; `None` if it is gone (or never was).
///
/// From its main thread's `stat` alone, since the shepherd reads every process of its tree
/// each tick: the process's own `stat` makes the kernel visit every thread, and `status`
/// formats some fifty lines. The main thread's holds the whole process's thread count and
/// resident size, and the process's parent and start time.
pub fn read(pid: i32) -> Option<Proc> {
    let fields = fields_of(&format!("/proc/{pid}/task/{pid}/stat"))?;
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Proc {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        start: field(22)?,
        threads: field(20)? as usize,
        rss_kib: field(24)? * page_kib(),
    })
}

/// The size of a memory page, in KiB.
fn page_kib() -> u64 {
    static KIB: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *KIB.get_or_init(|| {
        let bytes = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE);
        bytes.ok().flatten().map_or(4, |b| b as u64 / 1024)
    })
}

/// The fields of `/proc/PID/stat` from the third (the state) on: index `n - 3` holds field
/// `n` as proc(5) numbers them.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    fields_of(&format!("/proc/{pid}/stat"))
}

/// The fields of a `stat` file (a process's or a thread's) from the third on.
fn fields_of(path: &str) -> Option<Vec<String>> {
    let text = fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may itself contain spaces or ')'.
    let rest = text.get(text.rfind(')')? + 2..)?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Every process below `root` (not `root` itself), parents before children.
///
/// Found by walking down from `root` through the `children` file of each thread (a child is
/// listed under the thread that made it, or that it was handed to), so that a scan costs
/// what the tree holds rather than what the whole machine runs: the shepherd scans its tree
/// every tick, and gradings run side by side. Where the kernel has no `children` files
/// (`CONFIG_PROC_CHILDREN`), by the parent links of every process in `/proc`.
pub fn descendants(root: i32) -> Vec<Proc> {
    if has_children_files() {
        walk(root, children_of_every_thread)
    } else {
        by_parent_links(root)
    }
}

/// [`descendants`] where there are no `children` files: every process's parent, read from
/// all of `/proc`.
fn by_parent_links(root: i32) -> Vec<Proc> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for pid in all_pids() {
        if let Some(p) = read(pid) {
            children.entry(p.ppid).or_default().push(pid);
        }
    }
    walk(root, |pid| children.get(&pid).cloned().unwrap_or_default())
}

/// The processes below `root`, each read as it is found, `children` giving each one's
/// children. The tree is not read atomically: while processes fork and exit, a pid can be
/// reused and the links can form a cycle, so each pid is visited once.
fn walk(root: i32, children: impl Fn(i32) -> Vec<i32>) -> Vec<Proc> {
    let mut found = Vec::new();
    let mut queue = vec![root];
    let mut seen = HashSet::from([root]);
    while let Some(pid) = queue.pop() {
        for child in children(pid) {
            if !seen.insert(child) {
                continue;
            }
            queue.push(child);
            if let Some(p) = read(child) {
                found.push(p);
            }
        }
    }
    found
}

/// Whether this kernel lists each thread's children in `/proc/PID/task/TID/children`.
fn has_children_files() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| fs::metadata("/proc/thread-self/children").is_ok())
}

/// The children of every thread of `pid`.
fn children_of_every_thread(pid: i32) -> Vec<i32> {
    let mut found = Vec::new();
    for task in fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let listed = fs::read_to_string(task.path().join("children")).unwrap_or_default();
        found.extend(
            listed
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    found
}

/// Every process whose real uid is `uid`.
pub fn by_uid(uid_: u32) -> Vec<Proc> {
    all_pids()
        .filter(|&pid| uid(pid) == Some(uid_))
        .filter_map(read)
        .collect()
}

/// Every process whose environment holds `VAR=VALUE` with `VALUE` starting with `prefix`.
///
/// Used to find strays of a run even outside the shepherd's tree (a belt, not the braces:
/// a hostile program can clear its environment).
pub fn tagged(var: &str, prefix: &str) -> Vec<Proc> {
    let needle = format!("{var}={prefix}");
    all_pids()
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|&b| b == 0)
                    .any(|kv| kv.starts_with(needle.as_bytes()))
            })
        })
        .filter_map(read)
        .collect()
}

fn all_pids() -> impl Iterator<Item = i32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
}

/// The inodes of the sockets `pid` has open (its descriptors that point at `socket:[N]`).
pub fn socket_inodes(pid: i32) -> Vec<u64> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter_map(|to| {
            let to = to.to_str()?;
            to.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// The real uid of `pid`.
pub fn uid(pid: i32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The value of `var` in `pid`'s environment, if it can be read and is set.
pub fn env_var(pid: i32, var: &str) -> Option<String> {
    let env = fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|&b| b == 0).find_map(|kv| {
        let text = std::str::from_utf8(kv).ok()?;
        Some(text.strip_prefix(var)?.strip_prefix('=')?.to_string())
    })
}

/// The proportional set size of `pid` in KiB (`Pss:` of `/proc/PID/smaps_rollup`: pages
/// shared between processes are split between them).
pub fn pss_kib(pid: i32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Every process whose command line (`/proc/PID/cmdline`: the arguments, each ended by a
/// NUL) starts with `prefix`.
pub fn running(prefix: &[u8]) -> Vec<Proc> {
    all_pids()
        .filter(|pid| fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(prefix)))
        .filter_map(read)
        .collect()
}

/// The children of `pid` (of its main thread), as `/proc/PID/task/PID/children` lists them.
pub fn children(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Whether any process has `uid` as its real, effective, saved or filesystem uid.
pub fn uid_in_use(uid: u32) -> bool {
    all_pids().any(|pid| {
        fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .is_some_and(|ids| ids.split_whitespace().any(|id| id == uid.to_string()))
        })
    })
}

/// Bytes of memory held in memfds (`memfd_create`) by the descriptors of `pids`, each
/// memfd counted once however many descriptors share it.
///
/// Such memory is shared memory that no process need map, so it is in nobody's RSS: a tree
/// could hold gigabytes that way under an RSS cap. The size counted is what the file has
/// allocated (`st_blocks`), not its length: a sparse memfd costs nothing.
pub fn memfd_bytes(pids: &[i32]) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = HashSet::new();
    let mut bytes = 0;
    for pid in pids {
        for fd in fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let is_memfd = fs::read_link(fd.path())
                .is_ok_and(|to| to.as_os_str().as_encoded_bytes().starts_with(b"/memfd:"));
            // stat follows the link to the memfd itself.
            let Some(meta) = is_memfd.then(|| fs::metadata(fd.path()).ok()).flatten() else {
                continue;
            };
            if seen.insert((meta.dev(), meta.ino())) {
                bytes += meta.blocks() * 512;
            }
        }
    }
    bytes
}

/// KiB in use on the file system mounted at `path` as process `pid` sees it (through
/// `/proc/PID/root`, so a mount private to `pid`'s mount namespace counts), or `None`.
pub fn fs_used_kib(pid: i32, path: &str) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(format!("/proc/{pid}/root{path}").as_str()).ok()?;
    let used = stat.blocks().saturating_sub(stat.blocks_free());
    Some(used * stat.fragment_size() / 1024)
}

/// Where `pid`'s command line lives in its own memory: `(arg_start, arg_end)`, fields 48
/// and 49 of `/proc/PID/stat`. What `ps` shows is read from there.
pub fn arg_area(pid: i32) -> Option<(usize, usize)> {
    let fields = stat_fields(pid)?;
    let field = |n: usize| fields.get(n - 3)?.parse::<usize>().ok();
    Some((field(48)?, field(49)?))
}

/// The path of `pid`'s cgroup in the v1 hierarchy of `controller` (`/a/b`), if it has one.
pub fn cgroup_v1_path(pid: i32, controller: &str) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    // Lines are `ID:CONTROLLERS:PATH`; cgroup2's line has no controllers.
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let _id = parts.next()?;
        let controllers = parts.next()?;
        let path = parts.next()?;
        controllers
            .split(',')
            .any(|c| c == controller)
            .then(|| path.to_string())
    })
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// How many descriptors `pid` has open, or `None` if it is gone.
pub fn open_fds(pid: i32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_itself() {
        let me = read(std::process::id() as i32).unwrap();
        assert!(me.threads >= 1);
        assert!(me.rss_kib > 0);
        assert_ne!(me.state, 'Z');
        assert!(open_fds(std::process::id() as i32).unwrap() >= 3);
        let tasks = tasks(std::process::id() as i32);
        // This thread is running: it is reading its own stat.
        assert!(tasks.iter().any(|t| t.state == 'R'), "{tasks:?}");
    }

    #[test]
    fn finds_a_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let me = std::process::id() as i32;
        for found in [descendants(me), by_parent_links(me)] {
            assert!(
                found.iter().any(|p| p.pid == child.id() as i32),
                "{found:?}"
            );
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn finds_a_child_made_by_another_thread() {
        // A child is listed under the thread that made it, not under the main thread.
        let (ready, made) = std::sync::mpsc::channel();
        let (done, finish) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut child = std::process::Command::new("sleep")
                .arg("5")
                .spawn()
                .unwrap();
            ready.send(child.id() as i32).unwrap();
            let _ = finish.recv();
            child.kill().unwrap();
            child.wait().unwrap();
        });
        let pid = made.recv().unwrap();
        let found = descendants(std::process::id() as i32);
        done.send(()).unwrap();
        thread.join().unwrap();
        assert!(found.iter().any(|p| p.pid == pid), "{pid} in {found:?}");
    }
}
