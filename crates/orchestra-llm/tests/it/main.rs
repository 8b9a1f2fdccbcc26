//! `LlmClient` end to end: built from environment-style settings, against the simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // In tests a panic is the failure report.

mod client;
mod fault_matrix;
