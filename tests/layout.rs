//! The workbook's layout, checked like `rustlings dev check`: walking the registry of
//! architectures, every piece an architecture needs is where it belongs and agrees with the
//! rest. Adding an architecture = a registry entry, its rubric folder, `exercises/NAME`,
//! `solutions/NAME`, `book/src/NAME.md` and `book/src/walkthroughs/NAME.md` (and their SUMMARY
//! entries) and its buggy servers; this
//! test names whatever is missing.

use std::fs;
use std::path::{Path, PathBuf};

use workbook::rubric::registry;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(root().join(path)).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (a registered architecture needs it)",
            path.display()
        )
    })
}

#[test]
fn every_architecture_has_its_crates_and_their_graders() {
    for arch in registry::all() {
        for (dir, package) in [
            ("exercises", arch.exercise_package()),
            ("solutions", arch.solution_package()),
        ] {
            let crate_dir = Path::new(dir).join(arch.name);
            let manifest = read(&crate_dir.join("Cargo.toml"));
            assert!(
                manifest.contains(&format!("name = \"{package}\"")),
                "{}/Cargo.toml must name the package {package}",
                crate_dir.display()
            );
            assert!(
                manifest.contains("[[test]]\nname = \"grade\"\nharness = false"),
                "{}/Cargo.toml must declare tests/grade.rs with harness = false",
                crate_dir.display()
            );
            let grade = read(&crate_dir.join("tests/grade.rs"));
            let call = format!(
                "workbook::harness::main(\"{}\", env!(\"CARGO_BIN_EXE_{package}\"))",
                arch.name
            );
            // Whitespace aside: rustfmt breaks the call over lines for a long name.
            let squeezed = |s: &str| s.split_whitespace().collect::<String>();
            assert!(
                squeezed(&grade)
                    .replace(",)", ")")
                    .contains(&squeezed(&call)),
                "{}/tests/grade.rs must call {call}",
                crate_dir.display()
            );
        }
    }
}

#[test]
fn every_architecture_has_its_chapter_in_the_summary() {
    let summary = read(Path::new("book/src/SUMMARY.md"));
    for arch in registry::all() {
        read(Path::new(&arch.chapter()));
        read(Path::new(&arch.walkthrough()));
        for entry in [
            format!("]({}.md)", arch.name),
            format!("](walkthroughs/{}.md)", arch.name),
        ] {
            assert!(
                summary.contains(&entry),
                "book/src/SUMMARY.md has no entry `{entry}`"
            );
        }
    }
}

