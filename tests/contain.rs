//! Proves the containment itself, beyond the verdicts `crates/buggy/tests/prove.rs` checks:
//! - the verdicts of the servers the buggy table leaves here (`Fails::Elsewhere`): those
//!   that attack the grader or the machine, graded in full, with no process and no file of
//!   theirs left (a hostile server names its files after itself);
//! - cleanup after a hostile server takes at most 2 s, and leaves no process;
//! - the server's scratch space is private, capped, and gone at the end;
//! - nothing in the server's view names the grader (environment, directory, parent, cgroup),
//!   and it holds no descriptor but its stdio, though the grader's caller left one open;
//! - a caller that ignored every signal changes no verdict (the server starts with each at
//!   its default action, so a never-reaping server still leaves zombies);
//! - as root, the server's uid of its own is one no process holds, even when strangers
//!   hold the uids the shepherd would try first;
//! - where servers get no namespaces (forced with `WORKBOOK_NAMESPACES=off`), the grader
//!   says so, gives the same verdicts, and still leaves no process of a daemon or of a
//!   child in a new session;
//! - an unprivileged grader (the CLI as uid 65534 when this runs as root, else as ourselves)
//!   survives a server that kills every process it may and forges a report into the
//!   grader's output, and prints a clean report.
//!
//! Where servers get no namespaces, or `setpriv` or a reachable binary is missing, a test
//! prints `skipped: ...` with what it could not check, and passes.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use nix::unistd::Uid;
use serde_json::Value;
use workbook::cargo;
use workbook::contain::plan::FIRST_SERVER_UID;
use workbook::contain::server::{Fence, Program, Server};
use workbook::contain::shepherd::{self, Limits};
use workbook::contain::sweep;
use workbook::drive::client::Client;
use workbook::probe::procfs;
use workbook::report::{self, Format};
use workbook::rubric::{registry, run};

/// What one check's cleanup may take, whatever the server did.
const CLEANUP: Duration = Duration::from_secs(2);

/// What the grader says (once, on stderr) where servers get no namespaces.
const UNFENCED_NOTICE: &str = "servers run without namespaces here";

/// The uid an unprivileged grader runs as, when this test runs as root.
const NOBODY: &str = "65534";

