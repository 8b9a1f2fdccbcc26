//! Integration tests: the client against real local HTTP servers (wiremock, a raw TCP
//! server for stream timing, and the orchestra simulator).

#![allow(clippy::unwrap_used, clippy::expect_used)] // In tests a panic is the failure report.

mod account;
mod chat;
mod errors;
mod sim;
mod stream;
mod support;
mod tracing_logs;
