//! `cargo xtask cache-eval`: measures the response cache on the labelled paraphrase pairs of
//! `../shared/data/paraphrase/dev.tsv` (precision, recall, call reduction, lookup latency at
//! 100,000 entries). A release build of orchestra-cache's `cache_eval` example does the work,
//! so this crate stays small. Not part of `cargo xtask ci`: it takes a few minutes.

use anyhow::{Result, bail};
use xshell::{Shell, cmd};

pub(crate) fn run(sh: &Shell, args: &[&str]) -> Result<()> {
    let mut args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    if !args.iter().any(|arg| arg == "--data") {
        let data = sh.current_dir().join("../shared/data/paraphrase/dev.tsv");
        if !data.exists() {
            bail!(
                "{} not found: pass --data PATH to a TSV of labelled pairs",
                data.display()
            );
        }
        args.push("--data".to_owned());
        args.push(data.display().to_string());
    }
    cmd!(
        sh,
        "cargo run --release --locked -p orchestra-cache --example cache_eval -- {args...}"
    )
    .run()?;
    Ok(())
}