fn main() -> ExitCode {
    shepherd::run_if_requested();
    let mut args = Arguments::from_args();
    let buggy = match cargo::build(&root(), "buggy-servers") {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // Asked once, before any hostile server runs: without namespaces, some of them would
    // harm the machine rather than prove anything.
    let unfenced = namespaces_missing(&buggy);
    let mut trials = Vec::new();
    for &(bug, fails) in VERDICTS {
        let (exe, unfenced) = (buggy.clone(), unfenced.clone());
        let name = format!("verdict::{bug}");
        trials.push(Trial::test(name.clone(), move || {
            match skip_unfenced(&name, unfenced.as_deref()) {
                Some(()) => Ok(()),
                None => verdict(&exe, bug, fails),
            }
        }));
    }
    for bug in [
        "stops-everyone",
        "kills-ancestors",
        "setsid-straggler",
        "tmp-filler",
    ] {
        let (exe, unfenced) = (buggy.clone(), unfenced.clone());
        trials.push(Trial::test(
            format!("cleanup-within-2s::{bug}"),
            move || cleanup_is_bounded(&exe, bug, unfenced.as_deref()),
        ));
    }
    let fenced_only: [(&str, Test); 2] = [
        ("scratch-is-private-capped-and-gone", scratch_is_private),
        ("nothing-names-the-grader", nothing_names_the_grader),
    ];
    for (name, test) in fenced_only {
        let (exe, unfenced) = (buggy.clone(), unfenced.clone());
        trials.push(Trial::test(name, move || {
            match skip_unfenced(name, unfenced.as_deref()) {
                Some(()) => Ok(()),
                None => test(&exe),
            }
        }));
    }
    for (bug, fails) in [
        ("kills-ancestors", &[][..]),
        ("stops-everyone", &["single-process", "queued-client"]),
    ] {
        let exe = buggy.clone();
        trials.push(Trial::test(
            format!("unprivileged-grader::{bug}"),
            move || unprivileged_grader_survives(&exe, bug, fails),
        ));
    }
    {
        let exe = buggy.clone();
        trials.push(Trial::test(
            "caller-signals-stay-with-the-caller",
            move || caller_signals_stay(&exe),
        ));
    }
    for (bug, fails, may_fail) in UNFENCED {
        let exe = buggy.clone();
        trials.push(Trial::test(
            format!("without-namespaces::{bug}"),
            move || unfenced_grading(&exe, bug, fails, may_fail),
        ));
    }
    let first = libtest_mimic::run(&args, trials);
    // Alone, afterwards: it counts on no other test taking hundreds of pids meanwhile. Its
    // `alone::` tells cargo-nextest the same (`.config/nextest.toml`).
    args.test_threads = Some(1);
    let alone = vec![Trial::test("alone::server-uid-is-unused", move || {
        server_uid_is_unused(&buggy)
    })];
    let second = libtest_mimic::run(&args, alone);
    if first.has_failed() || second.has_failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Servers graded with namespaces turned off, as where the kernel allows none: the checks
/// each must fail, and those it may fail as well.
const UNFENCED: [(&str, &[&str], &[&str]); 3] = [
    // Its verdicts are those it gets in namespaces.
    (
        "byte-echo",
        &["byte-by-byte", "half-close", "too-long"],
        &[],
    ),
    // Its exited parents are reaped by the shepherd, a subreaper, at its next tick, not at
    // once by a namespace's init: until then they count.
    (
        "double-fork-daemon",
        &["sigterm", "descriptors"],
        &["single-process", "queued-client"],
    ),
    (
        "setsid-straggler",
        &["single-process", "queued-client"],
        &[],
    ),
];

/// The CLI grades `bug` with `WORKBOOK_NAMESPACES=off` (as uid 65534 when we are root), says
/// once that servers run without namespaces, fails exactly `fails` (and perhaps some of
/// `may_fail`), and leaves no process of the server.
fn unfenced_grading(
    buggy: &Path,
    bug: &str,
    fails: &[&str],
    may_fail: &[&str],
) -> Result<(), Failed> {
    let Some(grader) = Grader::for_test(&format!("without-namespaces::{bug}"), buggy) else {
        return Ok(());
    };
    let out = grader.grade_with(buggy, bug, &[("WORKBOOK_NAMESPACES", "off")])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = stderr.matches(UNFENCED_NOTICE).count();
    if said != 1 {
        return Err(
            format!("the grader said {said} times that it has no namespaces:\n{stderr}").into(),
        );
    }
    let report = json_report(&out)?;
    let failed: BTreeSet<&str> = failed_checks(&report).into_iter().collect();
    let allowed = |id: &&str| fails.contains(id) || may_fail.contains(id);
    if !fails.iter().all(|id| failed.contains(id)) || !failed.iter().all(allowed) {
        return Err(format!(
            "expected {fails:?} to fail (and perhaps {may_fail:?}), got {failed:?}: {report:#}"
        )
        .into());
    }
    no_server_left(buggy, bug)
}

/// The servers of `crates/buggy` whose table entry says `Elsewhere("tests/contain.rs")`, and
/// the checks of the iterative rubric each must fail. Graded only where servers get
/// namespaces: without, stops-everyone and kills-ancestors would stop or kill every process
/// of the grader's uid, and tmp-filler would fill the host's /tmp.
const VERDICTS: &[(&str, &[&str])] = &[
    // Its helper is a second process, which the rubric counts (and so the checks gated on
    // single-process); the grader, its shepherd and init are out of the helper's reach.
    ("stops-everyone", &["single-process", "queued-client"]),
    // Its parent is the namespace's init, which ignores it; the rest it cannot name.
    ("kills-ancestors", &[]),
    // Its /tmp is private and full at the disk cap: it serves on.
    ("tmp-filler", &[]),
    // Curiosity is no bug.
    ("nosy", &[]),
];

/// Grades `bug` with the iterative rubric: exactly `fails` fail, and nothing of it is left.
fn verdict(exe: &Path, bug: &str, fails: &[&str]) -> Result<(), Failed> {
    let arch = registry::find("iterative").ok_or("no iterative rubric")?;
    let program = Program {
        path: exe.to_path_buf(),
        args: vec![bug.into()],
    };
    let report = run::grade(&arch, &program, run::fresh_seed(), "");
    sweep::gone_within(&report.servers, CLEANUP)?;
    no_file_left(bug)?;
    let failed = report.failed();
    let expected: BTreeSet<&str> = fails.iter().copied().collect();
    if failed != expected {
        return Err(format!(
            "expected exactly {expected:?} to fail, but {failed:?} failed\n{}",
            report::render(&report, Format::Human, false)
        )
        .into());
    }
    Ok(())
}

/// No file in the host's scratch directories may carry the bug's name: everything it wrote
/// must be gone. (What is found is removed, so that one failure does not fail later runs.)
fn no_file_left(bug: &str) -> Result<(), Failed> {
    let left = host_files(&format!("{bug}-"));
    if left.is_empty() {
        return Ok(());
    }
    for path in &left {
        let _ = std::fs::remove_file(path);
    }
    Err(format!("files left behind (now removed): {left:?}").into())
}

/// A test of a buggy server's containment, given the buggy servers' binary.
type Test = fn(&Path) -> Result<(), Failed>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn start(exe: &Path, bug: &str) -> Result<Server, Failed> {
    let program = Program {
        path: exe.to_path_buf(),
        args: vec![bug.into()],
    };
    Server::start(&program, &Limits::default()).map_err(|v| format!("{bug}: {}", v.message).into())
}

/// Why servers get no namespaces here, if they do not: a harmless server started once says.
fn namespaces_missing(exe: &Path) -> Option<String> {
    match start(exe, "byte-echo") {
        Ok(server) => match server.fence() {
            Some(Fence::Namespaces(..)) => None,
            Some(Fence::Unfenced(why)) => Some(why.clone()),
            None => Some("the shepherd did not say how it fenced the server".into()),
        },
        Err(e) => Some(format!("a harmless server did not start: {e:?}")),
    }
}

/// `Some(())`, after saying so, if `test` is to be skipped for want of namespaces.
fn skip_unfenced(test: &str, unfenced: Option<&str>) -> Option<()> {
    let why = unfenced?;
    eprintln!("skipped: {test}: no namespaces here ({why})");
    Some(())
}

/// Kill and drop each take at most 2 s, and leave no process of the tree.
///
/// Without namespaces this holds too, and is checked as root (the server then has a uid of
/// its own). Not as an ordinary user: stops-everyone would stop every process of ours, and
/// tmp-filler would fill the host's /tmp.
fn cleanup_is_bounded(exe: &Path, bug: &str, unfenced: Option<&str>) -> Result<(), Failed> {
    let safe_unfenced = Uid::effective().is_root() && bug != "tmp-filler";
    if !safe_unfenced && skip_unfenced(&format!("cleanup-within-2s::{bug}"), unfenced).is_some() {
        return Ok(());
    }
    let server = start(exe, bug)?;
    // The server serves (and its helpers run) while a client is served.
    Client::connect(server.addr())
        .and_then(|mut c| c.echo(b"before the cleanup\n"))
        .map_err(|v| v.message)?;
    let tag = server.tag();
    let begun = Instant::now();
    server.kill();
    let killed = begun.elapsed();
    let left = sweep::alive(std::slice::from_ref(&tag));
    let begun = Instant::now();
    drop(server);
    let dropped = begun.elapsed();
    if killed > CLEANUP || dropped > CLEANUP {
        return Err(
            format!("kill took {killed:?} and drop {dropped:?}; at most {CLEANUP:?}").into(),
        );
    }
    if !left.is_empty() {
        return Err(format!("processes left right after the kill: {left:?}").into());
    }
    Ok(())
}

/// As root, a server runs under a uid of its own, 200,000 plus its shepherd's pid or the
/// first free one after: strangers that already hold those uids keep them to themselves,
/// since the grader would otherwise hand a stranger's uid to the server (which could then
/// signal the stranger).
///
/// The strangers are started first, so the shepherd's pid comes after theirs, and they
/// hold the uids of the next [`STRANGERS`] pids after theirs: the ones a shepherd started
/// now would try. Only as root.
fn server_uid_is_unused(exe: &Path) -> Result<(), Failed> {
    if !Uid::effective().is_root() {
        eprintln!("skipped: server-uid-is-unused: only root gives servers a uid of their own");
        return Ok(());
    }
    // Tests running beside this one take pids too, and may push the shepherd's past the
    // strangers' uids; then the try proved nothing, and is made again.
    for _ in 0..3 {
        if strangers_keep_their_uids(exe)? {
            return Ok(());
        }
    }
    Err(format!(
        "in 3 tries, other processes took {STRANGERS} pids while the strangers started: \
         the shepherd's first uid was never one they held, and nothing was proved"
    )
    .into())
}

/// How many strangers [`server_uid_is_unused`] starts: as many pids as they take, and as
/// many uids as they hold after them.
const STRANGERS: u32 = 500;

/// One try of [`server_uid_is_unused`]: `Ok(false)` if the shepherd's first uid was not one
/// the strangers held.
fn strangers_keep_their_uids(exe: &Path) -> Result<bool, Failed> {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")?
        .trim()
        .parse()?;
    let held: Vec<u32> = (0..STRANGERS)
        .map(|i| FIRST_SERVER_UID + last + STRANGERS + i)
        .collect();
    let mut strangers = Vec::new();
    for uid in &held {
        let uid = uid.to_string();
        let args = [
            "--reuid",
            &uid,
            "--regid",
            &uid,
            "--clear-groups",
            "sleep",
            "60",
        ];
        match Command::new("setpriv")
            .args(args)
            .stdin(Stdio::null())
            .spawn()
        {
            Ok(child) => strangers.push(child),
            Err(e) => return Err(format!("cannot run setpriv: {e}").into()),
        }
    }
    let started = start(exe, "byte-echo");
    let seen = started.map(|s| (s.shepherd_pid() as u32, procfs::uid(s.pid())));
    let alive = strangers
        .iter_mut()
        .map(|c| c.try_wait())
        .filter(|w| matches!(w, Ok(None)))
        .count();
    for mut stranger in strangers {
        let _ = stranger.kill();
        let _ = stranger.wait();
    }
    let (shepherd, uid) = seen?;
    if !held.contains(&(FIRST_SERVER_UID + shepherd)) {
        return Ok(false);
    }
    match uid {
        Some(uid) if held.contains(&uid) => {
            Err(format!("the server got uid {uid}, which a stranger holds").into())
        }
        None => Err("the server's uid could not be read".into()),
        Some(_) if alive < STRANGERS as usize => {
            Err(format!("only {alive} of {STRANGERS} strangers were still running").into())
        }
        Some(_) => Ok(true),
    }
}

/// tmp-filler writes into /tmp and $TMPDIR: at most the disk cap, nowhere the host sees,
/// and nothing of it is left once the server is gone.
fn scratch_is_private(exe: &Path) -> Result<(), Failed> {
    let server = start(exe, "tmp-filler")?;
    let tail = stderr_with(&server, "tmp-filler: wrote ")?;
    let written = tail
        .lines()
        .find_map(|l| l.strip_prefix("tmp-filler: wrote "))
        .and_then(|l| l.trim_end_matches(" MiB").parse::<u64>().ok())
        .ok_or_else(|| format!("tmp-filler did not say what it wrote: {tail:?}"))?;
    let cap = Limits::default().max_disk_mib;
    if written > cap {
        return Err(
            format!("tmp-filler wrote {written} MiB past the disk cap of {cap} MiB").into(),
        );
    }
    let seen = host_files("tmp-filler-");
    drop(server);
    let after = host_files("tmp-filler-");
    if !seen.is_empty() || !after.is_empty() {
        return Err(format!("the host saw {seen:?} while it ran and {after:?} after").into());
    }
    Ok(())
}

/// The server's stderr once it holds `needle`: the server wrote it before announcing, but
/// the grader's reader may lag a little behind.
fn stderr_with(server: &Server, needle: &str) -> Result<String, Failed> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let tail = server.stderr_tail();
        if tail.contains(needle) {
            return Ok(tail);
        }
        if Instant::now() > deadline {
            return Err(format!("the server's stderr never held {needle:?}: {tail:?}").into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn host_files(prefix: &str) -> Vec<PathBuf> {
    ["/tmp", "/var/tmp", "/dev/shm"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect()
}

/// nosy prints its environment, directory, parent, cgroup and descriptors: only what the
/// contract gives, though the grader was started holding a descriptor of its caller's.
fn nothing_names_the_grader(exe: &Path) -> Result<(), Failed> {
    // Without close-on-exec, as a terminal's, a CI runner's or a harness's pipe may be.
    let (_read, _write) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
    let server = start(exe, "nosy")?;
    let tail = stderr_with(&server, "nosy: cgroup ")?;
    let line = |what: &str| -> Result<String, Failed> {
        tail.lines()
            .find_map(|l| l.strip_prefix(&format!("nosy: {what} ")))
            .map(str::to_string)
            .ok_or_else(|| format!("nosy said nothing of its {what}: {tail:?}").into())
    };
    let env = line("env")?;
    let names: Vec<&str> = env
        .split("(\"")
        .skip(1)
        .filter_map(|kv| kv.split('"').next())
        .collect();
    let allowed = ["HOME", "LANG", "PATH", "RUST_BACKTRACE", "TMPDIR"];
    let expectations = [
        (
            names.iter().all(|n| allowed.contains(n)),
            "env",
            env.clone(),
        ),
        (line("cwd")? == "\"/tmp\"", "cwd", line("cwd")?),
        (
            line("parent")?.starts_with("1 cmdline Ok(\"init\")"),
            "parent",
            line("parent")?,
        ),
        (
            line("parent comm")? == "Ok(\"init\")",
            "parent comm",
            line("parent comm")?,
        ),
        (at_cgroup_root(&line("cgroup")?), "cgroup", line("cgroup")?),
        (only_stdio(&line("fds")?), "descriptors", line("fds")?),
    ];
    for (ok, what, seen) in expectations {
        if !ok {
            return Err(format!("the server's {what} says more than the contract: {seen}").into());
        }
    }
    let lower = tail.to_lowercase();
    for word in ["workbook", "shepherd", "grader"] {
        if lower.contains(word) {
            return Err(format!("the server's view names the {word}: {tail}").into());
        }
    }
    Ok(())
}

/// Whether nosy's descriptors (as `0=/dev/null 1=pipe:[12] ...`) are its stdio and the
/// directory it listed them from: nothing else passed down from the grader or its caller.
fn only_stdio(seen: &str) -> bool {
    seen.split(' ').all(|fd| match fd.split_once('=') {
        Some(("0" | "1" | "2", _)) => true,
        Some((_, target)) => target.starts_with("/proc/") && target.ends_with("/fd"),
        None => false,
    })
}

/// Whether nosy's `/proc/self/cgroup` (as `Ok("ID:CONTROLLERS:PATH\n...")`, escaped) puts
/// it at the root of every hierarchy: no path of the grader's cgroups shows.
fn at_cgroup_root(seen: &str) -> bool {
    let text = seen.trim_start_matches("Ok(\"").trim_end_matches("\")");
    text.split("\\n")
        .filter(|l| !l.is_empty())
        .all(|l| l.ends_with(":/"))
}

/// The CLI, run as an unprivileged uid, grades `bug` (which attacks the grader): it must
/// exit by itself with a clean JSON report in which exactly `fails` failed, and leave none
/// of the server's processes.
fn unprivileged_grader_survives(buggy: &Path, bug: &str, fails: &[&str]) -> Result<(), Failed> {
    let test = format!("unprivileged-grader::{bug}");
    let Some(grader) = Grader::for_test(&test, buggy) else {
        return Ok(());
    };
    // A harmless server first: without namespaces, the hostile one would stop or kill every
    // process of the grader's uid, not only the grader.
    let probe = grader.grade(buggy, "byte-echo")?;
    let stderr = String::from_utf8_lossy(&probe.stderr);
    if stderr.contains(UNFENCED_NOTICE) {
        eprintln!(
            "skipped: {test}: {} gets no namespaces: {stderr}",
            grader.who()
        );
        return Ok(());
    }
    let out = grader.grade(buggy, bug)?;
    if out.status.code().is_none() {
        return Err(format!("the grader was killed: {:?}", out.status).into());
    }
    let report = json_report(&out)?;
    let failed = failed_checks(&report);
    if failed != fails {
        return Err(format!("expected {fails:?} to fail, got {failed:?}: {report:#}").into());
    }
    no_server_left(buggy, bug)
}

/// A grader whose caller ignored every signal it may (as a CI runner or a program that never
/// waits for its children may ignore SIGCHLD) still catches a server that never reaps: the
/// server starts with every signal at its default action, so its ended children stay
/// zombies until it collects them.
fn caller_signals_stay(buggy: &Path) -> Result<(), Failed> {
    let test = "caller-signals-stay-with-the-caller";
    let Some(grader) = Grader::for_test(test, buggy) else {
        return Ok(());
    };
    let mut command = grader.command(&grader.cli);
    command
        .args([
            "grade",
            "forking",
            "--check",
            "no-zombies",
            "--format",
            "json",
            "--",
        ])
        .arg(buggy)
        .arg("forking-no-reap");
    // SAFETY: between fork and exec, only signal(2), which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            for sig in nix::sys::signal::Signal::iterator() {
                let _ = nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigIgn);
            }
            Ok(())
        });
    }
    let out = Grader::output(command, "forking-no-reap")?;
    let report = json_report(&out)?;
    if failed_checks(&report) != ["no-zombies"] {
        return Err(format!("no-zombies should have failed: {report:#}").into());
    }
    no_server_left(buggy, "forking-no-reap")
}

