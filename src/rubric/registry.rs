//! The architectures the workbook teaches, each with its chapter and its rubric.

use crate::rubric as checks;
use crate::rubric::check::Check;

/// One architecture: `exercises/NAME` (`exercise-NAME`), `solutions/NAME`
/// (`solution-NAME`), `book/src/NAME.md`, and the checks that grade it.
pub struct Arch {
    pub name: &'static str,
    pub title: &'static str,
    pub checks: Vec<&'static Check>,
}

impl Arch {
    pub fn exercise_package(&self) -> String {
        format!("exercise-{}", self.name)
    }

    pub fn solution_package(&self) -> String {
        format!("solution-{}", self.name)
    }

    pub fn chapter(&self) -> String {
        format!("book/src/{}.md", self.name)
    }

    pub fn max_score(&self) -> u32 {
        self.checks.iter().map(|c| c.points).sum()
    }
}

/// Every architecture, in the book's order.
pub fn all() -> Vec<Arch> {
    vec![
        Arch {
            name: "iterative",
            title: "Iterative: one connection at a time",
            checks: checks::iterative::rubric(),
        },
        Arch {
            name: "forking",
            title: "Forking: a process per connection",
            checks: checks::forking::rubric(),
        },
        Arch {
            name: "threaded",
            title: "Threaded: a thread per connection",
            checks: checks::threaded::rubric(),
        },
        Arch {
            name: "epoll",
            title: "Epoll: one thread, many connections",
            checks: checks::epoll::rubric(),
        },
    ]
}

/// The architecture called `name`.
pub fn find(name: &str) -> Option<Arch> {
    all().into_iter().find(|a| a.name == name)
}

/// The names of all architectures, for messages.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|a| a.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn check_ids_are_unique_and_documented() {
        for arch in all() {
            let mut seen = HashSet::new();
            for check in &arch.checks {
                assert!(
                    seen.insert(check.id),
                    "{}: duplicate {}",
                    arch.name,
                    check.id
                );
                assert!(check.points > 0, "{}", check.id);
                assert!(
                    !check.hint.is_empty() && !check.summary.is_empty(),
                    "{}",
                    check.id
                );
                let file = check.book.split('#').next().unwrap();
                let path = format!("{}/book/src/{file}", env!("CARGO_MANIFEST_DIR"));
                assert!(
                    std::path::Path::new(&path).exists(),
                    "{}: no {path}",
                    check.id
                );
            }
        }
    }
}
