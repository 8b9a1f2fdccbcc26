//! `cargo deny check licenses bans sources` (rules in deny.toml), and the project-local
//! installs of the cargo tools the xtasks need.
//!
//! Advisories are not checked: their database is a download, and CI must not depend on the
//! network for a verdict.

use std::path::PathBuf;

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

/// The cargo-deny release CI installs when missing (see [`ensure_tool`]).
const CARGO_DENY_VERSION: &str = "0.20.2";

pub(crate) fn run(sh: &Shell) -> Result<()> {
    let deny = ensure_tool(sh, "cargo-deny", CARGO_DENY_VERSION)?;
    cmd!(sh, "{deny} --locked check licenses bans sources")
        .run()
        .context("cargo deny found a licence, ban or source problem (rules in deny.toml)")
}

/// The path of `tool` at `version`: the one on the PATH when it is that version, else the
/// one in the machine's tool cache, `$CARGO_HOME/orchestra-tools/<tool>-<version>` (installed
/// there with `cargo install --locked` when missing). The cache is per machine, not per
/// clone: CI works in a fresh clone each run, and builds cargo-deny only on a new machine.
pub(crate) fn ensure_tool(sh: &Shell, tool: &str, version: &str) -> Result<PathBuf> {
    let on_path = cmd!(sh, "{tool} --version")
        .quiet()
        .ignore_stderr()
        .read()
        .is_ok_and(|out| out.split_whitespace().any(|word| word == version));
    if on_path {
        return Ok(PathBuf::from(tool));
    }
    let cargo_home = sh
        .var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| {
            sh.var("HOME")
                .map(|home| PathBuf::from(home).join(".cargo"))
        })
        .unwrap_or_else(|_| crate::project_root().join("target"));
    let root = cargo_home
        .join("orchestra-tools")
        .join(format!("{tool}-{version}"));
    let installed = root.join("bin").join(tool);
    if installed.exists() {
        return Ok(installed);
    }
    println!(
        "{tool} {version} is missing: installing it into {}",
        root.display()
    );
    cmd!(
        sh,
        "cargo install {tool} --version {version} --locked --root {root}"
    )
    .run()
    .with_context(|| format!("could not install {tool} {version} from crates.io"))?;
    Ok(installed)
}
