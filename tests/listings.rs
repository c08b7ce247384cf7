//! The book's code listings are written into its Markdown, so that `book/src` reads completely
//! as plain Markdown (on GitHub, say), where an mdBook include would show as a raw
//! placeholder. A listing sits between two markers and names its source:
//!
//! ```text
//! <!-- listing: solutions/epoll/src/lib.rs:tokens -->
//! ```rust,ignore
//! (the lines between `// ANCHOR: tokens` and `// ANCHOR_END: tokens`, dedented)
//! ```
//! <!-- end listing -->
//! ```
//!
//! The source is a path from the repository's root, then optionally `:` and what to take:
//! - nothing: the whole file;
//! - `NAME`: the lines between `ANCHOR: NAME` and `ANCHOR_END: NAME`;
//! - `KIND NAME` (`fn on_event`, `struct Connection`, `const LISTENER`...): one item, with its
//!   doc comment and attributes, for files that have no anchors (the stubs);
//! - `KIND NAME..KIND NAME`: from the first item through the second.
//!
//! Lines that hold anchors are left out, as mdBook does. The opening fence (its language and
//! attributes) is the author's; the code between the fences is generated.
//!
//! The tests here:
//! - every listing is what its source says now. `UPDATE_LISTINGS=1 cargo test --test
//!   listings` rewrites the stale ones instead of failing (and fills in a new listing written
//!   as its two markers alone);
//! - the chapters show no solution code: a listing from `solutions/` belongs in
//!   `book/src/walkthroughs/` only, and no code block outside it repeats a run of the
//!   solutions' own lines (the code a stub is given does not count);
//! - no Markdown file holds a raw mdBook directive (`{{#`).

use std::collections::HashSet;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

const BOOK: &str = "book/src";
const WALKTHROUGHS: &str = "book/src/walkthroughs";
const OPEN: &str = "<!-- listing: ";
const CLOSE: &str = "<!-- end listing -->";
const REGENERATE: &str = "UPDATE_LISTINGS=1 cargo test --test listings";
/// A chapter's code block may share this many solution lines in a row, no more.
const SHARED_RUN: usize = 3;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `path` from the repository's root, for messages.
fn shown(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The files under `dir` whose names end in `ext`, sorted, subfolders included.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", shown(path)))
}

/// One generated listing in a Markdown file.
#[derive(Debug)]
struct Listing {
    /// Its source: `PATH`, `PATH:ANCHOR`, `PATH:KIND NAME` or `PATH:KIND NAME..KIND NAME`.
    spec: String,
    /// The line of its opening marker, from 1.
    line: usize,
    /// The opening marker's indentation, given to every line of the block.
    indent: String,
    /// The lines between the markers (their indices in the file).
    body: Range<usize>,
}

/// The listings of a Markdown text, in order. Markers inside a fenced code block are text,
/// not markers (so that a page may show how to write one).
fn listings(lines: &[&str]) -> Result<Vec<Listing>, String> {
    let mut found = Vec::new();
    let mut fence: Option<&str> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        if let Some(open) = fence {
            if trimmed == open {
                fence = None;
            }
        } else if trimmed.starts_with("```") {
            fence = Some(&trimmed[..trimmed.len() - trimmed.trim_start_matches('`').len()]);
        } else if let Some(spec) = trimmed.strip_prefix(OPEN) {
            let spec = spec
                .strip_suffix("-->")
                .ok_or_else(|| format!("line {}: a listing marker ends with -->", i + 1))?
                .trim();
            let end = (i + 1..lines.len())
                .find(|&j| lines[j].trim() == CLOSE || lines[j].trim().starts_with(OPEN))
                .filter(|&j| lines[j].trim() == CLOSE)
                .ok_or_else(|| format!("line {}: listing {spec} has no {CLOSE}", i + 1))?;
            found.push(Listing {
                spec: spec.to_string(),
                line: i + 1,
                indent: line[..line.len() - line.trim_start().len()].to_string(),
                body: i + 1..end,
            });
            i = end;
        } else if trimmed == CLOSE {
            return Err(format!(
                "line {}: {CLOSE} without a listing before it",
                i + 1
            ));
        }
        i += 1;
    }
    Ok(found)
}

