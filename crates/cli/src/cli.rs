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

    /// Run the origin documents' situation offline: the built-in simulator with a paid
    /// primary model that hits its rate limit, two `:free` fallbacks at 20 requests/minute
    /// and agent types with their own models, then a few hundred requests through the full
    /// client (router, retries, quotas, cooldowns, cache), ending with a summary per model.
    ///
    /// Needs no key and no network. Simulated time runs 60× faster than real time, so
    /// per-minute limits bite within seconds.
    Demo(DemoArgs),

    /// Send many prompts through one client: quotas, cooldowns, load balancing and the cache
    /// act across the whole batch.
    ///
    /// Each input line is a JSON object `{"id", "prompt" or "messages", "agent", "model"}`
    /// (all but the prompt optional). Each output line is the `chat --json` object plus the
    /// `id` (or `error` for a failed line), in input order. Exit status 1 when any line
    /// failed.
    Batch(BatchArgs),
}

/// Flags of `orchestra demo`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct DemoArgs {
    /// Write the summary as JSON to stdout instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Requests in the workload.
    #[arg(long, value_name = "N", default_value_t = 300)]
    pub requests: u32,

    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub concurrency: u32,

    /// Seed of the workload (which agents ask what, in which order) and of the simulator's
    /// random faults.
    #[arg(long, value_name = "N", default_value_t = 7)]
    pub seed: u64,
}

/// Flags of `orchestra batch`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct BatchArgs {
    /// JSON-lines input (`-` for stdin).
    #[arg(value_name = "INPUT.jsonl")]
    pub input: PathBuf,

    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub concurrency: u32,

    /// Write the results here instead of stdout.
    #[arg(long, short, value_name = "OUT.jsonl")]
    pub output: Option<PathBuf>,

    /// System prompt for lines given as `prompt`.
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,

    /// Most tokens to generate per line.
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,
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
