//! The book of the student edition: the same chapters, without the walkthroughs of the
//! reference solutions (`book/src/walkthroughs/`), which the chapters point to for after
//! passing and an instructor hands out when they choose.

/// Where the walkthroughs are, from `book/src/`.
pub const WALKTHROUGHS: &str = "walkthroughs/";

/// `SUMMARY.md` without the walkthroughs' entries, and without a part title (`# Title`)
/// that is left with no entry.
pub fn summary(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains(&format!("]({WALKTHROUGHS}")))
        .collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let empty_part = line.starts_with("# ")
            && i > 0
            && lines[i + 1..]
                .iter()
                .take_while(|l| !l.starts_with("# "))
                .all(|l| l.trim().is_empty());
        if !empty_part {
            out.push(*line);
        }
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    out.join("\n") + "\n"
}

/// A chapter with every link into the walkthroughs made plain text: `[the
/// walkthrough](walkthroughs/epoll.md)` reads `the walkthrough`.
pub fn unlink_walkthroughs(text: &str) -> String {
    let target = format!("]({WALKTHROUGHS}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&target) {
        let (before, after) = rest.split_at(at);
        let Some(open) = before.rfind('[') else {
            out.push_str(&rest[..at + target.len()]);
            rest = &rest[at + target.len()..];
            continue;
        };
        let Some(close) = after.find(')') else {
            break;
        };
        out.push_str(&before[..open]);
        out.push_str(&before[open + 1..]);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The note the introduction of the student edition opens with, after its title.
pub const STUDENT_NOTE: &str = "> **The student edition.** This copy of the workbook has no \
reference solutions and no walkthroughs of them: your instructor hands those out. Where a \
chapter runs a reference solution (`cargo run -p solution-iterative`) or a known-buggy server \
(`cargo run -p buggy-servers -- NAME`), or the measurement lab (`cargo run -p workbook-lab`), those are in the full workbook only: run your own \
exercise instead (`cargo run -p exercise-iterative`).";

/// `introduction` with [`STUDENT_NOTE`] after its first heading.
pub fn introduction(text: &str) -> String {
    match text.find('\n') {
        Some(end) if text.starts_with('#') => {
            format!("{}\n\n{STUDENT_NOTE}{}", &text[..end], &text[end..])
        }
        _ => format!("{STUDENT_NOTE}\n\n{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walkthroughs_leave_the_summary_and_the_links() {
        let text = "# Summary\n\n[Introduction](introduction.md)\n\n# Architectures\n\n\
                    - [Epoll](epoll.md)\n\n# Walkthroughs\n\n- [Epoll](walkthroughs/epoll.md)\n";
        assert_eq!(
            summary(text),
            "# Summary\n\n[Introduction](introduction.md)\n\n# Architectures\n\n- [Epoll](epoll.md)\n"
        );
        assert_eq!(
            unlink_walkthroughs("Read [the walkthrough](walkthroughs/epoll.md), or [this](a.md)."),
            "Read the walkthrough, or [this](a.md)."
        );
        assert_eq!(
            introduction("# Intro\n\nText.\n"),
            format!("# Intro\n\n{STUDENT_NOTE}\n\nText.\n")
        );
    }
}
