//! `cargo xtask ci`: the checks CI runs, in the order that fails fastest.

use std::time::Instant;

use anyhow::{Result, bail};
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
    step("features", || check_umbrella_features(sh))?;
    // Licences, banned crates (OpenSSL) and sources; no advisories (a network download).
    step("deny", || crate::deny::run(sh))?;
    // The Redis quota tests of orchestra-resilience start their own `redis-server`.
    step("redis-server", || ensure_redis_server(sh))?;
    // The Portkey provider's tests start the real gateway from this install.
    let mut gateway = None;
    step("portkey-gateway", || {
        gateway = Some(crate::portkey::install_gateway(sh, &crate::project_root())?);
        Ok(())
    })?;
    let _gateway = gateway.map(|dir| sh.push_env(crate::portkey::INSTALL_DIR_VARIABLE, dir));
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
    step("soak (short)", || {
        crate::soak::run(sh, &["--requests", "2000", "--in-flight", "200"], false)
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

/// The umbrella's features checked alone, one `cargo check` each.
const FEATURES: &[&str] = &[
    "config",
    "openrouter",
    "portkey",
    "routing",
    "resilience",
    "resilience-redis",
    "cache",
    "cache-redis",
];

/// Umbrella features CI never builds: `cache-local-embed` compiles a sentence-embedding
/// model (Candle, tokenizers: ~80 more crates, minutes of build on 2 cores);
/// `cargo xtask cache-eval --embedder local` builds and measures it.
const TOO_HEAVY: &[&str] = &["cache-local-embed"];

/// The umbrella's features, each alone and none at all: a user who selects one feature
/// must get a crate that builds (a missing `cfg` or an undeclared dependency shows here,
/// never in a full-feature build). A feature in neither [`FEATURES`] nor [`TOO_HEAVY`] fails
/// the step, so none is skipped by forgetting it.
fn check_umbrella_features(sh: &Shell) -> Result<()> {
    let metadata = cmd!(sh, "cargo metadata --no-deps --format-version 1 --locked")
        .quiet()
        .read()?;
    let declared = umbrella_features(&metadata)?;
    let unlisted: Vec<&str> = declared
        .iter()
        .map(String::as_str)
        .filter(|feature| {
            *feature != "default" && !FEATURES.contains(feature) && !TOO_HEAVY.contains(feature)
        })
        .collect();
    if !unlisted.is_empty() {
        bail!(
            "orchestra-llm features {unlisted:?} are in neither FEATURES nor TOO_HEAVY of xtask/src/ci.rs"
        );
    }
    cmd!(
        sh,
        "cargo check --locked -p orchestra-llm --no-default-features"
    )
    .run()?;
    for feature in FEATURES {
        cmd!(
            sh,
            "cargo check --locked -p orchestra-llm --no-default-features --features {feature}"
        )
        .run()?;
    }
    println!(
        "not built here (too heavy for CI): {}",
        TOO_HEAVY.join(", ")
    );
    Ok(())
}

/// The feature names of `orchestra-llm` in `cargo metadata` JSON.
fn umbrella_features(metadata: &str) -> Result<Vec<String>> {
    let metadata: serde_json::Value = serde_json::from_str(metadata)?;
    let Some(features) = metadata["packages"]
        .as_array()
        .and_then(|packages| {
            packages
                .iter()
                .find(|package| package["name"] == "orchestra-llm")
        })
        .and_then(|package| package["features"].as_object())
    else {
        bail!("cargo metadata lists no orchestra-llm package with features");
    };
    Ok(features.keys().cloned().collect())
}

/// Makes sure `redis-server` is on the PATH, installing the Debian package when it is not
/// (CI runs on a fresh Debian machine as root). The tests start and stop their own servers
/// on free loopback ports; nothing is left running.
fn ensure_redis_server(sh: &Shell) -> Result<()> {
    let installed = || {
        cmd!(sh, "redis-server --version")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .is_ok()
    };
    if installed() {
        println!("redis-server is installed");
        return Ok(());
    }
    println!("redis-server is missing: installing the Debian package");
    let _frontend = sh.push_env("DEBIAN_FRONTEND", "noninteractive");
    let install = cmd!(sh, "apt-get update -q").run().and_then(|()| {
        cmd!(
            sh,
            "apt-get install -y -q --no-install-recommends redis-server"
        )
        .run()
    });
    if install.is_err() || !installed() {
        bail!(
            "redis-server is needed by the Redis quota tests and could not be installed; \
             install it (Debian: `apt-get install redis-server`) and run again"
        );
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umbrella_features_are_read_from_cargo_metadata() {
        let metadata = r#"{"packages": [
            {"name": "orchestra-core", "features": {"x": []}},
            {"name": "orchestra-llm", "features": {"default": ["cache"], "cache": [], "cache-local-embed": ["cache"]}}
        ]}"#;
        assert_eq!(
            umbrella_features(metadata).unwrap(),
            ["cache", "cache-local-embed", "default"]
        );
        assert!(umbrella_features(r#"{"packages": []}"#).is_err());
        assert!(umbrella_features("not json").is_err());
    }

    #[test]
    fn every_umbrella_feature_is_checked_or_deliberately_skipped() {
        let manifest = include_str!("../../crates/orchestra-llm/Cargo.toml");
        let features = manifest
            .split("[features]")
            .nth(1)
            .and_then(|rest| rest.split("\n[").next())
            .unwrap_or_default();
        for line in features.lines() {
            let Some((name, _)) = line.split_once(" = ") else {
                continue;
            };
            let name = name.trim();
            assert!(
                name == "default" || FEATURES.contains(&name) || TOO_HEAVY.contains(&name),
                "{name}"
            );
        }
        assert!(TOO_HEAVY.iter().all(|heavy| !FEATURES.contains(heavy)));
        assert!(manifest.contains("cache-local-embed = "));
    }
}
