//! The lab's smoke: a tiny drill (two architectures, 100 connections, a fraction of a second
//! per load), two tiny rounds of epoll against tokio, and `lab costs` must run to the end and
//! write every file they promise. The
//! figures themselves are not checked: on a shared two-core machine they are whatever the
//! machine gives; only what no machine excuses is (an iterative server starves its second
//! client; an epoll server serves all 100).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn lab(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(args)
        .output()
        .expect("the lab runs");
    assert!(
        output.status.success(),
        "lab {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn class(results: &Value, server: &str) -> String {
    let servers = results["servers"].as_array().expect("servers");
    let run = servers.iter().find(|s| s["name"] == server).expect(server);
    run["cells"][0]["class"]
        .as_str()
        .expect("a class")
        .to_string()
}

#[test]
fn a_small_drill_writes_its_tables_json_and_charts() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let args = [
        "iterative",
        "epoll",
        "--conns",
        "100",
        "--secs",
        "0.5",
        "--warmup",
        "0.2",
    ];
    let output = lab(&[&args[..], &["--rates", "2000", "--out", dir]].concat());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("## What breaks first"), "{stdout}");

    let text = std::fs::read_to_string(out.path().join("results.json")).unwrap();
    let results: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(results["servers"].as_array().map(Vec::len), Some(2));
    assert_eq!(results["floor"].as_array().map(Vec::is_empty), Some(false));
    assert_eq!(class(&results, "iterative"), "starved", "{stdout}");
    let epoll = class(&results, "epoll");
    assert!(
        epoll == "ok" || epoll == "degraded",
        "epoll at 100: {epoll}\n{stdout}"
    );

    let md = std::fs::read_to_string(out.path().join("results.md")).unwrap();
    assert!(
        md.contains("solution-epoll") && md.contains("## Environment"),
        "{md}"
    );
    for chart in ["throughput", "p99", "memory", "latency"] {
        let svg = std::fs::read_to_string(out.path().join(format!("{chart}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{chart}"
        );
        assert!(
            svg.contains("solution-epoll"),
            "{chart}: the legend names the servers"
        );
    }
}

#[test]
fn rounds_give_each_targets_median_and_keep_the_order() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    // The floor beside them, a program: `cargo test` builds the examples with the binary.
    let bare = Path::new(env!("CARGO_BIN_EXE_lab"))
        .with_file_name("examples")
        .join("bare-epoll");
    let args = [
        "epoll",
        "async",
        "tokio",
        "tokio-multi",
        "--workers",
        "2",
        "--conns",
        "1000",
        "--secs",
        "0.3",
        "--warmup",
        "0.1",
        "--rates",
        "2000",
        "--rounds",
        "2",
        "--out",
        dir,
        "--",
        bare.to_str().unwrap(),
    ];
    let output = lab(&args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let rounds = std::fs::read_to_string(out.path().join("rounds.md")).unwrap();
    assert!(
        rounds.contains("median bare-epoll ÷ tokio current_thread of 2 runs"),
        "{rounds}"
    );
    // Async against tokio multi_thread, its echo rate at least 0.9 of it.
    assert!(
        rounds.contains("median solution-async ÷ tokio multi_thread, 2 workers of 2 runs"),
        "{rounds}"
    );
    assert!(
        rounds.contains("| 1,000 | echo rate, closed loop |") && rounds.contains("| ≥ 0.9 |"),
        "{rounds}"
    );
    // The solutions' tables first, then the program's.
    let solution = rounds.find("median solution-epoll ÷ tokio current_thread of 2 runs");
    assert!(
        solution.is_some() && solution < rounds.find("median bare-epoll"),
        "{rounds}"
    );
    assert!(
        rounds.contains("| 1,000 | p99, open loop at 2,000/s |")
            && rounds.contains("| 1,000 | server CPU per echo, closed loop |"),
        "{rounds}"
    );
    assert!(stdout.contains("## Targets, 2 rounds"), "{stdout}");
    // The second round ran tokio first; the tables keep the order asked for.
    let text = std::fs::read_to_string(out.path().join("results.json")).unwrap();
    let results: Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = results["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["bare-epoll", "epoll", "async", "tokio", "tokio-multi"]
    );
}

#[test]
fn costs_writes_its_table() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("costs");
    lab(&["costs", "--out", dir.to_str().unwrap()]);
    let md = std::fs::read_to_string(Path::new(&dir).join("costs.md")).unwrap();
    for cost in [
        "context switch",
        "fork",
        "thread spawn",
        "idle forked child, PSS",
    ] {
        assert!(md.contains(cost), "{cost} missing:\n{md}");
    }
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("costs.json")).unwrap()).unwrap();
    assert!(json.as_array().is_some_and(|a| a.len() >= 10));
}
