//! `cargo xtask codegen`: generated documentation, kept in sync by `--check` in CI.
//!
//! - docs/configuration.md: the variable table of orchestra-config.
//! - docs/reliability.md: the fault matrix the full-client test pins as a snapshot.

use anyhow::{Context, Result, bail};
use xshell::Shell;

const BEGIN: &str = "<!-- BEGIN GENERATED: cargo xtask codegen -->";
const END: &str = "<!-- END GENERATED -->";
const CONFIGURATION_DOC: &str = "docs/configuration.md";
const RELIABILITY_DOC: &str = "docs/reliability.md";
const FAULT_MATRIX_SNAPSHOT: &str =
    "crates/orchestra-llm/tests/it/snapshots/it__fault_matrix__fault_matrix.snap";

pub(crate) fn run(sh: &Shell, check: bool) -> Result<()> {
    let mut stale = Vec::new();
    let configuration = orchestra_config::render_markdown();
    if !sync(sh, CONFIGURATION_DOC, &configuration, check)? {
        stale.push(CONFIGURATION_DOC);
    }
    let matrix = snapshot_body(sh, FAULT_MATRIX_SNAPSHOT)?;
    if !sync(sh, RELIABILITY_DOC, &format!("\n{matrix}"), check)? {
        stale.push(RELIABILITY_DOC);
    }
    if check && !stale.is_empty() {
        bail!(
            "{} out of date: run `cargo xtask codegen` and commit the result",
            stale.join(", ")
        );
    }
    Ok(())
}

/// Puts `generated` between the markers of `doc`; `false` when it was stale (and, with
/// `check`, left alone).
fn sync(sh: &Shell, doc: &str, generated: &str, check: bool) -> Result<bool> {
    let path = sh.current_dir().join(doc);
    let current = sh
        .read_file(&path)
        .with_context(|| format!("reading {doc}"))?;
    let (Some(start), Some(end)) = (current.find(BEGIN), current.find(END)) else {
        bail!("{doc} lacks the `{BEGIN}` / `{END}` markers");
    };
    let start = start + BEGIN.len();
    if current[start..end] == *generated {
        println!("{doc} is up to date");
        return Ok(true);
    }
    if !check {
        let updated = format!("{}{generated}{}", &current[..start], &current[end..]);
        sh.write_file(&path, updated)?;
        println!("updated {doc}");
    }
    Ok(false)
}

/// An insta snapshot without its `---`-delimited header.
fn snapshot_body(sh: &Shell, path: &str) -> Result<String> {
    let text = sh
        .read_file(sh.current_dir().join(path))
        .with_context(|| format!("reading {path}"))?;
    let body = text
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .map(|(_, body)| body)
        .with_context(|| format!("{path} is not an insta snapshot"))?;
    Ok(body.to_owned())
}
