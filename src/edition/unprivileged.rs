//! Building a submission as a user who owns nothing.
//!
//! The grader contains the server it runs, but a build runs code too: rustc, cargo, and
//! whatever a crate makes them do. A submission cannot bring a build script or a procedural
//! macro (its `Cargo.toml` is the workbook's) and cannot name another file
//! ([`scan`](super::scan)); on top of that, when the grader runs as root, the build runs
//! under uid and gid 65534 (`nobody`), with no supplementary groups, a clean environment,
//! the working directory `/`, and a time limit. The tree it builds is root's and read-only
//! to it; it writes only its own target and cargo home in the grading's scratch directory.
//!
//! That user must reach the toolchain and the registry's crates. Installed under `/root`
//! (mode 0700), they are out of its reach: the build then runs in a private mount
//! namespace where they are bind-mounted inside the scratch directory, which it can reach.
//! Without root, the build runs as the grader's own user, and the grader says so.

use std::ffi::{CStr, CString};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::{chown, setgid, setgroups, setuid, Gid, Pid, Uid};

/// The user and group a submission is built as, when the grader is root.
pub const BUILD_ID: u32 = 65534;

/// The longest a submission's build may take.
pub const BUILD_TIME: Duration = Duration::from_secs(300);

/// How much of the compiler's messages a verdict shows.
const MESSAGES_SHOWN: usize = 16 * 1024;

/// A built submission: its binary, and a note for the report on who built it.
pub struct Built {
    pub exe: PathBuf,
    pub note: String,
}

pub enum BuildError {
    /// The submission did not build: the compiler's messages.
    Failed(String),
    /// The grader could not build anything here: not the submission's fault.
    Environment(String),
}

/// Builds the binary `package` of the workspace `tree`, in `scratch`. `workspace` is the
/// grader's own, whose toolchain (and its overrides) the build uses.
pub fn build(
    workspace: &Path,
    scratch: &Path,
    tree: &Path,
    package: &str,
) -> Result<Built, BuildError> {
    let env = |e: String| BuildError::Environment(e);
    let sysroot = sysroot(workspace).map_err(env)?;
    let registry = cargo_home().join("registry");
    let root = Uid::effective().is_root();
    let home = scratch.join("home");
    let target = scratch.join("target");
    for dir in [&home, &target] {
        fs::create_dir_all(dir).map_err(|e| env(format!("{}: {e}", dir.display())))?;
        if root {
            chown(
                dir.as_path(),
                Some(Uid::from_raw(BUILD_ID)),
                Some(Gid::from_raw(BUILD_ID)),
            )
            .map_err(|e| env(format!("chown {}: {e}", dir.display())))?;
        }
    }
    // What the build user sees: the real paths, or bind mounts of them in the scratch.
    let mut binds = Vec::new();
    let toolchain = if !root || reachable(&sysroot) {
        sysroot.clone()
    } else {
        let seen = scratch.join("toolchain");
        fs::create_dir_all(&seen).map_err(|e| env(format!("{}: {e}", seen.display())))?;
        binds.push((sysroot.clone(), seen.clone()));
        seen
    };
    let seen_registry = home.join("registry");
    if !root || reachable(&registry) {
        std::os::unix::fs::symlink(&registry, &seen_registry)
    } else {
        binds.push((registry.clone(), seen_registry.clone()));
        fs::create_dir(&seen_registry)
    }
    .map_err(|e| env(format!("{}: {e}", seen_registry.display())))?;

    let mut command = Command::new(toolchain.join("bin/cargo"));
    command
        .args([
            "build",
            "--offline",
            "--quiet",
            "-p",
            package,
            "--bin",
            package,
        ])
        .arg("--manifest-path")
        .arg(tree.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .arg("--message-format=json-render-diagnostics")
        .current_dir("/")
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &home)
        .env("CARGO_HOME", &home)
        .env("RUSTC", toolchain.join("bin/rustc"))
        .env("CARGO_TERM_COLOR", "never")
        // The registry may be the grader's own: never clean it from here.
        .env("CARGO_CACHE_AUTO_CLEAN_FREQUENCY", "never")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if root {
        let binds: Vec<(CString, CString)> = binds
            .iter()
            .map(|(from, to)| (c_path(from), c_path(to)))
            .collect();
        // SAFETY: the closure runs in the forked child before exec, where only
        // async-signal-safe calls are allowed: it makes system calls on strings prepared
        // above, and allocates nothing.
        unsafe {
            command.pre_exec(move || become_builder(&binds));
        }
    }
    let (status, stdout, stderr) = run(command).map_err(|e| {
        env(match binds.first() {
            Some((from, _)) => format!(
                "cannot build as uid {BUILD_ID}: {} is in a directory that user cannot \
                 enter, and a private mount namespace to show it there failed ({e}). \
                 Install Rust where every user can read it, as the Gradescope setup.sh \
                 does (RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo)",
                from.display()
            ),
            None => format!("cannot run cargo from {}: {e}", toolchain.display()),
        })
    })?;
    let Some(status) = status else {
        return Err(BuildError::Failed(format!(
            "the build took longer than {} s and was stopped",
            BUILD_TIME.as_secs()
        )));
    };
    if !status.success() {
        return Err(BuildError::Failed(shorten(&String::from_utf8_lossy(
            &stderr,
        ))));
    }
    let exe = crate::cargo::executable(&stdout, package)
        .ok_or_else(|| env(format!("cargo built {package} but reported no executable")))?;
    // Told from the binary's owner, not assumed: the user the build really ran as.
    let owner = fs::metadata(&exe)
        .map_err(|e| env(format!("{}: {e}", exe.display())))?
        .uid();
    let note = if root {
        format!("built as uid {owner}, in a fresh student edition")
    } else {
        format!(
            "not root: the submission was built as you (uid {owner}), not as an \
             unprivileged user, so its build could read what you can; for marks, grade as \
             root (as Gradescope does)"
        )
    };
    Ok(Built { exe, note })
}

