//! Integration tests: the client against the real open-source Portkey gateway (started per
//! test on loopback, upstream = the orchestra simulator), and against wiremock for the exact
//! bytes sent and the error shapes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // In tests a panic is the failure report.

mod gateway;
mod support;
mod wire;
