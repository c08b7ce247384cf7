//! Building a workbook crate with cargo and finding its binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The workspace root: the nearest ancestor of the current directory that holds
/// `exercises/`, else the one this grader was built from.
pub fn workspace_root() -> PathBuf {
    let here = std::env::current_dir().unwrap_or_default();
    here.ancestors()
        .find(|dir| dir.join("exercises").is_dir() && dir.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Builds the binary of `package` (named like the package) and returns its path. Cargo's
/// diagnostics go to our stderr as cargo renders them.
pub fn build(root: &Path, package: &str) -> Result<PathBuf, String> {
    build_profile(root, package, &[])
}

/// [`build`] with optimisations (`--release`), for the measurement lab: a server measured
/// unoptimised would measure the compiler's settings, not its architecture.
pub fn build_release(root: &Path, package: &str) -> Result<PathBuf, String> {
    build_profile(root, package, &["--release"])
}

fn build_profile(root: &Path, package: &str, profile: &[&str]) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["build", "--quiet", "-p", package, "--bin", package])
        .args(profile)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo ({}): {e}", Path::new(&cargo).display()))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo build -p {package}{}` failed in {}: fix the errors above, then try again",
            profile.iter().map(|a| format!(" {a}")).collect::<String>(),
            root.display()
        ));
    }
    executable(&output.stdout, package)
        .ok_or_else(|| format!("cargo built {package} but reported no executable"))
}

/// The binary `package` that cargo's JSON messages (`--message-format=json...`) say it built.
pub fn executable(messages: &[u8], package: &str) -> Option<PathBuf> {
    String::from_utf8_lossy(messages)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == package)
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
}
