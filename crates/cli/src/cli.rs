//! Command-line arguments (clap derive). Every command and flag is declared here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Call LLMs through OpenRouter and Portkey without being stopped by rate limits, outages or
/// cost.
///
/// Configuration comes from environment variables and a `.env` file in the current
/// directory (see docs/configuration.md). Exit status: 0 success, 1 the request failed after
/// every attempt, 2 invalid configuration or usage.
#[derive(Debug, Parser)]
#[command(name = "orchestra", version, propagate_version = true)]
pub struct Cli {
    /// Read variables from this file instead of `./.env` (the process environment still wins).
    #[arg(long, global = true, value_name = "PATH")]
    pub env_file: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// `orchestra config …`
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum ConfigCommand {
    /// Validate the configuration and print it with secrets redacted, plus the route each
    /// agent type takes. Exits 2 with every problem listed when it is invalid.
    Check(ConfigCheckArgs),
}

/// Flags of `orchestra config check`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct ConfigCheckArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}
