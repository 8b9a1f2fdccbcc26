//! `cargo xtask cache-eval`: measures the response cache on the labelled paraphrase pairs of
//! `../shared/data/paraphrase/dev.tsv` (precision, recall, call reduction, lookup latency at
//! 100,000 entries). A release build of orchestra-cache's `cache_eval` example does the work,
//! so this crate stays small. Not part of `cargo xtask ci`: it takes a few minutes.
//!
//! `--embedder local` (or `local:MODEL_DIR`, a sentence-transformer folder) builds the example with orchestra-cache's `local-embed` feature (the
//! bundled MiniLM model: about 4 more minutes of release build the first time), so the
//! default build and CI never compile the model.

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
    let local = args
        .windows(2)
        .any(|pair| pair[0] == "--embedder" && pair[1].starts_with("local"));
    let features: &[&str] = if local {
        &["--features", "local-embed"]
    } else {
        &[]
    };
    cmd!(
        sh,
        "cargo run --release --locked -p orchestra-cache {features...} --example cache_eval -- {args...}"
    )
    .run()?;
    Ok(())
}
