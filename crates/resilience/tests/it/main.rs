//! Integration tests of orchestra-resilience. Time is virtual everywhere: a
//! [`ManualClock`](orchestra_resilience::ManualClock), a stepping clock for concurrent
//! bursts (`support::SteppingClock`), or tokio's paused clock for tests without sockets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cooldown;
mod quota;
mod redis;
mod retry;
mod support;
