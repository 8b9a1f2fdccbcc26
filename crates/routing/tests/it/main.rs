//! Router tests: strategies as pure orderings, then routing, agent models, cooldowns and
//! streaming failover against the orchestra simulator through the real OpenRouter provider.

#![allow(clippy::unwrap_used, clippy::expect_used)] // In tests a panic is the failure report.

mod scripted;
mod sim;
mod strategies;
mod streaming;
