//! `workbook watch ARCH`: grades the exercise again every time one of its files changes, as
//! `rustlings watch` does, printing the score and the first failing check.
//!
//! The files are watched with the `notify` crate (inotify on Linux). An editor's save is
//! often several events (a temporary file, a rename, a write): changes are gathered until
//! the directory has been quiet for [`QUIET`], then graded once.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

/// How long the files must stay unchanged before a grading starts.
pub const QUIET: Duration = Duration::from_millis(300);

/// Watches `dir`, calling `grade` once at the start and again after every burst of changes,
/// until the watcher itself fails (or the process is stopped, as Ctrl-C does).
pub fn watch(dir: &Path, mut grade: impl FnMut()) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Reading a file (an editor opening it, the build) is not a change.
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    })
    .map_err(|e| format!("cannot watch files: {e}"))?;
    watcher
        .watch(dir, RecursiveMode::Recursive)
        .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    grade();
    while rx.recv().is_ok() {
        while rx.recv_timeout(QUIET).is_ok() {}
        // A save during the grading is graded next, once this one ends.
        grade();
    }
    Err("the file watcher stopped".into())
}
