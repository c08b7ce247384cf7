//! `lab book`: the book's measured tables and figures, written from the last runs' results,
//! so that the chapters show what this machine measured, not numbers typed by hand.
//!
//! Tables go between markers in the chapters, `<!-- lab:NAME -->` and `<!-- /lab:NAME -->`
//! (invisible in the rendered book); what is between them is replaced, the rest of the
//! chapter is the author's. Figures go to `book/src/figures/lab-NAME.svg`. A drill run with
//! `--work` fills the markers and figures named `work-NAME`. The results are read from
//! `target/lab/drill/results.json`, `target/lab/work/results.json` and
//! `target/lab/costs/costs.json`, whichever exist.

use std::fs;
use std::path::Path;

use crate::charts;
use crate::costs::{self, Cost};
use crate::drill::Drill;
use crate::goals;
use crate::report;

/// The chapters that hold markers.
const CHAPTERS: &[&str] = &["book/src/lab.md", "book/src/choosing.md"];

pub fn main(from: &Path) -> Result<bool, String> {
    let root = workbook::cargo::workspace_root();
    let mut wrote = false;
    for name in ["drill", "work"] {
        let path = from.join(name).join("results.json");
        if let Ok(text) = fs::read_to_string(&path) {
            let drill: Drill = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not a lab run's results: {e}", path.display()))?;
            write_drill(&drill, &root)?;
            wrote = true;
        }
    }
    let path = from.join("costs").join("costs.json");
    if let Ok(text) = fs::read_to_string(&path) {
        let costs: Vec<Cost> = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not `lab costs` results: {e}", path.display()))?;
        fill(&root, &[("costs".into(), costs::markdown(&costs))])?;
        wrote = true;
    }
    if !wrote {
        return Err(format!(
            "no results in {}: run the drill (`cargo run --release -p workbook-lab`) and `lab costs` first",
            from.display()
        ));
    }
    eprintln!("lab: the book's lab tables and figures are written");
    Ok(true)
}

/// Writes one drill's tables and figures into the book under `root`.
pub fn write_drill(d: &Drill, root: &Path) -> Result<(), String> {
    let prefix = if d.settings.work_micros > 0 {
        "work-"
    } else {
        ""
    };
    let tables = [
        ("env", report::environment(d)),
        ("floor", report::floor(d)),
        ("overview", report::overview(d)),
        ("breaks", report::breaks(d)),
        ("targets", goals::epoll(d)),
        ("connections", report::connections(d)),
        ("latency", report::latency(d)),
        ("resources", report::resources(d)),
    ];
    let tables: Vec<(String, String)> = tables
        .into_iter()
        .map(|(name, body)| (format!("{prefix}{name}"), body))
        .collect();
    fill(root, &tables)?;
    let figures = root.join("book/src/figures");
    fs::create_dir_all(&figures).map_err(|e| e.to_string())?;
    for (name, svg) in charts::all(d) {
        let path = figures.join(format!("lab-{prefix}{name}.svg"));
        fs::write(&path, svg).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Replaces what is between each named pair of markers, in every chapter that has it.
fn fill(root: &Path, tables: &[(String, String)]) -> Result<(), String> {
    for chapter in CHAPTERS {
        let path = root.join(chapter);
        let Ok(mut text) = fs::read_to_string(&path) else {
            continue;
        };
        let before = text.clone();
        for (name, body) in tables {
            text = replace_marked(&text, name, body)?;
        }
        if text != before {
            fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// `text` with what lies between `<!-- lab:NAME -->` and `<!-- /lab:NAME -->` replaced by
/// `body`, at every such pair; unchanged if there is none.
pub fn replace_marked(text: &str, name: &str, body: &str) -> Result<String, String> {
    let (open, close) = (
        format!("<!-- lab:{name} -->"),
        format!("<!-- /lab:{name} -->"),
    );
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&open) {
        let after = at + open.len();
        let Some(end) = rest[after..].find(&close) else {
            return Err(format!("{open} has no {close} after it"));
        };
        out.push_str(&rest[..after]);
        out.push('\n');
        out.push_str(body.trim_end());
        out.push('\n');
        out.push_str(&close);
        rest = &rest[after + end + close.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_between_markers_only() {
        let text = "intro\n<!-- lab:x -->\nold\n<!-- /lab:x -->\nmiddle\n<!-- lab:x -->\n<!-- /lab:x -->\nend\n";
        let out = replace_marked(text, "x", "| new |\n").unwrap();
        assert_eq!(
            out,
            "intro\n<!-- lab:x -->\n| new |\n<!-- /lab:x -->\nmiddle\n<!-- lab:x -->\n| new |\n<!-- /lab:x -->\nend\n"
        );
        assert_eq!(replace_marked(text, "y", "z").unwrap(), text);
        assert!(replace_marked("<!-- lab:x -->", "x", "z").is_err());
    }
}
