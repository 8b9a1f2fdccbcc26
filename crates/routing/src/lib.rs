//! Routing for orchestra-llm: a [`Router`] that is itself a
//! [`Provider`](orchestra_core::Provider), holding [`Target`]s (a provider and a model, each
//! usually behind its own resilience stack) and a pluggable [`Strategy`].
//!
//! Built-in strategies: [`Fallback`] (configured order), [`Loadbalance`] (weighted random
//! over healthy targets), [`CostAware`] (cheapest estimated cost first, context length
//! checked, free models when the balance cannot pay) and [`LeastLatency`] (power of two
//! choices over moving-average latency). Implement [`Strategy`] for your own; see
//! `docs/strategies.md`.
//!
//! Agent routing (`AGENT_MODEL_MAP`), cooldowns, waiting for the earliest recovery within the
//! deadline, and streaming failover are the router's, whatever the strategy.

#![forbid(unsafe_code)]

mod estimate;
mod router;
mod settings;
mod strategy;
mod stream;
mod target;

pub use estimate::estimate_prompt_tokens;
pub use router::{
    Cooldown, DEFAULT_DEADLINE, DEFAULT_IDLE_TIMEOUT, FailoverPolicy, ROUTER_NAME, Router,
    RouterBuilder,
};
pub use settings::strategy_for;
pub use strategy::{
    Candidate, CostAware, Fallback, LeastLatency, Loadbalance, RoutingContext, Strategy,
};
pub use target::{Health, Target, TargetHealth};

/// The examples in `docs/strategies.md`, compiled as doctests so the page cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/strategies.md")]
struct StrategiesDoc;
