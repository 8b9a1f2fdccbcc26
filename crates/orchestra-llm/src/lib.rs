//! Call LLMs through OpenRouter and Portkey without being stopped by rate limits, outages or
//! cost.
//!
//! This crate re-exports the `orchestra-*` crates behind cargo features, so an application
//! compiles only what it uses, and wires them into [`LlmClient`]: the preferred provider in
//! resilience layers, under a router, behind the cache, with a usage ledger — all from the
//! environment. It contains no logic of its own.
//!
//! # Feature flags
//!
//! - `config` *(enabled by default)*: [`config`], typed settings from the environment and
//!   `.env`.
//! - `openrouter` *(enabled by default)*: [`openrouter`], the OpenRouter provider with
//!   server-side fallbacks, streaming, models, credits and `monitor_credits`.
//! - `portkey` *(enabled by default)*: [`portkey`], the Portkey gateway provider.
//! - `routing` *(enabled by default)*: [`routing`], client-side fallback, loadbalance,
//!   cost-aware and latency-aware routing, agent routing and streaming failover.
//! - `resilience` *(enabled by default)*: [`resilience`], retries with backoff and
//!   `Retry-After`, client-side quotas and cooldowns as provider decorators.
//! - `resilience-redis`: quotas shared between processes through Redis.
//! - `cache` *(enabled by default)*: [`cache`], an exact and semantic response cache with a
//!   near-miss guard.
//! - `cache-redis`: cached answers shared between processes through Redis.
//!
//! The contract types of `orchestra-core` (requests, responses, streams, [`Error`],
//! [`Provider`]) are always available at the crate root.
//!
//! ```
//! use orchestra_llm::{ChatRequest, ErrorKind, Message};
//!
//! let request = ChatRequest::new(vec![Message::user("Hello")]).agent_type("researcher");
//! assert_eq!(request.agent_type.as_deref(), Some("researcher"));
//! assert!(ErrorKind::RateLimited.is_transient());
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[doc(inline)]
pub use orchestra_core::*;

#[cfg(feature = "config")]
#[doc(inline)]
pub use orchestra_config as config;

#[cfg(feature = "openrouter")]
#[doc(inline)]
pub use orchestra_provider_openrouter as openrouter;

#[cfg(feature = "portkey")]
#[doc(inline)]
pub use orchestra_provider_portkey as portkey;

#[cfg(feature = "resilience")]
#[doc(inline)]
pub use orchestra_resilience as resilience;

#[cfg(feature = "routing")]
#[doc(inline)]
pub use orchestra_routing as routing;

#[cfg(feature = "cache")]
#[doc(inline)]
pub use orchestra_cache as cache;

#[cfg(any(feature = "openrouter", feature = "portkey"))]
mod client;

#[cfg(any(feature = "openrouter", feature = "portkey"))]
pub use client::{ChatCall, CreditStatus, LlmClient, LlmClientBuilder, LlmProvider};

/// Compiles and runs the README's example, so the front page never drifts from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
