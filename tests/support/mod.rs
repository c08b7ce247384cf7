//! What more than one of the workbook's test files needs.

use std::path::{Path, PathBuf};

/// The Markdown pages under `dir`, in its folders too, in order.
pub fn markdown(dir: &Path) -> Vec<PathBuf> {
    let mut pages = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            pages.extend(markdown(&path));
        } else if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages.sort();
    pages
}
