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

    /// Send one prompt and print the answer.
    ///
    /// The model comes from --model, else the agent's model in AGENT_MODEL_MAP (--agent),
    /// else OPENROUTER_DEFAULT_MODEL; OPENROUTER_FREE_FALLBACKS answer when it cannot.
    Chat(ChatArgs),

    /// Show the account's balance, the key's limit and spend, and the free-model quotas that
    /// follow from them.
    Credits(CreditsArgs),

    /// List the models the provider offers, with context length and prices per million
    /// tokens.
    Models(ModelsArgs),

    /// Run the built-in simulated OpenRouter on loopback, to try agents against rate limits
    /// and outages offline. Prints its base URL as the first line of stdout, then serves
    /// until interrupted (Ctrl-C).
    ///
    /// Point orchestra (or any OpenAI-compatible client) at it with
    /// `OPENROUTER_BASE_URL=<printed URL>`. Scenario files are described in docs/simulator.md.
    Sim(SimArgs),
}

/// Flags of `orchestra chat`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct ChatArgs {
    /// Route as this agent type (its model in AGENT_MODEL_MAP goes first).
    #[arg(long, value_name = "TYPE")]
    pub agent: Option<String>,

    /// Ask this model first (overrides the agent's and the default model).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,

    /// A system prompt sent before PROMPT.
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,

    /// Most tokens to generate (OpenRouter checks the balance can pay for them).
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,

    /// Print tokens as they arrive. With --json the answer is still streamed, then printed
    /// as one JSON object.
    #[arg(long)]
    pub stream: bool,

    /// Print one JSON object: content, model (the one that served), provider,
    /// finish_reason, usage, cache, attempts, latency_ms.
    #[arg(long)]
    pub json: bool,

    /// The prompt; `-` reads it from standard input.
    #[arg(value_name = "PROMPT")]
    pub prompt: String,
}

/// Flags of `orchestra credits`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct CreditsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `orchestra models`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct ModelsArgs {
    /// Only models that cost nothing (`:free` variants and zero prices).
    #[arg(long)]
    pub free: bool,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `orchestra sim`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct SimArgs {
    /// Port on 127.0.0.1 (0 picks a free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,

    /// Accept only this bearer key (default: any key).
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,

    /// Scenario file (TOML, or JSON when it ends in .json): models, prices, latencies,
    /// quotas and faults.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,

    /// Simulated seconds per real second for quota windows (60: a minute lasts a second).
    #[arg(long, value_name = "FACTOR")]
    pub time_scale: Option<f64>,
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
