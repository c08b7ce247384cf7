//! Whether a submitted source file reaches outside its crate at build time.
//!
//! A submission is built from its own files only, but Rust can read other files while it
//! compiles: `include!`, `include_str!` and `include_bytes!` read any path, `#[path]` points
//! a module at any file, and inline assembly can paste a file's bytes in (`.incbin`). Any
//! of them could pull a reference solution, or another student's work, into a build. So a
//! submission that uses them is refused, with the place and the reason, before anything is
//! built.
//!
//! The scan works on tokens, not text: comments and literals are skipped, so a comment that
//! says "include_str" is fine, and an identifier cannot be built from strings on stable Rust
//! (no procedural macro can be added: `Cargo.toml` is the workbook's). A macro could still
//! be handed the name (`m!(include_str)`) or write an attribute from a metavariable
//! (`#[$name = "..."]`): the name is refused wherever it appears, and so is a `$` inside an
//! attribute.

/// What a file must not use, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    (
        "include",
        "`include!` compiles a file from outside the crate",
    ),
    ("include_str", "`include_str!` reads a file at build time"),
    (
        "include_bytes",
        "`include_bytes!` reads a file at build time",
    ),
    (
        "asm",
        "inline assembly can paste a file in at build time (`.incbin`)",
    ),
    (
        "global_asm",
        "inline assembly can paste a file in at build time (`.incbin`)",
    ),
    (
        "naked_asm",
        "inline assembly can paste a file in at build time (`.incbin`)",
    ),
];

/// The first construct in `source` that reaches outside its crate: its line (from 1) and
/// what it is.
pub fn reaches_outside(source: &str) -> Option<(usize, String)> {
    let mut attribute: Option<usize> = None; // bracket depth inside `#[...]`
    for token in tokens(source) {
        match token.text {
            "[" if token.after_hash => attribute = Some(1),
            "[" => attribute = attribute.map(|d| d + 1),
            "]" => attribute = attribute.and_then(|d| d.checked_sub(1).filter(|&d| d > 0)),
            "$" if attribute.is_some() => {
                return Some((
                    token.line,
                    "an attribute written by a macro (`#[$...]`) may say `#[path]`".into(),
                ));
            }
            "path" if attribute.is_some() => {
                return Some((
                    token.line,
                    "`#[path]` points a module at a file outside the crate".into(),
                ));
            }
            word => {
                if let Some((_, why)) = FORBIDDEN.iter().find(|(name, _)| *name == word) {
                    return Some((token.line, why.to_string()));
                }
            }
        }
    }
    None
}

/// A token as the scan needs it: an identifier (without `r#`) or one punctuation character,
/// its line, and whether it follows `#` or `#!` (an attribute's opening bracket).
struct Token<'a> {
    text: &'a str,
    line: usize,
    after_hash: bool,
}

