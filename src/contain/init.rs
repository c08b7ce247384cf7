//! The tiny init: process 1 of the server's namespaces, the part of the shepherd that lives
//! inside them.
//!
//! Why an init at all: the first process of a pid namespace is special. Orphans of the
//! namespace are reparented to it, and it ignores every signal it has no handler for, even
//! `SIGTERM` from the grader. The server must not be that process, or the contract's
//! "SIGTERM ends the server" would change meaning. So this init is process 1; it forks the
//! server, reaps whatever dies, and forwards nothing (the grader signals the server's host
//! pid directly). When it dies, the kernel kills every process of the namespace: that is how
//! the shepherd kills the whole tree, in one call, whatever the tree is doing.
//!
//! Inside the new mount namespace, before the server exists, it also builds the server's
//! view of the machine:
//! - everything already mounted becomes read-only: the server cannot change a file of the
//!   grader's, or of the user's (a non-root grader shares its uid with the server);
//! - a fresh `/proc` shows only the namespace's processes: no grader, no shepherd;
//! - a small tmpfs, the server's scratch space (its working directory and `TMPDIR`),
//!   replaces `/tmp`, `/var/tmp` and `/dev/shm`. Its size is the disk cap; it vanishes, with
//!   all it holds, when the namespace dies;
//! - a fresh `/dev/pts` hides the terminals of the grader's session;
//! - in the new IPC namespace, System V shared memory is capped at the disk cap too.
//!
//! It makes itself unreadable to the server (not dumpable: no `ptrace`, no `/proc/1/fd`),
//! names itself `init`, and ignores the server's signals as any namespace init does. It
//! dies with the shepherd (`PR_SET_PDEATHSIG`), so a shepherd killed outright still takes
//! the tree with it.
//!
//! It reports to the shepherd in the shepherd's own [protocol](super::protocol), with pids
//! as the namespace numbers them: [`Status::Started`] once the server waits at the gate,
//! [`Status::Exited`] when it ends, [`Status::Unfenced`] if the namespaces cannot be set
//! up, [`Status::SpawnFailed`] if the program cannot be started.

use std::ffi::{CStr, CString};
use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::prctl;
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Gid, Pid, Uid};

use crate::contain::plan::{Plan, Who};
use crate::contain::protocol::{Exit, Status};
use crate::probe::procfs;

/// The private scratch file system, and where else it is mounted.
const SCRATCH: &str = "/tmp";
const ALSO_SCRATCH: [&str; 2] = ["/var/tmp", "/dev/shm"];

/// The descriptors init is given, besides standard output and error.
pub struct Pipes {
    /// One byte once the shepherd has written our uid and gid maps; EOF if it died first.
    pub sync: OwnedFd,
    /// Held by the server until the shepherd knows its host pid: one byte opens it.
    pub gate: OwnedFd,
    /// Where init reports to the shepherd.
    pub status: OwnedFd,
}

/// What init needs to know of the server beyond the [`Plan`].
pub struct Setup<'a> {
    pub plan: &'a Plan,
    /// `RLIMIT_NPROC` for the server: counted inside the user namespace, so only the tree's
    /// own tasks count, not the user's other processes.
    pub nproc: u64,
    /// The size of the private scratch file system, in MiB.
    pub disk_mib: u64,
}

/// Init's whole life; the value is its exit status.
pub fn run(setup: &Setup, pipes: Pipes) -> isize {
    // First, so that a shepherd that dies from now on takes init, and so the tree, along.
    if prctl::set_pdeathsig(Signal::SIGKILL).is_err() || !await_byte(&pipes.sync) {
        return 1;
    }
    drop(pipes.sync);
    let say = |status: Status| {
        let _ = nix::unistd::write(&pipes.status, format!("{status}\n").as_bytes());
    };
    // Not dumpable: the server, of the same uid when the grader is not root, may neither
    // trace init nor read its descriptors (the shepherd's pipes) through /proc.
    let _ = prctl::set_dumpable(false);
    if let Err(why) = fence(setup) {
        say(Status::Unfenced(why));
        return 1;
    }
    disguise();
    let server = match spawn(setup, &pipes.gate, &pipes.status) {
        Ok(pid) => pid,
        Err(e) => {
            let why = std::io::Error::from(e);
            say(Status::SpawnFailed(format!(
                "{}: {why}",
                setup.plan.program[0]
            )));
            return 1;
        }
    };
    drop(pipes.gate);
    say(Status::Started(server, 0));
    reap(server, say)
}

/// Waits for one byte on `fd`; false on EOF (the writer is gone).
fn await_byte(fd: &OwnedFd) -> bool {
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(fd, &mut byte) {
            Ok(1) => return true,
            Err(Errno::EINTR) => continue,
            _ => return false,
        }
    }
}

