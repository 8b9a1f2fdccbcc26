//! Project automation, run as `cargo xtask <command>` (the
//! [cargo-xtask](https://github.com/matklad/cargo-xtask) convention).
//!
//! - `cargo xtask ci`: everything CI checks, runnable locally: formatting, clippy with
//!   warnings denied, generated files up to date, the whole test suite, and the docs.
//!   Installs Debian's `redis-server` first when it is missing (the Redis quota tests
//!   start their own servers with it).
//!   Installs the open-source Portkey gateway from npm into `target/portkey-gateway` first
//!   (the Portkey provider's tests run it).
//! - `cargo xtask codegen [--check]`: regenerate `docs/configuration.md` from the variable
//!   table in orchestra-config (`--check` fails when it is stale).
//! - `cargo xtask fuzz [--seconds N] [TARGET…]`: build the cargo-fuzz targets in `fuzz/` and
//!   run each for N seconds (default 60); not part of `ci` (docs/reliability.md).
//! - `cargo xtask deny`: `cargo deny check licenses bans sources` (also a `ci` step),
//!   installing cargo-deny into `$CARGO_HOME/orchestra-tools` when missing.
//! - `cargo xtask bench [--quick] [--only N,…] [--docs]`: the library against plain reqwest on the
//!   built-in simulator: overhead, streaming, fallback, goodput, cache, scale and the
//!   simulator's throughput (docs/benchmarks.md).
//! - `cargo xtask cache-eval [--embedder lexical|local]`: precision, recall, call reduction
//!   and lookup latency of the response cache on `../shared/data/paraphrase`
//!   (docs/caching.md); `local` builds the bundled MiniLM model (feature `local-embed`).
//! - `cargo xtask soak`: the soak test of docs/reliability.md, in release mode.
//! - `cargo xtask release <version> [--execute]`: bump every publishable crate, add the
//!   changelog section, verify `cargo package` in dependency order; a dry run unless
//!   `--execute`, which also commits, tags and publishes (see `release.rs`).

#![allow(clippy::print_stdout, clippy::print_stderr)] // A command-line tool talks on stdio.

mod bench;
mod cache_eval;
mod ci;
mod codegen;
mod deny;
mod fuzz;
mod portkey;
mod release;
mod soak;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use xshell::Shell;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci                 fmt check, clippy -D warnings, codegen --check, cargo deny, tests, docs
                     (installs redis-server with apt-get when missing)
  codegen [--check]  regenerate docs/configuration.md (--check: fail if stale)
  deny               cargo deny check licenses bans sources (installs it when missing)
  fuzz [--seconds N] [TARGET...]
                     build the fuzz targets and run each N seconds (default 60)
  bench [--quick] [--only N,...] [--docs]
                     build crates/bench in release and run the benchmarks; results in
                     target/bench/; --quick: shorter, no 1M-entry cache; --docs: copy
                     the tables and charts into docs/benchmarks.md and docs/benchmarks/
  cache-eval [--embedder lexical|local] [--threshold X] [--sizes N,N..] [--sweep]
             [--data PATH]
                     measure the response cache on ../shared/data/paraphrase (release;
                     `local` adds the bundled MiniLM model, feature local-embed)
  soak [--requests N] [--in-flight N] [--rounds N]
                     100,000 requests (default), 1,000 in flight, 10% faults and
                     cancellations through the full client; checks every request ends
                     once, memory comes back, the quota counts right (release)
  release <version> [--execute]
                     bump versions, update CHANGELOG.md, verify `cargo package` of every
                     publishable crate in dependency order; a dry run in a temporary
                     worktree unless --execute (commit, tag v<version>, cargo publish)";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["ci"] => ci::run(&sh),
        ["codegen"] => codegen::run(&sh, false),
        ["codegen", "--check"] => codegen::run(&sh, true),
        ["bench", rest @ ..] => bench::run(&sh, rest),
        ["cache-eval", rest @ ..] => cache_eval::run(&sh, rest),
        ["soak", rest @ ..] => soak::run(&sh, rest, true),
        ["release", rest @ ..] => release::run(&sh, rest),
        ["deny"] => deny::run(&sh),
        ["fuzz", rest @ ..] => fuzz::run(&sh, rest),
        ["help" | "--help" | "-h"] | [] => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{}`\n\n{USAGE}", other.join(" ")),
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