/// In the child, before exec: the private mounts, then uid and gid 65534, no groups.
fn become_builder(binds: &[(CString, CString)]) -> io::Result<()> {
    if !binds.is_empty() {
        unshare(CloneFlags::CLONE_NEWNS)?;
        // Private first, so that the binds below stay in this namespace.
        mount(
            None::<&CStr>,
            c"/",
            None::<&CStr>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&CStr>,
        )?;
        for (from, to) in binds {
            mount(
                Some(from.as_c_str()),
                to.as_c_str(),
                None::<&CStr>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&CStr>,
            )?;
        }
    }
    setgroups(&[])?;
    setgid(Gid::from_raw(BUILD_ID))?;
    setuid(Uid::from_raw(BUILD_ID))?;
    Ok(())
}

/// Runs `command` to its end or to [`BUILD_TIME`], reading its output meanwhile; `None` as
/// the status when it was stopped. Its whole process group is killed on time-out.
fn run(mut command: Command) -> io::Result<(Option<std::process::ExitStatus>, Vec<u8>, Vec<u8>)> {
    let mut child = command.spawn()?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + BUILD_TIME;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() > deadline {
            // The group is the child's own (process_group(0)), and the child is not yet
            // reaped, so its id cannot have been reused.
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            child.wait()?;
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok((status, stdout, stderr))
}

/// The sysroot of the toolchain the grader's workspace builds with.
fn sysroot(workspace: &Path) -> Result<PathBuf, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .current_dir(workspace)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !out.status.success() || !sysroot.join("bin/cargo").is_file() {
        return Err(format!(
            "no cargo in the toolchain's sysroot ({}): the grader builds submissions with \
             the toolchain's own cargo and rustc",
            sysroot.display()
        ));
    }
    Ok(sysroot)
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo")
        })
}

/// Whether the build user can reach `path`: every directory on the way searchable by
/// others (or by that user, owning it), and `path` itself readable.
fn reachable(path: &Path) -> bool {
    let Ok(path) = path.canonicalize() else {
        return false;
    };
    let allowed = |meta: &fs::Metadata, bits: u32| {
        let mode = meta.permissions().mode();
        if meta.uid() == BUILD_ID {
            mode & (bits << 6) != 0
        } else {
            mode & bits != 0
        }
    };
    path.ancestors()
        .skip(1)
        .all(|dir| fs::metadata(dir).is_ok_and(|m| allowed(&m, 0o1)))
        && fs::metadata(&path).is_ok_and(|m| allowed(&m, 0o4))
}

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap_or_default()
}

/// The compiler's messages, at most [`MESSAGES_SHOWN`] bytes of them (the first errors
/// matter most).
fn shorten(messages: &str) -> String {
    let messages = messages.trim();
    if messages.len() <= MESSAGES_SHOWN {
        return messages.to_string();
    }
    let mut end = MESSAGES_SHOWN;
    while !messages.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n... ({} more bytes of messages)",
        &messages[..end],
        messages.len() - end
    )
}