/// Builds the server's view of the machine (see the module docs). An error means the
/// namespaces do not hold what they should: the shepherd then falls back, and says so.
fn fence(setup: &Setup) -> Result<(), String> {
    let step = |what: &str, done: nix::Result<()>| done.map_err(|e| format!("{what}: {e}"));
    // The server's /proc/self/cgroup then reads `/`: no path of the grader's in it.
    // Optional: a kernel without cgroup namespaces still fences everything else.
    let _ = unshare(CloneFlags::CLONE_NEWCGROUP);
    // Paths the command line names under /tmp would vanish below the scratch space: hold
    // on to them first, to mount them back in place.
    let kept = keep_named_paths(&setup.plan.program);
    let none: Option<&str> = None;
    // Private, so that nothing mounted here propagates back to the host.
    step(
        "making mounts private",
        mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none),
    )?;
    step("making every mount read-only", read_only_everywhere())?;
    step(
        "mounting a private /proc",
        mount(
            Some("proc"),
            "/proc",
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            none,
        ),
    )?;
    let size = format!("size={}m,mode=1777", setup.disk_mib);
    step(
        "mounting a private /tmp",
        mount(
            Some("tmpfs"),
            SCRATCH,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(size.as_str()),
        ),
    )?;
    for dir in ALSO_SCRATCH {
        // Best effort: a machine without /var/tmp simply has no such place to write.
        let _ = mount(Some(SCRATCH), dir, none, MsFlags::MS_BIND, none);
    }
    // Best effort: without it the host's terminals stay visible, yet read-only mounts and
    // the new session (no controlling terminal) still keep the server off the grader's.
    let _ = mount(
        Some("devpts"),
        "/dev/pts",
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=620"),
    );
    for (path, fd) in kept {
        step(&format!("keeping {path} visible"), mount_back(&path, &fd))?;
    }
    cap_ipc(setup.disk_mib);
    // No controlling terminal for the server: /dev/tty cannot reach the grader's.
    let _ = nix::unistd::setsid();
    // The shepherd's control socket: init has no use for it.
    step("closing the shepherd's socket", stdin_to_null())
}

/// Sets the read-only flag on every mount of the namespace at once (`mount_setattr`, which
/// nix lacks, with `AT_RECURSIVE`): one call, where remounting each one would have to repeat
/// its locked flags exactly.
fn read_only_everywhere() -> nix::Result<()> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: a NUL-terminated path, and a mount_attr whose size is passed with it.
    let done = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c"/".as_ptr(),
            libc::AT_RECURSIVE,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    Errno::result(done).map(drop)
}

/// Descriptors (`O_PATH`) on the paths of `program` that lie under the scratch directories.
fn keep_named_paths(program: &[String]) -> Vec<(String, OwnedFd)> {
    let hidden = |arg: &str| {
        std::iter::once(SCRATCH)
            .chain(ALSO_SCRATCH)
            .any(|dir| arg.starts_with(&format!("{dir}/")))
    };
    program
        .iter()
        .filter(|arg| hidden(arg))
        .filter_map(|arg| {
            let fd = open(
                arg.as_str(),
                OFlag::O_PATH | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ok()?;
            Some((arg.clone(), fd))
        })
        .collect()
}

/// Bind-mounts what `fd` names at `path` in the scratch space. The bind inherits the
/// read-only flag of the mount it comes from.
fn mount_back(path: &str, fd: &OwnedFd) -> nix::Result<()> {
    let is_dir = nix::sys::stat::fstat(fd).is_ok_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR);
    let io = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    let parent = std::path::Path::new(path).parent().unwrap_or("/".as_ref());
    fs::create_dir_all(parent).map_err(io)?;
    if is_dir {
        fs::create_dir_all(path).map_err(io)?;
    } else {
        fs::File::create(path).map_err(io)?;
    }
    let source = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let none: Option<&str> = None;
    mount(Some(source.as_str()), path, none, MsFlags::MS_BIND, none)
}

/// Caps System V shared memory in the namespace's own IPC namespace, where it would
/// otherwise be held by no process at all, and so be seen by no `/proc` scan.
fn cap_ipc(disk_mib: u64) {
    let bytes = disk_mib << 20;
    // Best effort: the sysctls of a new IPC namespace belong to its root, which we are.
    let _ = fs::write("/proc/sys/kernel/shmmax", bytes.to_string());
    let _ = fs::write("/proc/sys/kernel/shmall", (bytes / 4096).to_string());
}