/// The identifiers and punctuation of `source`, without comments and literals.
fn tokens(source: &str) -> Vec<Token<'_>> {
    let bytes = source.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let (mut i, mut line) = (0, 1);
    let mut hash = false; // the last tokens were `#` or `#!`
    while i < bytes.len() {
        let c = bytes[i];
        let start_line = line;
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if source[i..].starts_with("//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if source[i..].starts_with("/*") {
            let mut depth = 0;
            while i < bytes.len() {
                if source[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if source[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(bytes[i] == b'\n');
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(source, i) {
            line += source[i..end].matches('\n').count();
            i = end;
            hash = false;
        } else if c == b'"' || (c == b'b' && bytes.get(i + 1) == Some(&b'"')) {
            i += if c == b'b' { 2 } else { 1 };
            while i < bytes.len() && bytes[i] != b'"' {
                line += usize::from(bytes[i] == b'\n');
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            hash = false;
        } else if c == b'\'' {
            i = char_literal_end(bytes, i).unwrap_or(i + 1); // else a lifetime's quote
            hash = false;
        } else if c.is_ascii_alphabetic() || c == b'_' || !c.is_ascii() {
            let mut end = i;
            while end < bytes.len()
                && (bytes[end].is_ascii_alphanumeric()
                    || bytes[end] == b'_'
                    || !bytes[end].is_ascii())
            {
                end += 1;
            }
            let mut text = &source[i..end];
            if text == "r" && bytes.get(end) == Some(&b'#') {
                // A raw identifier: `r#include_str` is `include_str`.
                let rest = end + 1;
                let mut stop = rest;
                while stop < bytes.len()
                    && (bytes[stop].is_ascii_alphanumeric() || bytes[stop] == b'_')
                {
                    stop += 1;
                }
                text = &source[rest..stop];
                end = stop;
            }
            out.push(Token {
                text,
                line: start_line,
                after_hash: false,
            });
            i = end;
            hash = false;
        } else {
            let text = &source[i..i + 1];
            let after_hash = hash && c == b'[';
            hash = c == b'#' || (hash && c == b'!');
            out.push(Token {
                text,
                line: start_line,
                after_hash,
            });
            i += 1;
        }
    }
    out
}

/// Where a raw string literal (`r"..."`, `r#"..."#`, `br"..."`) starting at `i` ends, if one
/// starts there.
fn raw_string_end(source: &str, i: usize) -> Option<usize> {
    let rest = &source[i..];
    let rest = rest.strip_prefix('b').unwrap_or(rest).strip_prefix('r')?;
    let hashes = rest.len() - rest.trim_start_matches('#').len();
    let body = rest[hashes..].strip_prefix('"')?;
    let close = format!("\"{}", "#".repeat(hashes));
    let end = body.find(&close)?;
    Some(source.len() - body.len() + end + close.len())
}

/// Where a character literal (`'x'`, `'\n'`, `'\u{1F600}'`, `b'x'` from its quote) starting
/// at `i` ends; `None` for a lifetime (`'a`).
fn char_literal_end(bytes: &[u8], i: usize) -> Option<usize> {
    if bytes.get(i + 1) == Some(&b'\\') {
        let close = bytes[i + 2..].iter().position(|&b| b == b'\'')?;
        return Some(i + 2 + close + 1);
    }
    // One character, which may take several bytes in UTF-8.
    let width = match bytes.get(i + 1)? {
        b if *b < 0x80 => 1,
        b if *b >= 0xf0 => 4,
        b if *b >= 0xe0 => 3,
        _ => 2,
    };
    (bytes.get(i + 1 + width) == Some(&b'\'')).then_some(i + 2 + width)
}

#[cfg(test)]
mod tests {
    use super::reaches_outside;

    fn refused(source: &str) -> usize {
        reaches_outside(source).map(|(line, _)| line).unwrap_or(0)
    }

    #[test]
    fn what_reads_other_files_is_refused_where_it_is() {
        assert_eq!(
            refused("#[path = \"../../../solutions/iterative/src/lib.rs\"]\nmod solved;"),
            1
        );
        assert_eq!(
            refused("fn a() {}\nconst S: &str = include_str!(\"/etc/passwd\");"),
            2
        );
        assert_eq!(refused("include!(\"x.rs\");"), 1);
        assert_eq!(refused("static B: &[u8] = include_bytes!(\"x\");"), 1);
        assert_eq!(refused("#![cfg_attr(all(), path = \"x\")]"), 1);
        assert_eq!(refused("#[doc = include_str!(\"x\")]\nfn a() {}"), 1);
        assert_eq!(refused("m!(r#include_str);"), 1);
        assert_eq!(
            refused("macro_rules! m { ($a:ident) => { #[$a = \"x\"] mod s; } }"),
            1
        );
        assert_eq!(
            refused("fn a() {\n    /* */\n    std::arch::global_asm!(\"\");\n}"),
            3
        );
    }

    #[test]
    fn comments_literals_and_ordinary_paths_are_fine() {
        assert_eq!(refused("// include_str!(\"x\") and #[path]\nfn a() {}"), 0);
        assert_eq!(refused("/* include! /* nested */ path */ fn a() {}"), 0);
        assert_eq!(refused("const S: &str = \"include_str!(\\\"x\\\")\";"), 0);
        assert_eq!(refused("const S: &str = r#\"#[path = \"x\"]\"#;"), 0);
        assert_eq!(
            refused("use std::path::Path;\nfn a(path: &Path) -> char { let _ = path; '[' }"),
            0
        );
        assert_eq!(
            refused("#[derive(Debug)]\nstruct A<'a>(&'a str);\nconst C: char = '#';"),
            0
        );
        assert_eq!(refused("fn a() { let v = [1]; let _ = v[0]; } // [path"), 0);
    }
}
