//! `workbook gradescope ARCH DIR`: a Gradescope autograder that grades a submission exactly
//! as `workbook grade ARCH --submission` does, and writes `results/results.json`.
//!
//! Gradescope unpacks the uploaded zip into `/autograder/source`, runs `setup.sh` from it
//! once when it builds the image, then, for each submission, runs `run_autograder` (from a
//! copy in `/autograder`) with the student's files in `/autograder/submission`, and reads
//! `/autograder/results/results.json`. The zip's root holds the two scripts and `workbook/`,
//! a student edition: the pristine tree a submission is built in has no solutions to reach.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::export;
use crate::rubric::registry::Arch;

/// Where the student edition keeps each architecture's scripts: `classroom/gradescope/ARCH`.
pub const EDITION_DIR: &str = "classroom/gradescope";

pub fn in_edition(arch: &Arch) -> String {
    format!("{EDITION_DIR}/{}", arch.name)
}

/// `setup.sh`: Rust where the unprivileged build user can run it, then the grader, and every
/// crate a submission's offline build needs.
pub fn setup_sh(arch: &Arch) -> String {
    format!(
        r#"#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the image of the `{name}` autograder
# (written by `workbook gradescope {name} DIR`): Rust, then the grader.
set -euo pipefail
apt-get update
apt-get install -y --no-install-recommends ca-certificates curl build-essential
# Rust where every user can read it: submissions are built as the unprivileged user 65534.
export RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo
curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
    sh -s -- -y --profile minimal --no-modify-path
export PATH="/usr/local/cargo/bin:$PATH"
cd "$(dirname "$0")/workbook"
cargo build --release --locked -p workbook
# The crates of every submission's build, for the grader's offline builds.
cargo fetch --locked
chmod -R a+rX /usr/local/rustup /usr/local/cargo
"#,
        name = arch.name
    )
}

/// `run_autograder`: grades `submission/` with the grader built by `setup.sh`; if the grader
/// itself fails (not the submission), `results.json` says so.
pub fn run_autograder(arch: &Arch) -> String {
    format!(
        r#"#!/usr/bin/env bash
# Gradescope runs this, as root, for every submission to the `{name}` autograder (written
# by `workbook gradescope {name} DIR`). It grades as `workbook grade {name} --submission`
# does: only the files a student writes for {name}, put into a clean student edition,
# built as an unprivileged user, graded by the grader's own process.
set -uo pipefail
ARCH={name}
here="$(cd "$(dirname "$0")" && pwd)"
# Gradescope runs a copy of this script in /autograder; the one in source/ works as well.
if [ "$(basename "$here")" = source ]; then here="$(dirname "$here")"; fi
results="$here/results"
if [ -d /usr/local/rustup ]; then # Rust as setup.sh installed it
    export RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo
    export PATH="/usr/local/cargo/bin:$PATH"
fi
mkdir -p "$results"
cd "$here/source/workbook" || exit 1
target/release/workbook grade "$ARCH" --submission "$here/submission" --format gradescope \
    >"$results/results.json.part" 2>"$results/grader.log"
status=$?
cat "$results/grader.log" # the autograder's output, on Gradescope's page
# 0: full marks, 1: a verdict (the build's refusal or failure included); else the grader
# itself could not grade, which is not the student's doing.
if [ "$status" -le 1 ] && [ -s "$results/results.json.part" ]; then
    mv "$results/results.json.part" "$results/results.json"
else
    printf '{{"score": 0, "output": "The autograder failed (exit status %s) before it could grade: this is not your doing; tell your instructor (its log is in the autograder output)."}}\n' \
        "$status" >"$results/results.json"
fi
"#,
        name = arch.name
    )
}

/// Writes `setup.sh` and `run_autograder` for `arch` into `dir`, executable.
pub fn write_scripts(arch: &Arch, dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, text) in [
        ("setup.sh", setup_sh(arch)),
        ("run_autograder", run_autograder(arch)),
    ] {
        let path = dir.join(name);
        fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Lays out `dir` as the autograder's source for `arch`: the two scripts, and the student
/// edition of the workbook at `source` in `dir/workbook`. Returns what the edition left out.
pub fn write(arch: &Arch, source: &Path, dir: &Path) -> Result<Vec<String>, String> {
    if fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(format!(
            "{} exists and is not empty: name a new directory",
            dir.display()
        ));
    }
    let left_out = export::export(source, &dir.join("workbook"))?;
    write_scripts(arch, dir)?;
    Ok(left_out)
}