/// Runs the CLI as the unprivileged uid (via setpriv, when we are root) or as ourselves.
struct Grader {
    cli: PathBuf,
    as_nobody: bool,
}

impl Grader {
    /// The CLI as [`Grader::new`] makes it, for `test`; `None`, after saying why the test is
    /// skipped, where it cannot run.
    fn for_test(test: &str, buggy: &Path) -> Option<Grader> {
        let cli = PathBuf::from(env!("CARGO_BIN_EXE_workbook"));
        Grader::new(&cli, buggy)
            .map_err(|skip| eprintln!("skipped: {test}: {skip}"))
            .ok()
    }

    fn new(cli: &Path, buggy: &Path) -> Result<Grader, String> {
        let grader = Grader {
            cli: cli.to_path_buf(),
            as_nobody: Uid::effective().is_root(),
        };
        if grader.as_nobody {
            let reachable = grader
                .command(Path::new("test"))
                .args(["-x"])
                .arg(cli)
                .args(["-a", "-x"])
                .arg(buggy)
                .status()
                .map_err(|e| format!("cannot run setpriv: {e}"))?;
            if !reachable.success() {
                return Err(format!(
                    "uid {NOBODY} cannot run {} and {} (a directory above them is closed)",
                    cli.display(),
                    buggy.display()
                ));
            }
        }
        Ok(grader)
    }

