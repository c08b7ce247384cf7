//! The student edition's own files: its README and the GitHub Classroom workflow, both
//! written from the registry, so that every architecture it has is in them.

use crate::rubric::registry::Arch;

use super::autograder;

/// Where GitHub Classroom reads its workflow.
pub const WORKFLOW: &str = ".github/workflows/classroom.yml";

/// The files of `arch` a student submits, as a Markdown list of code spans.
fn edits(arch: &Arch) -> String {
    arch.edits
        .iter()
        .map(|e| format!("`{e}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The student edition's README.
pub fn readme(archs: &[Arch]) -> String {
    let table: String = archs
        .iter()
        .map(|a| {
            format!(
                "| {} | `{}` | `exercises/{}` (`{}`) | {} |\n",
                a.title,
                a.chapter(),
                a.name,
                a.exercise_package(),
                edits(a)
            )
        })
        .collect();
    let building_on: String = archs
        .iter()
        .flat_map(|a| {
            a.edits[1..].iter().map(move |earlier| {
                let crate_dir = earlier.trim_end_matches("/src/*.rs");
                format!(
                    "- `{}` builds on your `{crate_dir}`: its `Cargo.toml` depends on that \
                     crate, and its server reuses what you wrote there.\n",
                    a.name
                )
            })
        })
        .collect();
    let building_on = if building_on.is_empty() {
        String::new()
    } else {
        format!(
            "\nSome exercises build on your earlier ones (never on a reference solution, which \
             this edition does not have):\n\n{building_on}\nFinish the earlier one first: the \
             later one's correctness checks go through it, and grading the later one takes \
             its files too, as the table says.\n"
        )
    };
    let first = archs.first().map(|a| a.name).unwrap_or("iterative");
    format!(
        r#"# The Server Concurrency Workbook (student edition)

How does a server handle many clients at once? You build the same line-echo server in
several architectures, and a grader runs each one for real: it starts your server as a
process on loopback, talks to it as clients would, looks at it through `/proc`, and scores
it against a rubric whose every check carries points, a hint and a section of the book.

This is the student edition: it has the exercises, the grader, the kit every server shares
and the book, but no reference solutions and no walkthroughs of them. Your instructor hands
those out.

## On a fresh machine

You need Linux, a Rust toolchain (rustup) and a C compiler (`cc`). Grade the first exercise;
it starts as `todo!()`, so expect a rubric of failures that says what to write first:

```sh
cargo test -p exercise-{first}
```

Read the book (`book/src/` is plain Markdown too):

```sh
cargo install mdbook
mdbook serve book       # then open http://localhost:3000
```

## The exercises

| architecture | chapter | your exercise | the files you write and submit |
|---|---|---|---|
{table}{building_on}
## Working through an exercise

1. Read the chapter, e.g. `book/src/{first}.md`.
2. Edit the exercise's `src/lib.rs`: every `// TODO` says what to build and where the book
   explains it.
3. Grade it: `cargo test -p exercise-{first}` (one test per check; `-- half-close` runs one),
   or `cargo run -q -- grade {first}` for the full human rubric.
4. Before you submit, grade it as your instructor will:

   ```sh
   cargo run -q -- grade {first} --submission .
   ```

   This takes only the files in the table above from your copy, puts them into a clean copy
   of this edition, builds them as an unprivileged user and grades the result. Anything else
   you changed is ignored (the command lists it), and a file that reaches outside its crate
   while it is built (`#[path]`, `include!`, `include_str!`, `include_bytes!`, inline
   assembly, a build script, a changed `Cargo.toml`) is refused with a verdict instead of a
   build.

Other commands: `cargo run -q -- list` (every architecture and your last score),
`cargo run -q -- rubric {first}` (the checks, points and hints). The book runs a reference
solution or a known-buggy server here and there (`cargo run -p solution-{first}`,
`cargo run -p buggy-servers -- NAME`): those are in the full workbook only; run your own
exercise instead.

## For instructors

Hand this repository to students as it is (a GitHub Classroom template, say). It brings:

- `{workflow}`: GitHub Classroom's autograding workflow, points per check, one step per
  architecture (delete the steps an assignment does not have). It runs in the student's
  own repository, whose files the student controls: treat it as feedback.
- `{gradescope}/ARCH/setup.sh` and `run_autograder`: a Gradescope autograder for each
  architecture, for marks. `cargo run -q -- gradescope ARCH DIR` lays out DIR with them and
  a copy of this edition; zip DIR's contents and upload the zip.

`book/src/grader.md` explains both, what the grader guarantees, and what is still yours to
do.
"#,
        workflow = WORKFLOW,
        gradescope = autograder::EDITION_DIR,
    )
}

/// The GitHub Classroom workflow: a step per architecture printing the grader's result for
/// the reporter (points per check), then the reporter.
pub fn workflow(archs: &[Arch]) -> String {
    // Step ids become environment variable names: letters, digits and underscores only.
    let id = |a: &Arch| a.name.replace('-', "_");
    let steps: String = archs
        .iter()
        .map(|a| {
            format!(
                "      - name: {name}\n        id: {id}\n        timeout-minutes: 15\n        run: |\n          \
                 result=$(cargo run -q -- grade {name} --submission . --format classroom | base64 -w0)\n          \
                 echo \"result=$result\" >> \"$GITHUB_OUTPUT\"\n",
                name = a.name,
                id = id(a)
            )
        })
        .collect();
    let env: String = archs
        .iter()
        .map(|a| {
            format!(
                "          {}_RESULTS: \"${{{{steps.{}.outputs.result}}}}\"\n",
                id(a).to_uppercase(),
                id(a)
            )
        })
        .collect();
    let runners: Vec<String> = archs.iter().map(id).collect();
    format!(
        r#"# GitHub Classroom's autograding, written by `workbook export`: every architecture
# graded as `workbook grade ARCH --submission .` grades it (only the files a student writes,
# in a clean copy, built as an unprivileged user), points per check. The grader exits 1
# below full marks; that status is lost in `$(...)` on purpose: the reporter decides from
# the result. Delete the steps (and their runners) an assignment does not have.
name: Autograding Tests
on: [push, repository_dispatch]
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    steps:
      - uses: actions/checkout@v4
      - name: Build the grader
        run: cargo build -q -p workbook
{steps}      - name: Autograding Reporter
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
{env}        with:
          runners: {runners}
"#,
        runners = runners.join(",")
    )
}
