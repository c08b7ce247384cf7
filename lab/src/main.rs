//! `lab`: the seeds' drill, measured on this machine.
//!
//! ```text
//! cargo run --release -p workbook-lab                       # every architecture, tokio, 100/1,000/10,000
//! cargo run --release -p workbook-lab -- epoll tokio --conns 1000
//! cargo run --release -p workbook-lab -- epoll tokio --conns 1000,10000 --rounds 5   # medians
//! cargo run --release -p workbook-lab -- multi-reactor async tokio-multi --workers 2 --rounds 5
//! cargo run --release -p workbook-lab -- --work 100         # CPU-bound requests
//! cargo run --release -p workbook-lab -- -- target/release/exercise-epoll
//! cargo run --release -p workbook-lab -- costs              # a switch, a fork, a thread
//! cargo run --release -p workbook-lab -- book               # the lab chapter from the last runs
//! ```
//!
//! Each server (every architecture in the grader's registry, built with optimisations, and
//! the tokio yardsticks) runs as a real process, contained as the grader contains it, pinned
//! to CPU 0 while the client runs on CPU 1, once for each number of connections. The
//! modules, in the order a run uses them: `targets` (what to measure), `env` (the machine,
//! the descriptor limit, pinning), `floor` (one connection's ping-pong), `cell` (one server at
//! one size: `connect`, `load`, `classify`), `drill` (all of them), then `report`, `charts`
//! and `book` (Markdown, JSON, SVG), and `goals` (the solutions' targets against tokio).
//! `costs` measures what the choosing chapter quotes.
//!
//! Numbers from one machine mean little on another, and on two cores the client competes
//! with the server: read the ratios against the tokio yardsticks of the same run.

mod book;
mod cell;
mod charts;
mod classify;
mod connect;
mod costs;
mod drill;
mod env;
mod floor;
mod goals;
mod load;
mod report;
mod sample;
mod serve;
mod stats;
mod targets;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use workbook::contain::shepherd;