/// The source file of a listing's spec, from the repository's root.
fn source_path(spec: &str) -> &str {
    spec.split_once(':').map_or(spec, |(path, _)| path)
}

/// The code a spec names, as it must appear in the book: anchor lines dropped, dedented,
/// without blank lines at either end.
fn code(spec: &str) -> Result<Vec<String>, String> {
    let (path, selector) = match spec.split_once(':') {
        Some((path, selector)) => (path, Some(selector.trim())),
        None => (spec, None),
    };
    if path.starts_with('/') || path.split('/').any(|part| part == "..") {
        return Err(format!("{path}: give the path from the repository's root"));
    }
    let text = fs::read_to_string(root().join(path)).map_err(|e| format!("{path}: {e}"))?;
    let lines: Vec<&str> = text.lines().collect();
    let picked = match selector {
        None => &lines[..],
        Some(items) if items.contains(' ') => {
            let (first, last) = items.split_once("..").unwrap_or((items, items));
            let (start, _) = item(&lines, first.trim()).map_err(|e| format!("{path}: {e}"))?;
            let (_, end) = item(&lines, last.trim()).map_err(|e| format!("{path}: {e}"))?;
            if end < start {
                return Err(format!("{path}: `{last}` comes before `{first}`"));
            }
            &lines[start..=end]
        }
        Some(anchor) => {
            let start = lines
                .iter()
                .position(|l| anchor_name(l, "ANCHOR:") == Some(anchor))
                .ok_or_else(|| format!("{path}: no `ANCHOR: {anchor}`"))?;
            let end = (start..lines.len())
                .find(|&j| anchor_name(lines[j], "ANCHOR_END:") == Some(anchor))
                .ok_or_else(|| format!("{path}: no `ANCHOR_END: {anchor}` after its start"))?;
            &lines[start + 1..end]
        }
    };
    let kept: Vec<&str> = picked
        .iter()
        .copied()
        .filter(|l| anchor_name(l, "ANCHOR:").is_none() && anchor_name(l, "ANCHOR_END:").is_none())
        .collect();
    Ok(dedent(&kept))
}

/// The name after `tag` (`ANCHOR:` or `ANCHOR_END:`) on `line`, if the line has the tag.
fn anchor_name<'a>(line: &'a str, tag: &str) -> Option<&'a str> {
    let after = line[line.find(tag)? + tag.len()..].trim_start();
    let name = after
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .next()?;
    (!name.is_empty()).then_some(name)
}

