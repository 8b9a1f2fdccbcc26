//! `cargo xtask fuzz [--seconds N] [TARGET…]`: builds the cargo-fuzz targets in `fuzz/` and
//! runs each for N seconds (default 60), then prints executions and findings per target.
//!
//! Not part of `cargo xtask ci`. Seeds come from `fuzz/corpus/<target>` (kept small, in
//! git); what a run adds goes to `target/fuzz-corpus/<target>`, crashes to
//! `fuzz/artifacts/<target>` (both ignored). libFuzzer's instrumentation needs `-Z` flags:
//! on a stable toolchain `RUSTC_BOOTSTRAP=1` allows them. No sanitizer: the fuzzed crates
//! forbid `unsafe`, and ASan would halve the executions.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

/// The cargo-fuzz release this task installs when missing (see `deny::ensure_tool`).
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// The default run length per target, in seconds.
const DEFAULT_SECONDS: u64 = 60;

pub(crate) fn run(sh: &Shell, args: &[&str]) -> Result<()> {
    let mut seconds = DEFAULT_SECONDS;
    let mut targets = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--seconds" => {
                let value = args.next().context("--seconds needs a number")?;
                seconds = value
                    .parse()
                    .with_context(|| format!("--seconds: `{value}` is not a whole number"))?;
            }
            target if !target.starts_with('-') => targets.push(target.to_owned()),
            other => bail!("cargo xtask fuzz: unknown option `{other}`"),
        }
    }
    let fuzz = crate::deny::ensure_tool(sh, "cargo-fuzz", CARGO_FUZZ_VERSION)?;
    let _bootstrap = sh.push_env("RUSTC_BOOTSTRAP", "1");
    let known: Vec<String> = cmd!(sh, "{fuzz} list --fuzz-dir fuzz")
        .read()?
        .lines()
        .map(str::to_owned)
        .collect();
    if targets.is_empty() {
        targets.clone_from(&known);
    }
    if let Some(unknown) = targets.iter().find(|target| !known.contains(target)) {
        bail!(
            "no fuzz target `{unknown}`; the targets are: {}",
            known.join(", ")
        );
    }
    cmd!(sh, "{fuzz} build --fuzz-dir fuzz -s none").run()?;

    let mut report = Vec::new();
    for target in &targets {
        let work = format!("target/fuzz-corpus/{target}");
        let seeds = format!("fuzz/corpus/{target}");
        sh.create_dir(&work)?;
        sh.create_dir(&seeds)?;
        let max_time = format!("-max_total_time={seconds}");
        println!("\n==> fuzz {target} for {seconds} s");
        let started = Instant::now();
        let output = cmd!(
            sh,
            "{fuzz} run --fuzz-dir fuzz -s none {target} {work} {seeds} -- {max_time} -timeout=10 -rss_limit_mb=4096 -print_final_stats=1"
        )
        .ignore_status()
        .output()?;
        let log = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = log.lines().rev().take(12).collect();
        for line in tail.iter().rev() {
            println!("    {line}");
        }
        let execs = log
            .lines()
            .find_map(|line| line.strip_prefix("stat::number_of_executed_units:"))
            .map_or_else(|| "?".to_owned(), |count| count.trim().to_owned());
        let outcome = if output.status.success() {
            "no finding".to_owned()
        } else {
            let artifact = log
                .lines()
                .find_map(|line| line.split("Test unit written to ").nth(1))
                .unwrap_or("see the log above");
            format!("FOUND: {artifact}")
        };
        report.push((target.clone(), started.elapsed().as_secs(), execs, outcome));
    }

    println!(
        "\n{:<16} {:>8} {:>14}  result",
        "target", "seconds", "executions"
    );
    for (target, seconds, execs, outcome) in &report {
        println!("{target:<16} {seconds:>8} {execs:>14}  {outcome}");
    }
    if report
        .iter()
        .any(|(.., outcome)| outcome.starts_with("FOUND"))
    {
        bail!(
            "fuzzing found inputs that fail; add each as a regression test \
             (docs/reliability.md)"
        );
    }
    Ok(())
}
