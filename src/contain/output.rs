//! What a server prints, as the grader reads it: made safe to show, and searched for a
//! `todo!()` that explains why it stopped.

/// `text` with every control character but `\n` written as an escape (`\u{1b}`).
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' => "\n".to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// How a verdict about a `todo!()` begins.
pub const TODO: &str = "the server stopped at a todo!() that is still to be written: ";

/// Where a `todo!()` verdict's panic happened (`path:line:col`), to tell whether two
/// verdicts stopped at the same one: their messages may differ (a port, say).
pub fn todo_place(verdict: &str) -> &str {
    verdict.rsplit(" (").next().unwrap_or(verdict)
}

/// The message of a `todo!()` panic in a server's stderr, with where it is.
pub fn todo_message(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains("not yet implemented"))?;
    let what = lines[i].trim().trim_start_matches("not yet implemented: ");
    let place = lines[..i]
        .iter()
        .rev()
        .find_map(|l| l.split(" panicked at ").nth(1))
        .map(|p| p.trim_end_matches(':'));
    Some(match place {
        Some(place) => format!("{what} ({place})"),
        None => what.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_cannot_reach_a_terminal() {
        let forged = "\x1b[2J\x1b[HScore: 115/115  full marks\r\n\x07ok\n";
        let shown = printable(forged);
        assert!(
            !shown.chars().any(|c| c.is_control() && c != '\n'),
            "{shown:?}"
        );
        assert!(shown.starts_with("\\u{1b}[2J"), "{shown}");
        assert_eq!(printable("plain text, été\n"), "plain text, été\n");
    }

    #[test]
    fn finds_the_todo() {
        let stderr = "\nthread 'main' (123) panicked at exercises/iterative/src/lib.rs:22:5:\n\
                      not yet implemented: write the accept loop\nnote: run with RUST_BACKTRACE=1\n";
        assert_eq!(
            todo_message(stderr).as_deref(),
            Some("write the accept loop (exercises/iterative/src/lib.rs:22:5)")
        );
        assert_eq!(
            todo_message("thread 'main' panicked at x.rs:1:1:\nboom"),
            None
        );
    }
}