    fn who(&self) -> String {
        if self.as_nobody {
            format!("uid {NOBODY}")
        } else {
            format!("uid {}", Uid::effective())
        }
    }

    fn command(&self, program: &Path) -> Command {
        let mut command = if self.as_nobody {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={NOBODY}"))
                .arg(format!("--regid={NOBODY}"))
                .arg("--clear-groups")
                .arg(program);
            c
        } else {
            Command::new(program)
        };
        command.current_dir("/").stdin(Stdio::null());
        command
    }

    /// `workbook grade iterative --format json -- BUGGY BUG`, within a deadline.
    fn grade(&self, buggy: &Path, bug: &str) -> Result<Output, Failed> {
        self.grade_with(buggy, bug, &[])
    }

    /// [`Grader::grade`], with `env` added to the grader's environment.
    fn grade_with(&self, buggy: &Path, bug: &str, env: &[(&str, &str)]) -> Result<Output, Failed> {
        let mut command = self.command(&self.cli);
        command
            .envs(env.iter().copied())
            .args(["grade", "iterative", "--format", "json", "--"])
            .arg(buggy)
            .arg(bug);
        Grader::output(command, bug)
    }

    /// What `command`, a grading of `bug`, prints, within a deadline.
    fn output(mut command: Command, bug: &str) -> Result<Output, Failed> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the grader: {e}"))?;
        // Readers, so that a full pipe never blocks the grader while we wait for it.
        let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
        let deadline = Instant::now() + Duration::from_secs(180);
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("grading {bug} did not end within 180 s").into());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Ok(Output {
            status,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        })
    }
}

/// What the grader's stdout holds: one clean JSON report, or the test fails.
fn json_report(out: &Output) -> Result<Value, Failed> {
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "the grader's stdout is not one clean JSON report ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
        .into()
    })
}

/// The checks a JSON report says failed, in rubric order.
fn failed_checks(report: &Value) -> Vec<&str> {
    report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["passed"] == false)
        .filter_map(|c| c["id"].as_str())
        .collect()
}

/// Reads all of `pipe` on a thread of its own.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// No process runs `BUGGY BUG` any more, a moment after its grader ended.
fn no_server_left(buggy: &Path, bug: &str) -> Result<(), Failed> {
    let command_line = [
        buggy.as_os_str().as_encoded_bytes(),
        b"\0",
        bug.as_bytes(),
        b"\0",
    ]
    .concat();
    let deadline = Instant::now() + CLEANUP;
    loop {
        let left: Vec<_> = procfs::running(&command_line)
            .into_iter()
            .filter(|p| !p.is_zombie())
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("processes of {bug} left behind: {left:?}").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
