//! `cargo xtask codegen`: generated documentation, kept in sync by `--check` in CI.

use anyhow::{Context, Result, bail};
use xshell::Shell;

const BEGIN: &str = "<!-- BEGIN GENERATED: cargo xtask codegen -->";
const END: &str = "<!-- END GENERATED -->";
const CONFIGURATION_DOC: &str = "docs/configuration.md";

pub(crate) fn run(sh: &Shell, check: bool) -> Result<()> {
    let path = sh.current_dir().join(CONFIGURATION_DOC);
    let current = sh
        .read_file(&path)
        .with_context(|| format!("reading {CONFIGURATION_DOC}"))?;
    let (Some(start), Some(end)) = (current.find(BEGIN), current.find(END)) else {
        bail!("{CONFIGURATION_DOC} lacks the `{BEGIN}` / `{END}` markers");
    };
    let start = start + BEGIN.len();
    let generated = orchestra_config::render_markdown();
    if current[start..end] == generated {
        println!("{CONFIGURATION_DOC} is up to date");
        return Ok(());
    }
    if check {
        bail!(
            "{CONFIGURATION_DOC} is out of date: run `cargo xtask codegen` and commit the result"
        );
    }
    let updated = format!("{}{generated}{}", &current[..start], &current[end..]);
    sh.write_file(&path, updated)?;
    println!("updated {CONFIGURATION_DOC}");
    Ok(())
}