#[derive(Parser)]
#[command(
    about = "The seeds' drill: every architecture at 100, 1,000 and 10,000 connections, against tokio",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    drill: DrillArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Measures what the choosing chapter quotes: a context switch, a fork, a thread.
    Costs {
        /// Where to write costs.json and costs.md.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Writes the lab chapter's tables and figures (book/src/lab.md, book/src/figures/lab-*)
    /// and the choosing chapter's tables from the last runs' results.
    Book {
        /// Where the runs wrote their results (target/lab by default).
        #[arg(long)]
        from: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct DrillArgs {
    /// Servers to measure: the architectures (iterative, forking, ...) and the yardsticks
    /// (tokio, tokio-multi). All of them by default.
    servers: Vec<String>,
    /// Numbers of connections, one cell each.
    #[arg(long, value_delimiter = ',', default_values_t = [100, 1_000, 10_000])]
    conns: Vec<usize>,
    /// Seconds of each load's measured window.
    #[arg(long, default_value_t = 2.0)]
    secs: f64,
    /// Seconds of warm-up before each window.
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// The open loop's request rates (per second, all connections together).
    #[arg(long, value_delimiter = ',', default_values_t = [10_000.0, 40_000.0])]
    rates: Vec<f64>,
    /// Connects per second while the connections are opened.
    #[arg(long, default_value_t = 5_000.0)]
    connect_rate: f64,
    /// An open loop's p99 above this many milliseconds makes a cell "degraded".
    #[arg(long, default_value_t = 10.0)]
    p99_bound_ms: f64,
    /// CPU time each line costs the server, in µs (the contract's `--work`).
    #[arg(long, default_value_t = 0)]
    work: u64,
    /// The pools' size (the contract's `--workers`; servers without a pool ignore it).
    #[arg(long)]
    workers: Option<usize>,
    /// Let the scheduler place server and client (by default: server on CPU 0, client on 1).
    #[arg(long)]
    no_pin: bool,
    /// Where to write results.json, results.md and the charts (target/lab/drill, or
    /// target/lab/work with --work).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the book's lab tables and figures from this run (as `lab book` does).
    #[arg(long)]
    book: bool,
    /// Run the whole drill this many times, the servers' order reversed every other time,
    /// and give the median of each target's ratio to its tokio yardstick (rounds.md: epoll,
    /// multi-reactor, async, and a program held to epoll's), for the servers measured; the
    /// other tables are the last run's.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Measure this program too (it must follow the contract), beside the yardsticks.
    #[arg(last = true)]
    program: Vec<OsString>,
}

fn main() -> ExitCode {
    shepherd::run_if_requested();
    if let Some(code) = serve::run_if_requested() {
        return code;
    }
    let cli = Cli::parse();
    let done = match cli.command {
        Some(Command::Costs { out }) => {
            costs::main(out.unwrap_or_else(|| results_dir().join("costs")))
        }
        Some(Command::Book { from }) => book::main(&from.unwrap_or_else(results_dir)),
        None => drill_main(cli.drill),
    };
    match done {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("lab: {e}");
            ExitCode::from(2)
        }
    }
}

/// Where runs keep their results: `target/lab` in the workspace.
fn results_dir() -> PathBuf {
    workbook::cargo::workspace_root().join("target").join("lab")
}

/// Runs the drill; `Ok(false)` if a measurement could not be made.
fn drill_main(a: DrillArgs) -> Result<bool, String> {
    if a.conns.is_empty() || a.conns.contains(&0) || a.rates.iter().any(|&r| r <= 0.0) {
        return Err("--conns and --rates take positive numbers".into());
    }
    let options = targets::ServerOptions {
        workers: a.workers,
        work_micros: a.work,
    };
    let mut targets = targets::resolve(&a.servers, &a.program, options)?;
    targets::build(&mut targets)?;
    let most = a.conns.iter().copied().max().unwrap_or(0) as u64;
    // The client's connections, the server's (the shepherd passes the limit down), and room.
    let nofile = env::raise_nofile(most + 256)?;
    let cpus = env::cpus();
    let placement = env::Placement::choose(!a.no_pin, cpus);
    env::pin_current_thread(placement.client, cpus)?;
    let settings = cell::Settings {
        conns: a.conns,
        warmup_secs: a.warmup,
        window_secs: a.secs,
        rates: a.rates,
        connect_rate: a.connect_rate,
        p99_bound_us: (a.p99_bound_ms * 1000.0) as u64,
        work_micros: a.work,
        workers: a.workers,
        placement,
        cpus,
    };
    let mut runs = Vec::new();
    for round in 0..a.rounds {
        if a.rounds > 1 {
            eprintln!("lab: round {} of {}", round + 1, a.rounds);
        }
        // Neither server always first: a machine warms up, and its noise drifts.
        let backwards = round % 2 == 1;
        let order: Vec<_> = match backwards {
            true => targets.iter().rev().cloned().collect(),
            false => targets.clone(),
        };
        let env = env::Env::read(cpus, placement, nofile);
        let mut drill = drill::run(env, settings.clone(), &order)?;
        if backwards {
            drill.servers.reverse(); // the tables keep the book's order
        }
        runs.push(drill);
    }
    let drill = runs.last().expect("at least one round").clone();
    let out = a
        .out
        .unwrap_or_else(|| results_dir().join(if a.work > 0 { "work" } else { "drill" }));
    report::write(&drill, &out)?;
    println!("{}", report::markdown(&drill));
    if a.rounds > 1 {
        let summary = goals::rounds(&runs);
        std::fs::write(out.join("rounds.md"), &summary)
            .map_err(|e| format!("cannot write into {}: {e}", out.display()))?;
        println!("## Targets, {} rounds\n\n{summary}", a.rounds);
    }
    eprintln!("lab: results in {}", out.display());
    if a.book {
        book::write_drill(&drill, &workbook::cargo::workspace_root())?;
    }
    Ok(!drill.failed())
}
