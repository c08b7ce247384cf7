//! `workbook`: grade a server against its architecture's rubric.
//!
//! ```text
//! workbook grade iterative                 # builds and grades exercises/iterative
//! workbook grade iterative --solution      # the reference solution
//! workbook grade iterative -- ./a.out      # any program that follows the contract
//! workbook list                            # every architecture, your scores, what is next
//! workbook rubric iterative                # the checks, points and hints, as data
//! workbook hint iterative                  # the next failing check's hint (again: where)
//! workbook watch iterative                 # grade again on every save
//! workbook reset iterative                 # the stub as shipped, your files kept aside
//! workbook grade iterative --submission D  # for marks: only the student's files, from D
//! workbook export DIR                      # the student edition, without the solutions
//! workbook gradescope iterative DIR        # a Gradescope autograder for iterative
//! ```

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use workbook::cargo;
use workbook::contain::server::Program;
use workbook::contain::shepherd;
use workbook::edition::{self, submission};
use workbook::learner::progress;
use workbook::report::{self, Format, Report};
use workbook::rubric::registry::{self as arch, Arch};
use workbook::rubric::run;

#[derive(Parser)]
#[command(version, about = "The grader of the Server Concurrency Workbook")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Grade an exercise, the reference solution, or any program that follows the contract.
    Grade(GradeArgs),
    /// Show every architecture with your best and last score, and the next exercise to do.
    List,
    /// The hint for the next failing check (or CHECK); ask again for where in the stub to look.
    Hint {
        #[arg(value_parser = parse_arch)]
        arch: String,
        check: Option<String>,
    },
    /// Put back the stub of an exercise as shipped (asks first; keeps your files aside).
    Reset {
        #[arg(value_parser = parse_arch)]
        arch: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Grade an exercise again every time one of its files changes.
    Watch {
        #[arg(value_parser = parse_arch)]
        arch: String,
    },
    /// Show the checks of an architecture: id, category, points, summary, hint, book section.
    Rubric {
        #[arg(value_parser = parse_arch)]
        arch: String,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Write the student edition into DIR: no solutions, a student README, classroom files.
    Export { dir: PathBuf },
    /// Write a Gradescope autograder for ARCH into DIR: zip DIR's contents and upload them.
    Gradescope {
        #[arg(value_parser = parse_arch)]
        arch: String,
        dir: PathBuf,
    },
}

#[derive(Args)]
struct GradeArgs {
    /// The architecture whose rubric to use (see `workbook list`).
    #[arg(value_parser = parse_arch)]
    arch: String,
    /// Grade the reference solution instead of your exercise.
    #[arg(long, conflicts_with = "program")]
    solution: bool,
    /// Grade a submission for marks: only the files a student writes for ARCH, from DIR,
    /// built as an unprivileged user in a clean student edition; the rest is ignored.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["solution", "program"])]
    submission: Option<PathBuf>,
    /// Only these checks (repeatable); every report names the command that re-runs one.
    #[arg(long = "check", value_name = "ID")]
    checks: Vec<String>,
    /// Replay a run: the seed of its random data (every report prints it).
    #[arg(long)]
    seed: Option<u64>,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Colour in the human rubric.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
    /// A program to grade instead, with its arguments; the grader appends the address.
    #[arg(last = true, value_name = "PROGRAM [ARGS]...")]
    program: Vec<OsString>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

fn parse_arch(name: &str) -> Result<String, String> {
    match arch::find(name) {
        Some(_) => Ok(name.to_string()),
        None => Err(format!(
            "unknown architecture; choose one of: {}",
            arch::names().join(", ")
        )),
    }
}

fn main() -> ExitCode {
    shepherd::run_if_requested();
    match Cli::parse().command {
        Cmd::Grade(args) => grade(&args),
        Cmd::List => {
            out(&progress::listing(&cargo::workspace_root()));
            ExitCode::SUCCESS
        }
        Cmd::Hint { arch, check } => cli::learner::hint(&find(&arch), check.as_deref()),
        Cmd::Reset { arch, yes } => cli::learner::reset(&find(&arch), yes),
        Cmd::Watch { arch } => cli::learner::watch(&find(&arch)),
        Cmd::Rubric { arch, format } => cli::rubric::rubric(&find(&arch), format),
        Cmd::Export { dir } => write_edition(&dir, None),
        Cmd::Gradescope { arch, dir } => write_edition(&dir, Some(find(&arch))),
    }
}

/// Writes to stdout, ending quietly if the reader has gone (`workbook rubric epoll | head`).
fn out(text: &str) {
    use std::io::Write;
    if std::io::stdout().lock().write_all(text.as_bytes()).is_err() {
        std::process::exit(0);
    }
}

macro_rules! outln {
    ($($arg:tt)*) => {
        out(&format!("{}\n", format_args!($($arg)*)))
    };
}

mod cli;

fn find(name: &str) -> Arch {
    arch::find(name).expect("validated by parse_arch")
}

fn grade(args: &GradeArgs) -> ExitCode {
    let whole = find(&args.arch);
    let arch = match whole.only(&args.checks) {
        Ok(arch) => arch,
        Err(e) => {
            eprintln!("workbook: {e}");
            return ExitCode::from(2);
        }
    };
    let root = cargo::workspace_root();
    let seed = args.seed.unwrap_or_else(run::fresh_seed);
    let replay = replay_command(args, seed);
    // Kept until the grading ends: the scratch directory of a submission's build.
    let mut _built = None;
    let program = if let Some(dir) = &args.submission {
        if !dir.is_dir() {
            eprintln!("workbook: no such directory: {}", dir.display());
            return ExitCode::from(2);
        }
        match submission::prepare(&root, &arch, dir) {
            Ok(built) => {
                built.notes.iter().for_each(|n| eprintln!("workbook: {n}"));
                let program = Program::new(&built.exe);
                _built = Some(built);
                program
            }
            Err(submission::Trouble::Grader(e)) => {
                eprintln!("workbook: {e}");
                return ExitCode::from(2);
            }
            Err(submission::Trouble::NotBuilt(why)) => {
                let shown = format!("the submission in {}", dir.display());
                let report = Report::not_built(&arch, shown, &why, seed, &replay);
                out(&report::render(
                    &report,
                    args.format,
                    args.color == Color::Always,
                ));
                return ExitCode::FAILURE;
            }
        }
    } else if let Some(program) = Program::from_command(&args.program) {
        program
    } else {
        if args.solution && !edition::has_solutions(&root) {
            eprintln!("workbook: {}", edition::no_solutions(&root));
            return ExitCode::from(2);
        }
        let package = if args.solution {
            arch.solution_package()
        } else {
            arch.exercise_package()
        };
        match cargo::build(&root, &package) {
            Ok(exe) => Program::new(exe),
            Err(e) => {
                eprintln!("workbook: {e}");
                return ExitCode::from(2);
            }
        }
    };
    if !program.path.exists() && program.path.components().count() > 1 {
        eprintln!("workbook: no such program: {}", program.path.display());
        return ExitCode::from(2);
    }
    let report = if args.format == Format::Human {
        // Row by row as the checks finish: a grading can take a minute.
        let color = match args.color {
            Color::Auto => std::io::stdout().is_terminal(),
            Color::Always => true,
            Color::Never => false,
        };
        let mut printer = report::human::Printer::new(&arch.checks, color, &replay)
            .walkthroughs(root.join(arch.walkthrough()).is_file());
        out(&printer.header(arch.name, &program.display()));
        let report = run::grade_each(&arch, &program, seed, &replay, |o| out(&printer.row(o)));
        out(&printer.footer(&report));
        report
    } else {
        let report = run::grade(&arch, &program, seed, &replay);
        out(&report::render(&report, args.format, false));
        report
    };
    // Progress counts whole gradings of the learner's own exercise only.
    let own = !args.solution && args.program.is_empty() && args.submission.is_none();
    if own && args.checks.is_empty() {
        progress::record(&root, &report);
    }
    if report.full_marks() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The command that re-runs one check of this grading on the same data.
fn replay_command(args: &GradeArgs, seed: u64) -> String {
    let mut command = format!("cargo run -q -- grade {} --seed {seed}", args.arch);
    if args.solution {
        command.push_str(" --solution");
    }
    if let Some(dir) = &args.submission {
        command.push_str(&format!(" --submission {}", dir.display()));
    }
    command.push_str(" --check {check}");
    if !args.program.is_empty() {
        command.push_str(" --");
        for arg in &args.program {
            command.push(' ');
            command.push_str(&arg.to_string_lossy());
        }
    }
    command
}

/// `workbook export DIR`, or with an architecture `workbook gradescope ARCH DIR`.
fn write_edition(dir: &Path, gradescope: Option<Arch>) -> ExitCode {
    match edition::write(&cargo::workspace_root(), dir, gradescope.as_ref()) {
        Ok(said) => {
            out(&said);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("workbook: {e}");
            ExitCode::from(2)
        }
    }
}
