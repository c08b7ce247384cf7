//! The workspace as cargo sees it (its packages and what they depend on), and the root
//! `Cargo.toml` of the student edition.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use toml_edit::{Array, DocumentMut, Item};

/// A package of the workspace: its name, its directory from the workspace root (`.` for the
/// root crate) and the names of the workspace packages it depends on (of any kind).
pub struct Package {
    pub name: String,
    pub dir: String,
    pub depends_on: Vec<String>,
}

/// The packages of the workspace at `root`, from `cargo metadata --no-deps`.
pub fn packages(root: &Path) -> Result<Vec<Package>, String> {
    let out = cargo()
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo metadata` failed in {}: {}",
            root.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let metadata: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    let root = root
        .canonicalize()
        .map_err(|e| format!("{}: {e}", root.display()))?;
    let names: Vec<&str> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    let packages = metadata["packages"].as_array().into_iter().flatten();
    Ok(packages
        .map(|p| {
            let manifest = Path::new(p["manifest_path"].as_str().unwrap_or_default());
            let dir = manifest.parent().unwrap_or(Path::new(""));
            let dir = match dir.strip_prefix(&root) {
                Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
                Ok(rel) => rel.to_string_lossy().into_owned(),
                Err(_) => dir.to_string_lossy().into_owned(),
            };
            let depends_on = p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["name"].as_str())
                .filter(|d| names.contains(d))
                .map(str::to_string)
                .collect();
            Package {
                name: p["name"].as_str().unwrap_or_default().to_string(),
                dir,
                depends_on,
            }
        })
        .collect())
}

/// The cargo the grader was started by, or the one on `PATH`.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Rewrites `Cargo.lock` in the workspace at `root` to the packages it still has (cargo
/// drops the others and keeps every other version as it was locked).
pub fn prune_lock(root: &Path) -> Result<(), String> {
    let run = |offline: bool| {
        let mut command = cargo();
        command.args(["metadata", "--format-version", "1", "--quiet"]);
        if offline {
            command.arg("--offline");
        }
        command
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .output()
    };
    // Offline first: every package left was locked, and most likely built, already.
    let out = match run(true) {
        Ok(out) if out.status.success() => return Ok(()),
        _ => run(false).map_err(|e| format!("cannot run cargo: {e}"))?,
    };
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo metadata` failed in the student edition: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The student edition's root `Cargo.toml`: `text` without the workbook's own tests and
/// their dev-dependencies, with workspace members only among `kept` (package directories),
/// and without the workspace dependencies on packages left out.
pub fn student_manifest(text: &str, all: &[Package], kept: &[&Package]) -> Result<String, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("Cargo.toml: {e}"))?;
    doc.remove("test");
    doc.remove("dev-dependencies");
    let workspace = doc
        .get_mut("workspace")
        .and_then(Item::as_table_mut)
        .ok_or("Cargo.toml has no [workspace]")?;
    for key in ["members", "default-members"] {
        if let Some(patterns) = workspace.get(key).and_then(Item::as_array) {
            let members = members(patterns, all, kept);
            workspace[key] = toml_edit::value(members);
        }
    }
    if let Some(decor) = workspace.key_mut("default-members") {
        let mut decor = decor;
        decor.leaf_decor_mut().set_prefix(
            "# The student edition: the grader, the kit, the exercises and the book's \
             demonstrations.\n# `cargo test -p exercise-ARCH` grades an exercise.\n",
        );
    }
    if let Some(deps) = workspace
        .get_mut("dependencies")
        .and_then(Item::as_table_like_mut)
    {
        let gone: Vec<String> = deps
            .iter()
            .filter(|(name, _)| {
                all.iter().any(|p| p.name == *name) && !kept.iter().any(|p| p.name == *name)
            })
            .map(|(name, _)| name.to_string())
            .collect();
        for name in gone {
            deps.remove(&name);
        }
    }
    Ok(doc.to_string())
}

/// `patterns` (members such as `crates/*`) for the kept packages only: a pattern that
/// matches only kept packages stays as it is; one that also matches a package left out
/// becomes the kept packages it matches.
fn members(patterns: &Array, all: &[Package], kept: &[&Package]) -> Array {
    let mut out = Array::new();
    for pattern in patterns.iter().filter_map(|v| v.as_str()) {
        let matched: Vec<&Package> = all
            .iter()
            .filter(|p| dir_matches(pattern, &p.dir))
            .collect();
        let kept_ones: Vec<&str> = matched
            .iter()
            .filter(|p| kept.iter().any(|k| k.name == p.name))
            .map(|p| p.dir.as_str())
            .collect();
        if kept_ones.len() == matched.len() && !matched.is_empty() {
            out.push(pattern);
        } else {
            kept_ones.into_iter().for_each(|dir| out.push(dir));
        }
    }
    out
}

/// Whether the member pattern `pattern` (`*` within one path segment) names `dir`.
fn dir_matches(pattern: &str, dir: &str) -> bool {
    let (mut p, mut d) = (pattern.split('/'), dir.split('/'));
    loop {
        match (p.next(), d.next()) {
            (None, None) => return true,
            (Some(p), Some(d)) if super::submission::glob(p, d) => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, dir: &str) -> Package {
        Package {
            name: name.into(),
            dir: dir.into(),
            depends_on: vec![],
        }
    }

    #[test]
    fn the_student_manifest_keeps_only_what_it_exports() {
        let text =
            "[package]\nname = \"workbook\"\n\n[[test]]\nname = \"stubs\"\nharness = false\n\n\
                    [dev-dependencies]\ninsta = \"1\"\n\n[workspace]\n\
                    members = [\".\", \"crates/*\", \"exercises/*\", \"solutions/*\", \"lab\"]\n\
                    default-members = [\".\", \"crates/*\", \"solutions/*\"]\n\n\
                    [workspace.dependencies]\nworkbook-kit = { path = \"crates/kit\" }\n\
                    solution-iterative = { path = \"solutions/iterative\" }\nnix = \"0.31\"\n";
        let all = [
            package("workbook", "."),
            package("workbook-kit", "crates/kit"),
            package("buggy-servers", "crates/buggy"),
            package("exercise-iterative", "exercises/iterative"),
            package("solution-iterative", "solutions/iterative"),
            package("workbook-lab", "lab"),
        ];
        let kept: Vec<&Package> = [0, 1, 3].iter().map(|&i| &all[i]).collect();
        let out = student_manifest(text, &all, &kept).unwrap();
        assert!(!out.contains("[[test]]") && !out.contains("insta"), "{out}");
        assert!(
            out.contains(r#"members = [".", "crates/kit", "exercises/*"]"#),
            "{out}"
        );
        assert!(
            out.contains(r#"default-members = [".", "crates/kit"]"#),
            "{out}"
        );
        assert!(!out.contains("solution"), "{out}");
        assert!(
            out.contains("nix = \"0.31\"") && out.contains("workbook-kit = "),
            "{out}"
        );
    }
}