/// The anchors mdBook gives a chapter's headings (its `normalize_id`), with the text of
/// inline code kept and the backticks dropped.
fn anchors(chapter: &str) -> Vec<String> {
    chapter
        .lines()
        .filter_map(|l| {
            l.trim_start_matches('#')
                .strip_prefix(' ')
                .filter(|_| l.starts_with('#'))
        })
        .map(|heading| {
            heading
                .chars()
                .filter_map(|c| {
                    if c.is_alphanumeric() || c == '_' || c == '-' {
                        Some(c.to_ascii_lowercase())
                    } else if c.is_whitespace() {
                        Some('-')
                    } else {
                        None
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn every_check_points_at_a_heading_that_exists() {
    for arch in registry::all() {
        for check in &arch.checks {
            let (file, anchor) = check
                .book
                .split_once('#')
                .unwrap_or_else(|| panic!("{}: book {:?} has no #anchor", check.id, check.book));
            let chapter = read(&Path::new("book/src").join(file));
            assert!(
                anchors(&chapter).iter().any(|a| a == anchor),
                "{}: book/src/{file} has no heading whose anchor is #{anchor}",
                check.id
            );
        }
    }
}

/// The check ids a stub's "Graded by:" comments name (the comment may go on over several
/// `///` lines, up to a line that ends in a full stop).
fn graded_by(source: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut inside = false;
    for line in source.lines().map(str::trim) {
        let text = line.trim_start_matches("///").trim_start_matches("//");
        if text.contains("Graded by:") {
            inside = true;
        }
        if inside {
            ids.extend(text.split('`').skip(1).step_by(2).map(str::to_string));
            if text.trim_end().ends_with('.') || !line.starts_with("//") {
                inside = false;
            }
        }
    }
    ids
}

#[test]
fn the_stubs_graded_by_lists_name_real_checks() {
    for arch in registry::all() {
        let dir = root().join("exercises").join(arch.name).join("src");
        for file in fs::read_dir(&dir).unwrap().flatten() {
            let source = fs::read_to_string(file.path()).unwrap();
            for id in graded_by(&source) {
                assert!(
                    arch.checks.iter().any(|c| c.id == id),
                    "{}: \"Graded by\" names `{id}`, which is not a check of {}",
                    file.path().display(),
                    arch.name
                );
            }
        }
    }
}

/// The code of `source` as runs of lines, without comments, blank lines, `use` lines, the
/// allowances a stub needs for what is still to be written (`unused_imports`, `dead_code`) and
/// book anchors, and (for a stub) without the functions still to be written (those whose body
/// holds a `todo!`); the crate's own name is written `CRATE`.
fn given_runs(source: &str, own: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = source.lines().collect();
    let mut runs = vec![Vec::new()];
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        let is_fn = [
            "fn ",
            "pub fn ",
            "pub(crate) fn ",
            "async fn ",
            "pub async fn ",
        ]
        .iter()
        .any(|start| line.trim_start().starts_with(start));
        if is_fn {
            let end = (i..lines.len())
                .find(|&j| {
                    lines[j].starts_with(&format!("{}}}", " ".repeat(indent)))
                        || (j == i && lines[j].trim_end().ends_with('}'))
                })
                .unwrap_or(lines.len() - 1);
            if lines[i..=end].iter().any(|l| l.contains("todo!(")) {
                // Its doc comment is gone with it: drop what the last run took of it.
                while runs
                    .last()
                    .is_some_and(|r| r.last().is_some_and(|l: &String| l.starts_with("#[")))
                {
                    runs.last_mut().unwrap().pop();
                }
                runs.push(Vec::new());
                i = end + 1;
                continue;
            }
        }
        let code = line.trim_end();
        let trimmed = code.trim_start();
        let skip = trimmed.is_empty()
            || trimmed.starts_with("//")
            || trimmed.starts_with("use ")
            || trimmed.starts_with("#[allow(unused_imports)]")
            || trimmed.starts_with("#[allow(dead_code)]");
        if !skip {
            runs.last_mut().unwrap().push(code.replace(own, "CRATE"));
        }
        i += 1;
    }
    runs.retain(|r| !r.is_empty());
    runs
}

#[test]
fn the_code_a_stub_is_given_is_the_solutions() {
    for arch in registry::all() {
        let (exercise, solution) = (arch.exercise_package(), arch.solution_package());
        let dir = root().join("exercises").join(arch.name).join("src");
        for file in fs::read_dir(&dir).unwrap().flatten() {
            let name = file.file_name();
            let theirs = root()
                .join("solutions")
                .join(arch.name)
                .join("src")
                .join(&name);
            let Ok(solved) = fs::read_to_string(&theirs) else {
                continue;
            };
            let own = |package: &str| package.replace('-', "_");
            let given = given_runs(&fs::read_to_string(file.path()).unwrap(), &own(&exercise));
            let solved: Vec<String> = given_runs(&solved, &own(&solution))
                .into_iter()
                .flatten()
                .collect();
            for run in given {
                let found = solved.windows(run.len()).any(|w| w == run.as_slice());
                assert!(
                    found,
                    "{}: this code is given to the learner but is not the solution's \
                     ({}):\n{}",
                    file.path().display(),
                    theirs.display(),
                    run.join("\n")
                );
            }
        }
    }
}

/// The exercise crates `manifest` depends on, by architecture name (`exercise-NAME`).
fn exercise_dependencies(manifest: &str) -> Vec<String> {
    manifest
        .lines()
        .filter_map(|l| l.trim().strip_prefix("exercise-"))
        .filter_map(|rest| rest.split(['.', ' ', '=']).next())
        .map(str::to_string)
        .collect()
}

/// A learner's exercise uses nothing from `solutions/` (the student edition has none), and
/// the registry lists the files of every exercise it builds on: grading it takes them.
#[test]
fn an_exercise_builds_on_exercises_never_on_solutions() {
    for arch in registry::all() {
        let path = Path::new("exercises").join(arch.name).join("Cargo.toml");
        let manifest = read(&path);
        assert!(
            !manifest.contains("solution-"),
            "{} depends on a solution: depend on the learner's own exercise crate instead \
             (and say so with `.builds_on(..)` in src/rubric/registry.rs)",
            path.display()
        );
        let mut wanted = vec![format!("exercises/{}/src/*.rs", arch.name)];
        wanted.extend(
            exercise_dependencies(&manifest)
                .iter()
                .map(|earlier| format!("exercises/{earlier}/src/*.rs")),
        );
        assert_eq!(
            arch.edits, wanted,
            "{}: the registry's edits must be its own files and those of the exercises its \
             Cargo.toml depends on",
            arch.name
        );
    }
}

#[test]
fn a_missing_piece_is_named() {
    // The helpers above must see what they check: a heading's anchor, a graded-by list.
    assert_eq!(
        anchors("## Running out of `descriptors`\n"),
        ["running-out-of-descriptors"]
    );
    assert_eq!(
        graded_by("/// Graded by: `one-line`,\n/// `pipelined`.\n/// `not-this`\n"),
        ["one-line", "pipelined"]
    );
    let stub = "/// Doc.\nfn serve() {\n    todo!(\"x\")\n}\nconst A: u8 = 1;\npub async fn run() {\n    todo!()\n}\n";
    assert_eq!(
        given_runs(stub, "x"),
        [vec!["const A: u8 = 1;".to_string()]]
    );
    assert_eq!(
        exercise_dependencies("[dependencies]\nexercise-iterative.workspace = true\nnix = \"1\"\n"),
        ["iterative"]
    );
}
