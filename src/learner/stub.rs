//! The stubs as shipped: a fingerprint of each (kept in `exercises/pristine.txt`), whether
//! an exercise still matches it, and `workbook reset`, which brings the shipped stub back.
//!
//! The shipped stub is found in the repository's own history rather than in a copy kept
//! beside it: the newest commit whose `exercises/ARCH/src` has the shipped fingerprint. A
//! student's repository, exported or cloned, starts with such a commit, so reset works there
//! too, and a stub its authors changed needs nothing more than its new fingerprint.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A stub's files: each name (relative to `exercises/ARCH/src`) with its bytes.
pub type Files = Vec<(String, Vec<u8>)>;

/// FNV-1a over the files' names and bytes, in name order: the same on every machine and
/// toolchain.
pub fn fingerprint(files: &Files) -> u64 {
    let mut sorted: Vec<_> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, bytes) in sorted {
        for &b in name.as_bytes().iter().chain(&[0]).chain(bytes) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

fn src(root: &Path, arch: &str) -> PathBuf {
    root.join("exercises").join(arch).join("src")
}

/// The files of `exercises/ARCH/src` now (a directory counts as a name without bytes).
pub fn current(root: &Path, arch: &str) -> Files {
    std::fs::read_dir(src(root, arch))
        .map(|dir| {
            dir.flatten()
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name, std::fs::read(e.path()).unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The shipped fingerprint of `arch`, from `exercises/pristine.txt`.
pub fn shipped(root: &Path, arch: &str) -> Option<u64> {
    let list = std::fs::read_to_string(root.join("exercises/pristine.txt")).ok()?;
    list.lines()
        .find_map(|l| l.strip_prefix(&format!("{arch} ")))
        .and_then(|hash| u64::from_str_radix(hash.trim(), 16).ok())
}

/// Whether `exercises/ARCH` is the stub as shipped; if not, why not.
pub fn pristine(root: &Path, arch: &str) -> Result<(), String> {
    let now = fingerprint(&current(root, arch));
    match shipped(root, arch) {
        Some(hash) if hash == now => Ok(()),
        _ => Err(format!(
            "exercises/{arch} is not the stub as shipped (you have worked on it, or its \
             authors changed it: then its line in exercises/pristine.txt becomes \
             `{arch} {now:016x}`)"
        )),
    }
}

fn git(root: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// The shipped stub of `arch`, from the newest commit that has it.
pub fn shipped_files(root: &Path, arch: &str) -> Result<(String, Files), String> {
    let want = shipped(root, arch)
        .ok_or_else(|| format!("exercises/pristine.txt has no fingerprint for {arch}"))?;
    let dir = format!("exercises/{arch}/src");
    let commits = git(root, &["log", "--format=%H", "--", &dir])
        .map_err(|e| format!("the shipped stub is found in git's history, and git said: {e}"))?;
    for commit in String::from_utf8_lossy(&commits).lines() {
        let listing = git(root, &["ls-tree", commit, &format!("{dir}/")])?;
        let mut files = Files::new();
        for entry in String::from_utf8_lossy(&listing).lines() {
            // `MODE TYPE HASH\tPATH`
            let Some((meta, path)) = entry.split_once('\t') else {
                continue;
            };
            let name = path.rsplit('/').next().unwrap_or(path).to_string();
            let bytes = if meta.contains(" blob ") {
                git(root, &["show", &format!("{commit}:{path}")])?
            } else {
                Vec::new()
            };
            files.push((name, bytes));
        }
        if fingerprint(&files) == want {
            return Ok((commit.to_string(), files));
        }
    }
    Err(format!(
        "no commit in this repository's history has the shipped {dir} (fingerprint \
         {want:016x}); restore it from the repository you cloned"
    ))
}

/// What a reset would change: files whose bytes differ or that the stub does not have.
pub fn changes(root: &Path, arch: &str, stub: &Files) -> Vec<String> {
    let now = current(root, arch);
    let mut changed: Vec<String> = now
        .iter()
        .filter(|(name, bytes)| !stub.iter().any(|(n, b)| n == name && b == bytes))
        .map(|(name, _)| name.clone())
        .chain(
            stub.iter()
                .filter(|(name, _)| !now.iter().any(|(n, _)| n == name))
                .map(|(name, _)| name.clone()),
        )
        .collect();
    changed.sort();
    changed.dedup();
    changed
}

/// Puts the shipped stub back, after moving every file it changes into `backup`.
pub fn reset(root: &Path, arch: &str, stub: &Files, backup: &Path) -> std::io::Result<()> {
    let dir = src(root, arch);
    for name in changes(root, arch, stub) {
        let path = dir.join(&name);
        if path.is_file() {
            std::fs::create_dir_all(backup)?;
            std::fs::copy(&path, backup.join(&name))?;
            std::fs::remove_file(&path)?;
        }
    }
    for (name, bytes) in stub {
        let path = dir.join(name);
        if !bytes.is_empty() || !path.exists() {
            std::fs::write(path, bytes)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_ignores_order_but_not_names_or_bytes() {
        let a = vec![
            ("a.rs".into(), b"x".to_vec()),
            ("b.rs".into(), b"y".to_vec()),
        ];
        let b = vec![
            ("b.rs".into(), b"y".to_vec()),
            ("a.rs".into(), b"x".to_vec()),
        ];
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let renamed = vec![
            ("c.rs".into(), b"x".to_vec()),
            ("b.rs".into(), b"y".to_vec()),
        ];
        assert_ne!(fingerprint(&a), fingerprint(&renamed));
        let edited = vec![
            ("a.rs".into(), b"z".to_vec()),
            ("b.rs".into(), b"y".to_vec()),
        ];
        assert_ne!(fingerprint(&a), fingerprint(&edited));
    }
}
