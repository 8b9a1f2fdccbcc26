//! A realistic simulated OpenRouter-compatible upstream, for tests, benchmarks and offline
//! demos: latency, per-model quotas, credits and scripted faults, on 127.0.0.1.
//!
//! # Overview
//!
//! [`Simulator::start`] serves, on a local port:
//!
//! - `POST /api/v1/chat/completions` (and `/v1/chat/completions`): JSON and SSE answers in
//!   OpenRouter's wire format, `models` fallbacks, `usage.cost`, `X-Generation-Id`;
//! - `GET /api/v1/models`, `/key` (alias `/auth/key`), `/credits`, `/generation?id=`;
//! - a control API under `/__sim/` (see `docs/simulator.md`).
//!
//! Each model's behaviour ([`ModelConfig`]: price, latency, answer length, requests per
//! minute/day, fault script and random faults) comes from a scenario ([`SimConfig`], TOML or
//! JSON) and can be changed at run time through the handle or the control API. Quotas run on
//! simulated time: scaled ([`SimConfig::time_scale`]) or manual ([`Simulator::advance`]).
//!
//! Answers are deterministic: the content of a reply starts with the served model id, then
//! an 8-hex-digit digest of the last user message, then filler words.
//!
//! # Example
//!
//! ```no_run
//! use orchestra_sim::{Fault, ModelConfig, SimConfig, Simulator};
//!
//! # async fn demo() -> Result<(), orchestra_sim::SimError> {
//! let config = SimConfig::builder()
//!     .manual_clock()
//!     .model(ModelConfig::new("google/gemini-2.5-flash:free").rpm(20).rpd(50))
//!     .model(ModelConfig::new("openai/gpt-4o-mini").then_fault(Fault::status(429), 2))
//!     .build()?;
//! let sim = Simulator::start(config).await?;
//! println!("{}", sim.base_url()); // http://127.0.0.1:PORT/api/v1
//! // … point a client at it, then:
//! assert_eq!(sim.model_stats("openai/gpt-4o-mini").rate_limited, 0);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Throughput
//!
//! `cargo xtask bench --only 7` drives an in-process simulator (one Tokio worker thread,
//! default scenario, zero latency) from a separate one-thread client runtime: about 113,000
//! JSON requests/s on the project's 2-core machine. Details in `docs/simulator.md`.

mod body;
mod clock;
mod config;
mod error;
mod fault;
mod server;
mod sim;
mod state;

pub use config::{
    Latency, MANUAL_CLOCK_START_MS, ModelConfig, Pricing, SimConfig, SimConfigBuilder,
};
pub use error::SimError;
pub use fault::{Fault, RandomFault, ScriptStep};
pub use sim::Simulator;
pub use state::{Attempt, CreditsInfo, GenerationRecord, ModelStats, RequestRecord, SimStats};
