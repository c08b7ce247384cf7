//! `workbook hint ARCH [CHECK]`: help that grows as it is asked for, as in rustlings.
//!
//! The first time, the check's hint and the book section that explains it. Asked again for
//! the same check, the places in the stub it grades: the functions whose docs say "Graded
//! by" that check, with their `TODO`s, and the message of the last failure. Without CHECK,
//! the first check the last grading failed.

use std::path::Path;

use crate::learner::progress::Progress;
use crate::rubric::check::Check;
use crate::rubric::registry::Arch;

/// The hint for `check` (or the next failing check) of `arch`, recording that it was shown.
pub fn hint(root: &Path, arch: &Arch, check: Option<&str>) -> Result<String, String> {
    let mut progress = Progress::load(root);
    let record = progress.archs.get(arch.name).cloned().unwrap_or_default();
    let mut out = String::new();
    let check = match check {
        Some(id) => find(arch, id)?,
        None => match record.failed.first() {
            Some(id) => find(arch, id)?,
            None if record.max_score == arch.max_score() && record.last == record.max_score => {
                return Ok(format!(
                    "{} passed every check last time: read {} to compare with the reference",
                    arch.name,
                    arch.walkthrough()
                ))
            }
            None => {
                out.push_str(&format!(
                    "(not graded yet: `cargo test -p {}` tells which check fails first; \
                     here is the rubric's first)\n",
                    arch.exercise_package()
                ));
                arch.checks[0]
            }
        },
    };
    let record = progress.archs.entry(arch.name.to_string()).or_default();
    let asked = record.hints.entry(check.id.to_string()).or_insert(0);
    out.push_str(&format!(
        "{}: {}\nhint: {}\nread: book/src/{}\n",
        check.id, check.summary, check.hint, check.book
    ));
    if *asked == 0 {
        out.push_str(&format!(
            "(ask again, `workbook hint {} {}`, for where in the stub to look)\n",
            arch.name, check.id
        ));
    } else {
        out.push_str(&places(root, arch, check.id));
    }
    *asked += 1;
    // A hint is worth showing even if the record cannot be written.
    let _ = progress.save(root);
    Ok(out)
}

fn find(arch: &Arch, id: &str) -> Result<&'static Check, String> {
    arch.checks
        .iter()
        .copied()
        .find(|c| c.id == id)
        .ok_or_else(|| {
            format!(
                "{} has no check `{id}`; see `workbook rubric {}`",
                arch.name, arch.name
            )
        })
}

/// The functions of `exercises/ARCH/src` whose "Graded by" names `id` (else those graded
/// by every check), with their TODO comments.
fn places(root: &Path, arch: &Arch, id: &str) -> String {
    let dir = root.join("exercises").join(arch.name).join("src");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut named = Vec::new();
    let mut everything = Vec::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let shown = format!("exercises/{}/src/{}", arch.name, file_name(&path));
        for place in graded_by(&text) {
            let entry = place.render(&shown);
            if place.checks.contains(&format!("`{id}`")) {
                named.push(entry);
            } else if place.checks.contains("every") {
                everything.push(entry);
            }
        }
    }
    let found = if named.is_empty() { everything } else { named };
    if found.is_empty() {
        return format!(
            "no function in {} says it is graded by `{id}`\n",
            dir.display()
        );
    }
    format!("where to look:\n{}", found.concat())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// A function of a stub, with the checks its docs say grade it.
struct Place {
    /// The "Graded by:" text, all its lines joined.
    checks: String,
    /// 1-based line of the `fn`.
    line: usize,
    signature: String,
    todos: Vec<String>,
}

impl Place {
    fn render(&self, file: &str) -> String {
        let mut out = format!("  {file}:{}: {}\n", self.line, self.signature);
        for todo in &self.todos {
            out.push_str(&format!("      {todo}\n"));
        }
        out
    }
}

/// Every "Graded by:" doc block of `text` and the function after it.
fn graded_by(text: &str) -> Vec<Place> {
    let lines: Vec<&str> = text.lines().collect();
    let mut places = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(start) = lines[i].trim().strip_prefix("/// Graded by:") else {
            i += 1;
            continue;
        };
        let mut checks = start.to_string();
        i += 1;
        while let Some(more) = lines.get(i).and_then(|l| l.trim().strip_prefix("///")) {
            if more.trim().is_empty() {
                break;
            }
            checks.push_str(more);
            i += 1;
        }
        let Some(at) = (i..lines.len()).find(|&j| lines[j].contains("fn ")) else {
            break;
        };
        let indent = lines[at].len() - lines[at].trim_start().len();
        let end = (at..lines.len())
            .find(|&j| {
                lines[j].len() - lines[j].trim_start().len() == indent && lines[j].trim() == "}"
            })
            .unwrap_or(lines.len());
        // A TODO goes on over the comment lines after it, up to the next TODO or code.
        let mut todos: Vec<String> = Vec::new();
        let mut open = false;
        for line in &lines[at..end] {
            let line = line.trim();
            match (line.strip_prefix("//"), todos.last_mut()) {
                (Some(_), _) if line.starts_with("// TODO") => {
                    todos.push(line.to_string());
                    open = true;
                }
                (Some(more), Some(last)) if open => last.push_str(more),
                _ => open = false,
            }
        }
        places.push(Place {
            checks,
            line: at + 1,
            signature: lines[at].trim().trim_end_matches('{').trim().to_string(),
            todos,
        });
        i = at + 1;
    }
    places
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_functions_a_check_grades_and_their_todos() {
        let stub = "\
/// Serves.
///
/// Graded by: `one-line`, `pipelined`,
/// `half-close`.
pub fn serve(x: u8) -> u8 {
    // TODO: loop over
    // the connections. Book: \"The accept loop\".
    todo!()
    // not part of it
}
";
        let places = graded_by(stub);
        assert_eq!(places.len(), 1);
        let place = &places[0];
        assert!(place.checks.contains("`half-close`"), "{}", place.checks);
        assert_eq!(place.line, 5);
        assert_eq!(place.signature, "pub fn serve(x: u8) -> u8");
        assert_eq!(
            place.todos,
            ["// TODO: loop over the connections. Book: \"The accept loop\"."]
        );
    }
}