/// The lines of the item `kind name` in `lines`: its first line (doc comment and attributes
/// included) and its last, the line that closes it at its own indentation.
fn item(lines: &[&str], spec: &str) -> Result<(usize, usize), String> {
    let (kind, name) = spec
        .split_once(' ')
        .ok_or_else(|| format!("`{spec}`: write an item as KIND NAME, e.g. `fn serve`"))?;
    let wanted = format!("{kind} {name}");
    let header = lines
        .iter()
        .position(|l| {
            let mut rest = l.trim_start();
            for visibility in ["pub(crate) ", "pub(super) ", "pub "] {
                rest = rest.strip_prefix(visibility).unwrap_or(rest);
            }
            if kind == "fn" {
                for qualifier in ["const ", "async ", "unsafe ", "extern \"C\" "] {
                    rest = rest.strip_prefix(qualifier).unwrap_or(rest);
                }
            }
            rest.strip_prefix(&wanted)
                .is_some_and(|after| !after.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
        })
        .ok_or_else(|| format!("no item `{wanted}`"))?;
    let line = lines[header];
    let indent = &line[..line.len() - line.trim_start().len()];
    let mut start = header;
    while start > 0 && {
        let above = lines[start - 1].trim_start();
        above.starts_with("///") || above.starts_with("#[")
    } {
        start -= 1;
    }
    let trimmed = line.trim_end();
    if trimmed.ends_with(';') || trimmed.ends_with('}') {
        return Ok((start, header));
    }
    // An item without a body ends at its `;`; one with a body, at the `}` in its own column.
    let ends = |l: &str| match kind {
        "const" | "static" | "type" | "use" => l.trim_end().ends_with(';'),
        _ => l
            .strip_prefix(indent)
            .is_some_and(|rest| rest.starts_with('}')),
    };
    let end = (header + 1..lines.len())
        .find(|&j| ends(lines[j]))
        .ok_or_else(|| format!("`{wanted}` never closes"))?;
    Ok((start, end))
}

/// `lines` without their common indentation, and without blank lines at either end.
fn dedent(lines: &[&str]) -> Vec<String> {
    let margin = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out: Vec<String> = lines
        .iter()
        .map(|l| l.get(margin..).unwrap_or("").trim_end().to_string())
        .collect();
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    let blank_head = out.iter().take_while(|l| l.is_empty()).count();
    out.drain(..blank_head);
    out
}

/// The block a listing must hold: the author's opening fence (` ```rust,ignore ` if there is
/// none yet), the code, the closing fence.
fn render(listing: &Listing, lines: &[&str], code: &[String]) -> Vec<String> {
    let indent = &listing.indent;
    let fence = lines[listing.body.clone()]
        .first()
        .filter(|l| l.trim_start().starts_with("```"))
        .map_or_else(|| format!("{indent}```rust,ignore"), |l| l.to_string());
    let mut block = vec![fence];
    block.extend(code.iter().map(|l| {
        if l.is_empty() {
            String::new()
        } else {
            format!("{indent}{l}")
        }
    }));
    block.push(format!("{indent}```"));
    block
}

/// Where two texts first differ, for a message.
fn first_difference(have: &[&str], want: &[String]) -> String {
    let at = (0..have.len().max(want.len()))
        .find(|&i| have.get(i).copied() != want.get(i).map(String::as_str))
        .unwrap_or(0);
    format!(
        "line {} of the block is {:?}, its source says {:?}",
        at + 1,
        have.get(at).copied().unwrap_or("(nothing)"),
        want.get(at).map_or("(nothing)", String::as_str)
    )
}

#[test]
fn every_listing_is_true_to_its_source() {
    let update = std::env::var("UPDATE_LISTINGS").is_ok_and(|v| v == "1");
    let (mut stale, mut broken, mut updated) = (Vec::new(), Vec::new(), Vec::new());
    for file in files(&root().join(BOOK), "md") {
        let text = read(&file);
        let lines: Vec<&str> = text.lines().collect();
        let found = match listings(&lines) {
            Ok(found) => found,
            Err(e) => {
                broken.push(format!("{}: {e}", shown(&file)));
                continue;
            }
        };
        let mut new: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let mut changed = Vec::new();
        // Last first, so that the line numbers of the ones before stay right.
        for listing in found.iter().rev() {
            let place = format!("{}:{}: {}", shown(&file), listing.line, listing.spec);
            let want = match code(&listing.spec) {
                Ok(code) => render(listing, &lines, &code),
                Err(e) => {
                    broken.push(format!("{place}: {e}"));
                    continue;
                }
            };
            let have = &lines[listing.body.clone()];
            if have != want.as_slice() {
                changed.push(format!("{place}\n    {}", first_difference(have, &want)));
                new.splice(listing.body.clone(), want);
            }
        }
        let changed_any = !changed.is_empty();
        stale.extend(changed.into_iter().rev());
        if update && changed_any {
            let mut text = new.join("\n");
            text.push('\n');
            // Through a rename, so that nobody reads a half-written chapter.
            let temporary = file.with_extension("md.listings");
            fs::write(&temporary, text).unwrap();
            fs::rename(&temporary, &file).unwrap();
            updated.push(shown(&file));
        }
    }
    assert!(
        broken.is_empty(),
        "listings whose source cannot be read:\n{}",
        broken.join("\n")
    );
    if update {
        if !updated.is_empty() {
            // Past the test harness's capture, so that the one who asked sees what changed.
            let said = format!("rewrote the listings of {}\n", updated.join(", "));
            let _ = std::io::Write::write_all(&mut std::io::stderr(), said.as_bytes());
        }
    } else {
        assert!(
            stale.is_empty(),
            "listings that differ from their sources:\n{}\n\nregenerate them with `{REGENERATE}`",
            stale.join("\n")
        );
    }
}

/// Whether `file` is in the walkthroughs, the one part of the book that shows solutions.
fn in_walkthroughs(file: &Path) -> bool {
    file.starts_with(root().join(WALKTHROUGHS))
}

#[test]
fn only_the_walkthroughs_list_solutions() {
    let mut wrong = Vec::new();
    for file in files(&root().join(BOOK), "md") {
        if in_walkthroughs(&file) {
            continue;
        }
        let text = read(&file);
        let lines: Vec<&str> = text.lines().collect();
        for listing in listings(&lines).unwrap_or_default() {
            if source_path(&listing.spec).starts_with("solutions/") {
                wrong.push(format!(
                    "{}:{}: {}",
                    shown(&file),
                    listing.line,
                    listing.spec
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "these chapters list a solution's code, which gives the exercise away; show it in \
         {WALKTHROUGHS}/ instead, and teach with a demonstration, a failing draft or the \
         stub:\n{}",
        wrong.join("\n")
    );
}

/// A line as the comparison sees it: trimmed, without a trailing comment; `None` for a line
/// that proves nothing by itself (blank, a comment, `}`, `Ok(())`, `loop {`).
fn significant(line: &str) -> Option<String> {
    let code = line.split(" // ").next().unwrap_or(line).trim();
    let letters = code.chars().filter(|c| c.is_alphanumeric()).count();
    (!code.starts_with("//") && letters >= 6).then(|| code.to_string())
}

/// The significant lines of every solution file, each file a run, without the lines the
/// learner is given (a stub's code, the kit's), which a chapter may show.
fn solution_runs() -> Vec<(String, Vec<String>)> {
    let given: HashSet<String> = files(&root().join("exercises"), "rs")
        .into_iter()
        .chain(files(&root().join("crates/kit"), "rs"))
        .flat_map(|f| read(&f).lines().filter_map(significant).collect::<Vec<_>>())
        .collect();
    files(&root().join("solutions"), "rs")
        .into_iter()
        .map(|f| {
            let lines = read(&f)
                .lines()
                .filter_map(significant)
                .filter(|l| !given.contains(l))
                .collect();
            (shown(&f), lines)
        })
        .collect()
}

/// The fenced code blocks of a Markdown text: the line each starts on, from 1, and its lines.
fn code_blocks<'a>(lines: &[&'a str]) -> Vec<(usize, Vec<&'a str>)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, &str, Vec<&str>)> = None;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        let closes = matches!(&open, Some((_, fence, _)) if trimmed == *fence);
        if closes {
            let (start, _, body) = open.take().unwrap();
            blocks.push((start, body));
        } else if let Some((_, _, body)) = &mut open {
            body.push(line);
        } else if trimmed.starts_with("```") {
            let fence = &trimmed[..trimmed.len() - trimmed.trim_start_matches('`').len()];
            open = Some((i + 1, fence, Vec::new()));
        }
    }
    blocks
}

/// The longest run of lines of `block` that a solution has in a row, and whose.
fn longest_shared_run(block: &[&str], solutions: &[(String, Vec<String>)]) -> (usize, String) {
    let ours: Vec<String> = block.iter().filter_map(|l| significant(l)).collect();
    let mut best = (0, String::new());
    for (file, theirs) in solutions {
        for i in 0..ours.len() {
            for j in 0..theirs.len() {
                let run = ours[i..]
                    .iter()
                    .zip(&theirs[j..])
                    .take_while(|(a, b)| a == b)
                    .count();
                if run > best.0 {
                    best = (run, file.clone());
                }
            }
        }
    }
    best
}

#[test]
fn no_chapter_copies_a_solution_by_hand() {
    let solutions = solution_runs();
    let mut copied = Vec::new();
    for file in files(&root().join(BOOK), "md") {
        if in_walkthroughs(&file) {
            continue;
        }
        let text = read(&file);
        let lines: Vec<&str> = text.lines().collect();
        for (line, block) in code_blocks(&lines) {
            let (run, whose) = longest_shared_run(&block, &solutions);
            if run > SHARED_RUN {
                copied.push(format!(
                    "{}:{line}: {run} lines in a row are {whose}'s",
                    shown(&file)
                ));
            }
        }
    }
    assert!(
        copied.is_empty(),
        "these code blocks repeat a solution's own lines, which gives the exercise away; show \
         the solution in {WALKTHROUGHS}/ only:\n{}",
        copied.join("\n")
    );
}

#[test]
fn no_markdown_holds_a_raw_mdbook_directive() {
    let mut raw = Vec::new();
    let markdown = files(&root().join("book"), "md")
        .into_iter()
        .chain([root().join("README.md")]);
    for file in markdown {
        for (i, line) in read(&file).lines().enumerate() {
            if line.contains("{{#") {
                raw.push(format!("{}:{}: {}", shown(&file), i + 1, line.trim()));
            }
        }
    }
    assert!(
        raw.is_empty(),
        "plain Markdown (GitHub) would show these mdBook directives as they are; write the \
         code between listing markers instead (see tests/listings.rs), and run \
         `{REGENERATE}`:\n{}",
        raw.join("\n")
    );
}

#[test]
fn the_helpers_see_what_they_check() {
    let source = "\
use x;

// ANCHOR: all
/// Doc.
#[inline]
pub fn one(a: u8) -> u8 {
    // ANCHOR: body
    a + 1
    // ANCHOR_END: body
}

pub const TWO: u8 = 2;

impl Thing {
    pub(crate) fn three(
        &self,
    ) -> u8 {
        3
    }
}
// ANCHOR_END: all
";
    let lines: Vec<&str> = source.lines().collect();
    assert_eq!(item(&lines, "fn one"), Ok((3, 9)));
    assert_eq!(item(&lines, "const TWO"), Ok((11, 11)));
    assert_eq!(item(&lines, "fn three"), Ok((14, 18)));
    assert!(item(&lines, "fn on").is_err());
    assert_eq!(
        anchor_name("    // ANCHOR_END: body", "ANCHOR_END:"),
        Some("body")
    );
    assert_eq!(anchor_name("    // ANCHOR_END: body", "ANCHOR:"), None);
    assert_eq!(
        dedent(&["", "    a", "      b", ""]),
        ["a".to_string(), "  b".to_string()]
    );

    let page = "\
text
  <!-- listing: x.rs:a -->
  ```rust,ignore
  old
  ```
  <!-- end listing -->
```text
<!-- listing: not-a-listing.rs -->
```
";
    let lines: Vec<&str> = page.lines().collect();
    let found = listings(&lines).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].spec.as_str(), found[0].line), ("x.rs:a", 2));
    assert_eq!(found[0].body, 2..5);
    let block = render(&found[0], &lines, &["fn a() {}".to_string()]);
    assert_eq!(block, ["  ```rust,ignore", "  fn a() {}", "  ```"]);
    assert!(listings(&["<!-- listing: x.rs -->"]).is_err());
    assert_eq!(
        source_path("solutions/a/src/lib.rs:serve"),
        "solutions/a/src/lib.rs"
    );

    // The copy check has teeth: the walkthroughs, which show the solutions, fail it.
    let solutions = solution_runs();
    let walkthrough = read(&root().join(WALKTHROUGHS).join("iterative.md"));
    let lines: Vec<&str> = walkthrough.lines().collect();
    let longest = code_blocks(&lines)
        .iter()
        .map(|(_, block)| longest_shared_run(block, &solutions).0)
        .max();
    assert!(longest > Some(SHARED_RUN), "{longest:?}");
}
