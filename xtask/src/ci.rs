//! `cargo xtask ci`: the checks CI runs, in the order that fails fastest.

use std::time::Instant;

use anyhow::Result;
use xshell::{Shell, cmd};

pub(crate) fn run(sh: &Shell) -> Result<()> {
    // Snapshots are reviewed by people (`cargo insta review`), never rewritten by CI.
    let _insta = sh.push_env("INSTA_UPDATE", "no");
    let _color = sh.push_env("CARGO_TERM_COLOR", "always");

    step("fmt", || {
        cmd!(sh, "cargo fmt --all --check")
            .run()
            .map_err(Into::into)
    })?;
    step("codegen", || crate::codegen::run(sh, true))?;
    step("clippy", || {
        cmd!(
            sh,
            "cargo clippy --workspace --all-targets --locked -- -D warnings"
        )
        .run()
        .map_err(Into::into)
    })?;
    step("test", || {
        if cmd!(sh, "cargo nextest --version")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .is_ok()
        {
            cmd!(sh, "cargo nextest run --workspace --locked --no-fail-fast").run()?;
            // nextest does not run doctests.
            cmd!(sh, "cargo test --workspace --locked --doc").run()?;
        } else {
            cmd!(sh, "cargo test --workspace --locked --no-fail-fast").run()?;
        }
        Ok(())
    })?;
    step("doc", || {
        let _rustdoc = sh.push_env("RUSTDOCFLAGS", "-D warnings");
        cmd!(sh, "cargo doc --workspace --no-deps --locked")
            .run()
            .map_err(Into::into)
    })?;
    println!("\nxtask ci: all checks passed");
    Ok(())
}

fn step(name: &str, body: impl FnOnce() -> Result<()>) -> Result<()> {
    println!("\n==> {name}");
    let started = Instant::now();
    let result = body();
    println!(
        "<== {name}: {} in {:.1?}",
        if result.is_ok() { "ok" } else { "FAILED" },
        started.elapsed()
    );
    result.map_err(|error| error.context(format!("xtask ci: step `{name}` failed")))
}
