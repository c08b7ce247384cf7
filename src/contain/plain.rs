//! The server's tree without namespaces: the fallback where user namespaces are not
//! allowed, and how every server ran before them.
//!
//! The shepherd is a child subreaper, so every descendant of the server stays below it; the
//! server gets a process group of its own; `/proc` scans find what left the group. As root,
//! the server runs under a uid no process uses (so `RLIMIT_NPROC` binds). What this cannot
//! do, and the [namespaces](super::fence) do: keep a server of the grader's own uid from
//! signalling the grader, give it a private `/tmp`, or kill its tree in one race-free call.
//! Files it writes outside its working directory stay.
//!
//! Every kill here goes through [`signal_if_same`]: a process found by a scan is signalled
//! only while it is still the process the scan found.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

use crate::contain::pidfd::signal_if_same;
use crate::contain::plan::{Plan, Who};
use crate::contain::protocol::{Exit, Status};
use crate::contain::shepherd::TAG_VAR;
use crate::probe::procfs::{self, Proc};

/// The server's tree, below the shepherd.
pub struct Plain {
    server: i32,
    server_start: u64,
    reaped: bool,
}

impl Plain {
    /// Starts the server in `cwd`, tagged with `tag`, allowed `max_tasks` tasks.
    pub fn spawn(plan: &Plan, cwd: &str, tag: &str, max_tasks: u64) -> io::Result<Plain> {
        // Root is exempt from RLIMIT_NPROC, hence the stranger uid; an ordinary user's limit
        // counts all its processes, so the server's allowance comes on top of those.
        let nproc = match plan.who {
            Who::Stranger(_) => max_tasks,
            Who::Same { uid, .. } => max_tasks + own_task_count(uid),
        };
        let _ = setrlimit(Resource::RLIMIT_NPROC, nproc, nproc);
        let mut command = Command::new(plan.exe_path());
        command
            .arg0(&plan.program[0])
            .args(&plan.program[1..])
            .env_clear()
            .envs(plan.env.iter().map(|(k, v)| (k, v)))
            .env("TMPDIR", cwd)
            .env(TAG_VAR, tag)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .process_group(0);
        if let Who::Stranger(uid) = plan.who {
            // std also clears the supplementary groups when root changes uid.
            command.uid(uid).gid(uid);
        }
        let mut spawned = command.spawn();
        if matches!(plan.who, Who::Stranger(_))
            && matches!(&spawned, Err(e) if e.kind() == io::ErrorKind::PermissionDenied)
        {
            // A script where the stranger cannot reach it, or a file only root may run: run
            // it as root, held by the shepherd's caps alone.
            spawned = command.uid(0).gid(0).spawn();
        }
        let server = spawned?.id() as i32;
        Ok(Plain {
            server,
            server_start: procfs::read(server).map_or(0, |p| p.start),
            reaped: false,
        })
    }

    /// The server's main process, as pid and start time.
    pub fn server(&self) -> (i32, u64) {
        (self.server, self.server_start)
    }

    /// Every process below the shepherd.
    pub fn members(&self) -> Vec<Proc> {
        procfs::descendants(std::process::id() as i32)
    }

    /// Reaps every child that ended (orphans are reparented to us), reporting the server.
    pub fn reported(&mut self) -> Vec<Status> {
        let mut statuses = Vec::new();
        loop {
            let exit = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid.as_raw() == self.server => {
                    Exit::Code(code)
                }
                Ok(WaitStatus::Signaled(pid, signal, _)) if pid.as_raw() == self.server => {
                    Exit::Signal(signal as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return statuses,
                Err(Errno::EINTR) | Ok(_) => continue,
                Err(_) => return statuses,
            };
            if !self.reaped {
                self.reaped = true;
                statuses.push(Status::Exited(self.server, exit));
            }
        }
    }

    /// Kills every process below the shepherd and reaps them all, by `deadline`.
    ///
    /// A loop, not one pass: a fork bomb creates processes while we kill. Each round stops
    /// and kills the server's group while its leader is unreaped (so its number is still
    /// its own), then stops and kills each descendant a scan finds (a stopped process
    /// cannot fork; the scan catches those that left the group with `setsid`).
    pub fn kill(&mut self, deadline: Instant) {
        loop {
            if !self.reaped {
                let group = -self.server;
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(group), Signal::SIGSTOP);
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(group), Signal::SIGKILL);
            }
            let live: Vec<Proc> = self
                .members()
                .into_iter()
                .filter(|p| !p.is_zombie())
                .collect();
            for p in &live {
                signal_if_same(p.pid, p.start, Signal::SIGSTOP);
            }
            for p in &live {
                signal_if_same(p.pid, p.start, Signal::SIGKILL);
            }
            self.reported();
            if self.members().is_empty() || Instant::now() > deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Tasks this (unprivileged) user already runs: RLIMIT_NPROC counts them all.
fn own_task_count(uid: u32) -> u64 {
    procfs::by_uid(uid).iter().map(|p| p.threads as u64).sum()
}
