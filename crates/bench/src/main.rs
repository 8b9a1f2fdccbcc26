//! `cargo xtask bench [--quick] [--only N,…] [--goodput-scales S,…] [--out DIR]`: issue
//! 10's seven measurements of orchestra-llm against plain reqwest on the built-in simulator. Writes
//! `results.json`, `results.md` and SVG charts to `DIR` (default `target/bench`).
//!
//! The binary also runs itself as a child process for measurement 6 (`scale-child`), so
//! that process's memory holds only the client under test.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reporting its results"
)]

mod cache;
mod charts;
mod fallback;
mod goodput;
mod overhead;
mod report;
mod scale;
mod setup;
mod simload;
mod stats;
mod streaming;

use std::{path::PathBuf, time::Instant};

use anyhow::{Context as _, Result, bail};

use crate::{
    report::{Machine, Report, Section},
    setup::Ctx,
};

type Bench = fn(&Ctx) -> Result<Section>;

const BENCHES: [(&str, Bench); 7] = [
    ("overhead", overhead::run),
    ("streaming", streaming::run),
    ("fallback", fallback::run),
    ("goodput", goodput::run),
    ("cache", cache::run),
    ("scale", scale::run),
    ("simulator", simload::run),
];

struct Args {
    quick: bool,
    only: Vec<usize>,
    out: PathBuf,
    goodput_scales: Option<Vec<f64>>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args> {
    let mut parsed = Args {
        quick: false,
        only: Vec::new(),
        out: PathBuf::from("target/bench"),
        goodput_scales: None,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => parsed.quick = true,
            "--only" => {
                let list = args.next().context("--only needs a list such as 1,3")?;
                for item in list.split(',') {
                    let n: usize = item.trim().parse().context("--only takes numbers 1-7")?;
                    if !(1..=BENCHES.len()).contains(&n) {
                        bail!("--only takes numbers 1-{}", BENCHES.len());
                    }
                    parsed.only.push(n);
                }
            }
            "--out" => parsed.out = PathBuf::from(args.next().context("--out needs a path")?),
            "--goodput-scales" => {
                let list = args
                    .next()
                    .context("--goodput-scales needs a list such as 60,10")?;
                let mut scales = Vec::new();
                for item in list.split(',') {
                    let scale: f64 = item
                        .trim()
                        .parse()
                        .context("--goodput-scales takes numbers")?;
                    if !(1.0..=600.0).contains(&scale) {
                        bail!("--goodput-scales takes time scales from 1 to 600");
                    }
                    scales.push(scale);
                }
                parsed.goodput_scales = Some(scales);
            }
            other => bail!(
                "unknown argument `{other}`\nusage: orchestra-bench [--quick] [--only 1,2,…] \
                 [--goodput-scales 60,10] [--out DIR]"
            ),
        }
    }
    Ok(parsed)
}

fn main() -> Result<()> {
    let mut argv = std::env::args().skip(1).peekable();
    if argv.peek().map(String::as_str) == Some("scale-child") {
        argv.next();
        return scale::child(argv);
    }
    if argv.peek().map(String::as_str) == Some("profile") {
        argv.next();
        return overhead::profile(argv);
    }
    // The command as a reader would type it (the output directory left out).
    let mut command = String::from("cargo xtask bench");
    let mut skip = false;
    for arg in std::env::args().skip(1) {
        if std::mem::take(&mut skip) {
            continue;
        }
        if arg == "--out" {
            skip = true;
            continue;
        }
        command.push(' ');
        command.push_str(&arg);
    }
    let args = parse_args(argv)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut ctx = Ctx::new(args.quick, args.out.clone())?;
    if let Some(scales) = args.goodput_scales {
        ctx.goodput_scales = scales;
    }
    let mut report = Report {
        command,
        quick: args.quick,
        machine: Machine::probe(),
        sections: Vec::new(),
    };
    let started = Instant::now();
    for (i, (name, bench)) in BENCHES.iter().enumerate() {
        if !args.only.is_empty() && !args.only.contains(&(i + 1)) {
            continue;
        }
        let t = Instant::now();
        eprintln!("[{}/{}] {name}…", i + 1, BENCHES.len());
        let section = bench(&ctx).with_context(|| format!("measurement {} ({name})", i + 1))?;
        for check in &section.checks {
            eprintln!(
                "      {:<4} {}: {} (target {})",
                if check.met { "ok" } else { "MISS" },
                check.what,
                check.measured,
                check.target
            );
        }
        eprintln!("      done in {:.1?}", t.elapsed());
        report.sections.push(section);
    }
    compare_simulator(&mut report);
    report.machine.load_after = report::load_average();
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(args.out.join("results.json"), json + "\n")?;
    let markdown = report.markdown();
    std::fs::write(args.out.join("results.md"), &markdown)?;
    println!("{markdown}");
    eprintln!(
        "wrote {}/results.{{md,json}} and charts in {:.1?}",
        args.out.display(),
        started.elapsed()
    );
    Ok(())
}

/// The simulator must out-run every client measured against it: its JSON throughput (7.)
/// against the fastest client throughput of 1.
fn compare_simulator(report: &mut Report) {
    let fastest_client = report
        .sections
        .iter()
        .find(|section| section.id == "overhead")
        .and_then(|section| {
            let concurrent = &section.results["concurrent"];
            Some(
                concurrent["plain_rps"]
                    .as_f64()?
                    .max(concurrent["stack_rps"].as_f64()?),
            )
        });
    let Some(section) = report.sections.iter_mut().find(|s| s.id == "simulator") else {
        return;
    };
    let (Some(fastest), Some(sim)) = (fastest_client, section.results["json_rps"].as_f64()) else {
        return;
    };
    if let Some(check) = section.checks.first_mut() {
        check.what = "simulator JSON throughput vs the fastest client in 1.".to_owned();
        check.target = "> 1×".to_owned();
        check.measured = format!("{sim:.0}/s vs {fastest:.0}/s = {:.1}×", sim / fastest);
        check.met = check.met && sim > fastest;
    }
}
