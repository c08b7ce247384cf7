//! What a run measures: every architecture in the grader's registry (its reference
//! solution, built with optimisations), the tokio yardsticks, and any program that follows
//! the contract.
//!
//! The architectures come from `workbook::rubric::registry::all()`, not from a list kept
//! here: an architecture added to the workbook is in the next drill without a change to the
//! lab.

use std::ffi::OsString;

use serde::{Deserialize, Serialize};
use workbook::contain::server::Program;
use workbook::rubric::registry;

use crate::serve;

/// One server to measure.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its short name: the architecture, the yardstick, or the program's file name.
    pub name: String,
    pub kind: Kind,
    pub program: Program,
}

/// Where a server comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A workbook architecture's reference solution.
    Solution,
    /// A tokio echo, the yardstick the solutions are compared with.
    Yardstick,
    /// A program named on the command line.
    Program,
}

/// The options every server is started with (contract: "Options").
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct ServerOptions {
    /// `--workers N`, passed only when asked for (a program that has no pool need not know it).
    pub workers: Option<usize>,
    /// `--work MICROS`, passed only when not 0.
    pub work_micros: u64,
}

impl ServerOptions {
    fn args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        if let Some(n) = self.workers {
            args.extend(["--workers".into(), n.to_string().into()]);
        }
        if self.work_micros > 0 {
            args.extend(["--work".into(), self.work_micros.to_string().into()]);
        }
        args
    }
}

/// Every name a run may be asked for: the architectures, in the book's order, then the
/// yardsticks.
pub fn names() -> Vec<String> {
    registry::names()
        .into_iter()
        .map(String::from)
        .chain(serve::YARDSTICKS.iter().map(|(name, _)| name.to_string()))
        .collect()
}

/// The servers named (all of them if none is named and no program is given; the yardsticks
/// beside a program), each with the command that starts it. Building the solutions is
/// [`build`]'s job.
pub fn resolve(
    asked: &[String],
    command: &[OsString],
    options: ServerOptions,
) -> Result<Vec<Target>, String> {
    let known = names();
    if let Some(unknown) = asked.iter().find(|a| !known.contains(a)) {
        return Err(format!(
            "no server called {unknown:?}; the lab knows {}",
            known.join(", ")
        ));
    }
    let me = std::env::current_exe()
        .map_err(|e| format!("cannot find the lab's own executable: {e}"))?;
    let mut targets = Vec::new();
    if let Some(mut program) = Program::from_command(command) {
        program.args.extend(options.args());
        let name = program
            .path
            .file_name()
            .map_or_else(|| program.display(), |n| n.to_string_lossy().into_owned());
        targets.push(Target {
            name,
            kind: Kind::Program,
            program,
        });
    }
    let wanted: Vec<String> = match (asked.is_empty(), targets.is_empty()) {
        (false, _) => asked.to_vec(),
        (true, true) => known,
        (true, false) => serve::YARDSTICKS
            .iter()
            .map(|(n, _)| n.to_string())
            .collect(),
    };
    for name in wanted {
        let target = if serve::YARDSTICKS.iter().any(|(n, _)| *n == name) {
            let mut program = Program::new(&me);
            program.args = vec![serve::ARG.into(), name.clone().into()];
            program.args.extend(options.args());
            Target {
                name,
                kind: Kind::Yardstick,
                program,
            }
        } else {
            // The path is filled in by `build`.
            let mut program = Program::new("");
            program.args = options.args();
            Target {
                name,
                kind: Kind::Solution,
                program,
            }
        };
        targets.push(target);
    }
    Ok(targets)
}

/// Builds each solution among `targets` with optimisations (`cargo build --release -p
/// solution-ARCH`) and points its program at the binary.
pub fn build(targets: &mut [Target]) -> Result<(), String> {
    let root = workbook::cargo::workspace_root();
    for target in targets.iter_mut().filter(|t| t.kind == Kind::Solution) {
        let package = format!("solution-{}", target.name);
        eprintln!("lab: building {package} (release)");
        target.program.path = workbook::cargo::build_release(&root, &package)?;
    }
    Ok(())
}

/// How a server is named in tables: the package, the yardstick's runtime, or the program.
pub fn label(name: &str, kind: Kind) -> String {
    match kind {
        Kind::Solution => format!("solution-{name}"),
        Kind::Yardstick => serve::YARDSTICKS
            .iter()
            .find(|(n, _)| *n == name)
            .map_or_else(|| name.to_string(), |(_, label)| label.to_string()),
        Kind::Program => name.to_string(),
    }
}
