//! Integration tests: the shared HTTP path against real local servers (the orchestra
//! simulator, and a scripted raw TCP server for what no well-behaved server sends).

#![allow(clippy::unwrap_used, clippy::expect_used)] // In tests a panic is the failure report.

mod limits;
mod stream_end;
mod support;
