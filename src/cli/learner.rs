//! The learner's commands between gradings: `hint`, `reset` and `watch`.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use workbook::cargo;
use workbook::contain::server::Program;
use workbook::learner::{self, progress, stub};
use workbook::report;
use workbook::rubric::registry::Arch;
use workbook::rubric::run;

use crate::out;

pub fn hint(arch: &Arch, check: Option<&str>) -> ExitCode {
    match learner::hint::hint(&cargo::workspace_root(), arch, check) {
        Ok(text) => {
            out(&text);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("workbook: {e}");
            ExitCode::from(2)
        }
    }
}

pub fn reset(arch: &Arch, yes: bool) -> ExitCode {
    let root = cargo::workspace_root();
    let (commit, files) = match stub::shipped_files(&root, arch.name) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("workbook: cannot reset {}: {e}", arch.name);
            return ExitCode::from(2);
        }
    };
    let changed = stub::changes(&root, arch.name, &files);
    let dir = format!("exercises/{}/src", arch.name);
    if changed.is_empty() {
        outln!("{dir} is already the stub as shipped: nothing to reset");
        return ExitCode::SUCCESS;
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let backup = Path::new(".workbook")
        .join("backups")
        .join(format!("{}-{stamp}", arch.name));
    outln!(
        "This puts back {dir} as shipped (commit {}), replacing: {}.\nYour files go to {}.",
        &commit[..commit.len().min(12)],
        changed.join(", "),
        backup.display()
    );
    if !yes {
        if !std::io::stdin().is_terminal() {
            eprintln!("workbook: not asking on a non-terminal: pass --yes to reset");
            return ExitCode::from(2);
        }
        out("Reset? [y/N] ");
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            outln!("nothing changed");
            return ExitCode::FAILURE;
        }
    }
    match stub::reset(&root, arch.name, &files, &root.join(&backup)) {
        Ok(()) => {
            outln!(
                "reset {dir}: {} back as shipped; your versions are in {}",
                changed.join(", "),
                backup.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "workbook: reset failed part way ({e}); your files are in {}",
                backup.display()
            );
            ExitCode::FAILURE
        }
    }
}

pub fn watch(arch: &Arch) -> ExitCode {
    let root = cargo::workspace_root();
    let dir = root.join("exercises").join(arch.name).join("src");
    let mut round = 0;
    let result = learner::watch::watch(&dir, || {
        round += 1;
        outln!("\n== grading {} (#{round})", arch.name);
        let program = match cargo::build(&root, &arch.exercise_package()) {
            Ok(exe) => Program::new(exe),
            Err(e) => return outln!("{e}"),
        };
        let seed = run::fresh_seed();
        let replay = format!(
            "cargo run -q -- grade {} --seed {seed} --check {{check}}",
            arch.name
        );
        let report = run::grade(arch, &program, seed, &replay);
        progress::record(&root, &report);
        match report.outcomes.iter().find(|o| !o.passed) {
            Some(first) => outln!(
                "first failing check: {}\n{}",
                first.check.id,
                report::failure_text(first, &replay)
            ),
            None => outln!("every check passed: read {}", arch.walkthrough()),
        }
        outln!(
            "score: {}/{}\nwatching exercises/{}/src: save a file to grade again (Ctrl-C stops)",
            report.score(),
            report.max_score(),
            arch.name
        );
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("workbook: {e}");
            ExitCode::from(2)
        }
    }
}
