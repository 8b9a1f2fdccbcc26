//! `cargo xtask soak`: the soak example (crates/orchestra-llm/examples/soak.rs) — two rounds
//! of 100,000 requests, 1,000 in flight, 10% injected faults and concurrent cancellations
//! through the full client — in release mode. `cargo xtask ci` runs a short debug version.

use anyhow::Result;
use xshell::{Shell, cmd};

/// Runs the soak with `args` (`--requests N`, `--in-flight N`, `--rounds N`); `release` for
/// the full run.
pub(crate) fn run(sh: &Shell, args: &[&str], release: bool) -> Result<()> {
    let profile: &[&str] = if release { &["--release"] } else { &[] };
    cmd!(
        sh,
        "cargo run --locked -q {profile...} -p orchestra-llm --example soak -- {args...}"
    )
    .run()?;
    Ok(())
}
