//! Integration tests of orchestra-cache: the real OpenRouter provider against the simulator,
//! the HTTP embedder against a scripted server, and the shared store against a real Redis.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod embedder;
mod flight;
mod local;
mod redis;
mod sim;
