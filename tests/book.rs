//! The book's rubric tables are written by hand, for reading; these tests keep them true to
//! the checks the grader really runs (ids, categories, points, order).

use std::path::Path;

mod support;
use support::markdown;

use workbook::rubric::common;
use workbook::rubric::registry as arch;

/// The rows of `chapter`'s tables whose first cell is a check id in backticks: the cells,
/// trimmed, with the backticks gone from the first.
fn rubric_rows(chapter: &str) -> Vec<Vec<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(chapter);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{chapter}: {e}"));
    text.lines()
        .filter_map(|line| {
            let cells: Vec<String> = line
                .strip_prefix('|')?
                .split(" | ")
                .map(|c| c.trim().trim_end_matches('|').trim().to_string())
                .collect();
            let id = cells.first()?.strip_prefix('`')?.strip_suffix('`')?;
            // A check id: lowercase words joined by dashes, with a number of points after it.
            let looks_like_check = id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                && cells
                    .iter()
                    .skip(1)
                    .take(2)
                    .any(|c| c.parse::<u32>().is_ok());
            looks_like_check.then(|| {
                let mut row = cells.clone();
                row[0] = id.to_string();
                row
            })
        })
        .collect()
}

#[test]
fn each_chapter_tables_its_architectures_rubric() {
    for arch in arch::all() {
        let rows = rubric_rows(&arch.chapter());
        let book: Vec<(String, String, String)> = rows
            .iter()
            .filter(|r| r.len() >= 4)
            .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
            .collect();
        let graded: Vec<(String, String, String)> = arch
            .checks
            .iter()
            .map(|c| {
                (
                    c.id.to_string(),
                    c.category.name().to_string(),
                    c.points.to_string(),
                )
            })
            .collect();
        assert_eq!(
            book,
            graded,
            "{}'s rubric table (id | category | points | ...) differs from `workbook rubric {}`",
            arch.chapter(),
            arch.name
        );
    }
}

#[test]
fn the_contract_tables_the_shared_checks() {
    let book: Vec<(String, String)> = rubric_rows("book/src/contract.md")
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let graded: Vec<(String, String)> = common::rubric()
        .iter()
        .map(|c| (c.id.to_string(), c.points.to_string()))
        .collect();
    assert_eq!(
        book, graded,
        "contract.md's table (id | points | ...) differs from the shared checks"
    );
}

/// Every figure a chapter shows is there, every SVG in `book/src/figures` is shown, and
/// each carries a title and a description for screen readers and plain-text readers.
#[test]
fn figures_are_shown_and_described() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src");
    let mut shown = std::collections::BTreeSet::new();
    for page in markdown(&src) {
        let text = std::fs::read_to_string(&page).unwrap();
        for (at, _) in text.match_indices("](figures/") {
            let rest = &text[at + 2..];
            let name = &rest[..rest.find(')').unwrap()];
            let dir = page.parent().unwrap();
            assert!(dir.join(name).is_file(), "{}: no {name}", page.display());
            shown.insert(dir.join(name).canonicalize().unwrap());
        }
    }
    for figure in std::fs::read_dir(src.join("figures")).unwrap().flatten() {
        let path = figure.path().canonicalize().unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(
            shown.contains(&path),
            "{} is shown by no chapter",
            path.display()
        );
        assert!(
            svg.contains("<title") && svg.contains("<desc"),
            "{}",
            path.display()
        );
        assert!(
            !svg.contains("@import") && !svg.contains("<image"),
            "{}",
            path.display()
        );
    }
}

/// ASCII drawings and quoted output (`text` blocks) fit a printed page: 76 columns.
#[test]
fn text_blocks_fit_76_columns() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src");
    for page in markdown(&src) {
        let text = std::fs::read_to_string(&page).unwrap();
        let mut in_text = false;
        for (n, line) in text.lines().enumerate() {
            if let Some(fence) = line.strip_prefix("```") {
                in_text = !in_text && fence == "text";
                continue;
            }
            let width = line.chars().count();
            assert!(
                !in_text || width <= 76,
                "{}:{}: {width} columns in a text block",
                page.display(),
                n + 1
            );
        }
    }
}