/// Replaces standard input, the shepherd's control socket, with `/dev/null`.
fn stdin_to_null() -> nix::Result<()> {
    let null = open(
        "/dev/null",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    nix::unistd::dup2_stdin(null.as_fd())
}

/// Makes init look like any init to the server: `init` in `/proc/1/comm` and in
/// `/proc/1/cmdline`, which would otherwise show the shepherd's command line.
fn disguise() {
    let _ = prctl::set_name(c"init");
    let Some((start, end)) = procfs::arg_area(std::process::id() as i32) else {
        return;
    };
    let name: &CStr = c"init";
    let name = name.to_bytes_with_nul();
    if end <= start || end - start < name.len() {
        return;
    }
    // SAFETY: [start, end) is this process's own argument area, as the kernel reports it:
    // mapped, writable and ours. Nothing reads argv after this point (init's arguments are
    // already parsed and copied), so overwriting the strings there breaks no reference.
    unsafe {
        std::ptr::write_bytes(start as *mut u8, 0, end - start);
        std::ptr::copy_nonoverlapping(name.as_ptr(), start as *mut u8, name.len());
    }
}

/// Starts the server, held at the gate until the shepherd opens it. Returns its pid in the
/// namespace.
///
/// By hand (`fork`, then `execvpe`), not with `std::process::Command`: `spawn` returns only
/// once the child has executed, and ours must wait at the gate first. If the exec fails,
/// the child says why itself, on the report pipe, and exits with 127.
fn spawn(setup: &Setup, gate: &OwnedFd, status: &OwnedFd) -> nix::Result<i32> {
    let plan = setup.plan;
    let c = |s: &str| CString::new(s).unwrap_or_default();
    let exe = c(&plan.exe_path());
    let argv: Vec<CString> = plan.program.iter().map(|a| c(a)).collect();
    let env: Vec<CString> = plan
        .env
        .iter()
        .map(|(k, v)| c(&format!("{k}={v}")))
        .chain([c(&format!("TMPDIR={SCRATCH}"))])
        .collect();
    setrlimit(Resource::RLIMIT_NPROC, setup.nproc, setup.nproc)?;
    // SAFETY: init is single-threaded, so the child is a faithful copy that may run ordinary
    // code (it allocates only to format an error) until it executes the server.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(child.as_raw()),
        ForkResult::Child => {
            let why = become_server(plan.who, gate, &exe, &argv, &env);
            let program = &plan.program[0];
            let line = format!("{}\n", Status::SpawnFailed(format!("{program}: {why}")));
            let _ = nix::unistd::write(status, line.as_bytes());
            // SAFETY: _exit ends the child at once, running none of init's destructors.
            unsafe { libc::_exit(127) }
        }
    }
}

/// In the server's process: wait at the gate, take the server's identity, then execute it.
/// Returns only if that failed, with why.
///
/// For a grader that is not root, the identity is a user namespace of the server's own.
/// Why: init is root in the first one (it must be, to mount and to cap IPC), and so would
/// the server be, with every capability over those mounts. In a nested namespace the
/// server has the user's uid back (`UID 0 1`: its uid inside is the same number as
/// outside) and, being no root there, no capability left after exec.
fn become_server(
    who: Who,
    gate: &OwnedFd,
    exe: &CStr,
    argv: &[CString],
    env: &[CString],
) -> std::io::Error {
    if !await_byte(gate) {
        return std::io::Error::other("the shepherd is gone");
    }
    let prepared = (|| -> std::io::Result<()> {
        nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
        nix::unistd::chdir(SCRATCH)?;
        stdin_to_null()?;
        match who {
            Who::Stranger(uid) => {
                // Root's supplementary groups go first, while we may still drop them.
                let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(uid));
                nix::unistd::setgroups(&[])?;
                nix::unistd::setresgid(gid, gid, gid)?;
                nix::unistd::setresuid(uid, uid, uid)?;
            }
            Who::Same { uid, gid } => {
                // Inherited from init; while it holds, our own /proc files belong to root
                // and the maps below could not be written.
                prctl::set_dumpable(true)?;
                unshare(CloneFlags::CLONE_NEWUSER)?;
                fs::write("/proc/self/uid_map", format!("{uid} 0 1\n"))?;
                fs::write("/proc/self/setgroups", "deny")?;
                fs::write("/proc/self/gid_map", format!("{gid} 0 1\n"))?;
            }
        }
        // Nothing the server executes may gain privileges (setuid bits, file capabilities).
        prctl::set_no_new_privs()?;
        // The shepherd, a Rust program, ignores SIGPIPE, and an ignored signal stays ignored
        // across exec: give the server the default, as any shell would.
        // SAFETY: SIG_DFL installs no handler.
        unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }?;
        Ok(())
    })();
    if let Err(e) = prepared {
        return e;
    }
    match nix::unistd::execvpe(exe, argv, env) {
        Err(e) => e.into(),
        Ok(never) => match never {},
    }
}

/// Reaps every process of the namespace as it ends, reporting the server's end. Returns
/// once nothing is left, which ends the namespace.
fn reap(server: i32, say: impl Fn(Status)) -> isize {
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid.as_raw() == server => {
                say(Status::Exited(server, Exit::Code(code)));
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid.as_raw() == server => {
                say(Status::Exited(server, Exit::Signal(signal as i32)));
            }
            Err(Errno::ECHILD) => return 0,
            _ => {}
        }
    }
}
