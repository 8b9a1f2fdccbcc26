//! Workspace-level integration tests: scenarios that cross crate boundaries, run through the
//! public APIs the way users call them.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chat_agent;
mod config_check;
