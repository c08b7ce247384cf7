//! The grader's output that the chapters quote is what the grader prints today.
//!
//! Every `console` block of the book that runs the grader (`$ cargo run -q -- ARGS`) and
//! quotes what it printed is one test, named after its page and line: the command runs
//! again, and each quoted line must come back, in order. A `...` line stands for lines left
//! out. Durations, pids and counts differ from run to run, so both sides are masked
//! (`mask`); the words, the layout and the verdicts must not differ. Where a bug is caught
//! by one stage of a check or by another as timing falls (two children that happen to end
//! together), the chapter says so and quotes the usual verdict: the command runs again
//! until it prints the quote, within [`PATIENCE`]. The quoted `target/debug/buggy-servers`
//! is built first and stands for itself.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};

mod support;
use support::markdown;

/// The quoted command, as the book's reader types it.
const GRADER: &str = "$ cargo run -q -- ";
const BUGGY: &str = "target/debug/buggy-servers";

/// How long a quote may take to come back. A quote of output that never varies comes back
/// at the first run; one that varies with timing, at a run in two or three.
const PATIENCE: Duration = Duration::from_secs(90);

/// One quoted run of the grader.
struct Quote {
    page: PathBuf,
    /// The line of the command, from 1.
    line: usize,
    args: Vec<String>,
    /// What the book shows it printed, `...` included.
    printed: Vec<String>,
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let quotes = quotes(&root.join("book/src"));
    assert!(!quotes.is_empty(), "the book quotes the grader somewhere");
    let trials = quotes
        .into_iter()
        .map(|q| {
            let name = format!(
                "{}:{}",
                q.page.file_name().unwrap().to_string_lossy(),
                q.line
            );
            Trial::test(name, move || check(&q))
        })
        .collect();
    libtest_mimic::run(&Arguments::from_args(), trials).exit();
}

fn check(quote: &Quote) -> Result<(), Failed> {
    let mut args = quote.args.clone();
    if args.iter().any(|a| a == BUGGY) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let buggy = workbook::cargo::build(root, "buggy-servers")?;
        for arg in args.iter_mut().filter(|a| *a == BUGGY) {
            *arg = buggy.to_string_lossy().into_owned();
        }
    }
    let deadline = Instant::now() + PATIENCE;
    loop {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_workbook"))
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(missing) = first_missing(&quote.printed, &stdout) else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "{}:{}: `workbook {}` no longer prints this line (in this order), in any run \
                 for {} s:\n  {missing}\nit printed:\n{stdout}{}",
                quote.page.display(),
                quote.line,
                args.join(" "),
                PATIENCE.as_secs(),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
    }
}

/// The first line of `quoted` (`...` aside) that does not come back in `printed`, in order.
fn first_missing<'q>(quoted: &'q [String], printed: &str) -> Option<&'q str> {
    let printed: Vec<String> = printed.lines().map(mask).collect();
    let mut from = 0;
    for want in quoted.iter().filter(|l| l.trim() != "...") {
        let masked = mask(want);
        match printed[from..].iter().position(|l| *l == masked) {
            Some(i) => from += i + 1,
            None => return Some(want),
        }
    }
    None
}

/// `line` with what varies from run to run masked: each run of digits is one `#`, a list
/// of pids is `(pid …)`, and "# processes" is "# process".
fn mask(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('#') {
            out.push('#');
        }
    }
    while let Some(start) = out.find("(pid #") {
        let Some(len) = out[start..].find(')') else {
            break;
        };
        out.replace_range(start..start + len + 1, "(pid …)");
    }
    out.replace("# processes", "# process")
}

/// Every quoted run of the grader in the pages under `dir`.
fn quotes(dir: &Path) -> Vec<Quote> {
    let mut quotes = Vec::new();
    for page in markdown(dir) {
        let text = std::fs::read_to_string(&page).unwrap();
        // Inside a `console` block: how far its fence is indented (a block in a list item).
        let mut block: Option<usize> = None;
        let mut current: Option<Quote> = None;
        for (n, line) in text.lines().enumerate() {
            let indent = line.len() - line.trim_start().len();
            if let Some(fence) = line.trim_start().strip_prefix("```") {
                block = (block.is_none() && fence == "console").then_some(indent);
                quotes.extend(current.take().filter(|q| !q.printed.is_empty()));
                continue;
            }
            let Some(fence_indent) = block else {
                continue;
            };
            let line = &line[indent.min(fence_indent)..];
            if line.starts_with("$ ") {
                quotes.extend(current.take().filter(|q| !q.printed.is_empty()));
                current = line.strip_prefix(GRADER).map(|command| Quote {
                    page: page.clone(),
                    line: n + 1,
                    // Up to a shell comment.
                    args: command
                        .split_whitespace()
                        .take_while(|a| !a.starts_with('#'))
                        .map(String::from)
                        .collect(),
                    printed: Vec::new(),
                });
            } else if let Some(q) = current.as_mut() {
                q.printed.push(line.to_string());
            }
        }
    }
    quotes
}
