//! `cargo xtask bench [--quick] [--only N,…] [--docs]`: builds the non-published
//! `orchestra-bench` crate in release and runs issue 10's seven measurements against the
//! built-in simulator (overhead, streaming, fallback, goodput, cache, scale, simulator
//! throughput). Results go to `target/bench/results.{md,json}` with SVG charts; `--docs`
//! also copies the tables between the markers of docs/benchmarks.md and the charts to
//! docs/benchmarks/. Not part of `cargo xtask ci`: a full run takes several minutes and
//! wants a quiet machine.

use anyhow::{Context as _, Result, bail};
use xshell::{Shell, cmd};

const START: &str = "<!-- bench:start -->";
const END: &str = "<!-- bench:end -->";
const CHARTS: [&str; 3] = ["overhead.svg", "fallback.svg", "cache.svg"];

pub(crate) fn run(sh: &Shell, args: &[&str]) -> Result<()> {
    let docs = args.contains(&"--docs");
    let args: Vec<&str> = args
        .iter()
        .copied()
        .filter(|arg| *arg != "--docs")
        .collect();
    // Measurement 6 holds 10,000 connections open in each of two processes: it needs
    // `ulimit -n` above that.
    cmd!(sh, "cargo build --release --locked -p orchestra-bench").run()?;
    let out = sh.current_dir().join("target/bench");
    let out_arg = out.display().to_string();
    cmd!(
        sh,
        "target/release/orchestra-bench --out {out_arg} {args...}"
    )
    .run()?;
    if docs {
        let results = sh.read_file(out.join("results.md"))?;
        let page = sh.read_file("docs/benchmarks.md")?;
        let (Some(start), Some(end)) = (page.find(START), page.find(END)) else {
            bail!("docs/benchmarks.md lacks the {START} / {END} markers");
        };
        let updated = format!(
            "{}{START}\n{}\n{}",
            &page[..start],
            results.trim_end(),
            &page[end..]
        );
        sh.write_file("docs/benchmarks.md", updated)?;
        sh.create_dir("docs/benchmarks")?;
        for chart in CHARTS {
            let from = out.join(chart);
            if from.exists() {
                sh.copy_file(&from, "docs/benchmarks")
                    .with_context(|| format!("copying {chart}"))?;
            }
        }
        println!("updated docs/benchmarks.md and docs/benchmarks/*.svg");
    }
    Ok(())
}
