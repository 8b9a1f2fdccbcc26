//! Resilience for orchestra-llm providers: retries, client-side quotas, cooldowns.
//!
//! Each piece is a decorator over any [`Provider`](orchestra_core::Provider) and is itself a
//! `Provider`, with a matching [`Layer`](orchestra_core::Layer), so they stack in any order
//! and a router can wrap each of its targets:
//!
//! - [`Retry`] ([`RetryLayer`], [`RetryPolicy`]): full-jitter exponential backoff
//!   (`LLM_MAX_RETRIES`, `LLM_RETRY_DELAY`, `LLM_RETRY_MAX_DELAY`, `LLM_RETRYABLE_ERRORS`),
//!   `Retry-After` honoured, a deadline per call (`LLM_REQUEST_DEADLINE`); a wait that does
//!   not fit in the deadline is not taken. Every attempt is recorded.
//! - [`Quota`] ([`QuotaLayer`], [`Quotas`]): requests per minute, per UTC day and tokens
//!   per minute by model pattern (`LLM_RATE_LIMITS`), admitted atomically across quotas,
//!   in this process or, with the `redis` feature, shared through Redis
//!   (`LLM_RATE_LIMIT_REDIS_URL`).
//! - [`Cooldown`] ([`CooldownLayer`], [`Cooldowns`]): a model answering 429, a provider
//!   answering 402/401, or a model failing most of its recent answers rests, then one probe
//!   request goes first. The table is observable through [`Cooldowns::snapshot`].
//! - [`ResilienceStack`]: all three from the settings, sharing one clock.
//!
//! Time comes from a [`Clock`]: [`TokioClock`] in production, [`ManualClock`] in tests, so
//! no test sleeps. See `docs/resilience.md` for the design.
//!
//! ```
//! use std::sync::Arc;
//! use async_trait::async_trait;
//! use orchestra_config::Settings;
//! use orchestra_core::{ChatRequest, ChatResponse, ChatStream, Error, ErrorKind, Message, Provider};
//! use orchestra_resilience::{ManualClock, ResilienceStack, SeededRandom};
//!
//! /// Fails once with a 503, then answers.
//! #[derive(Default)]
//! struct Flaky(std::sync::atomic::AtomicU32);
//!
//! #[async_trait]
//! impl Provider for Flaky {
//!     fn name(&self) -> &str { "flaky" }
//!     async fn chat(&self, _: &ChatRequest) -> Result<ChatResponse, Error> {
//!         if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
//!             return Err(Error::new(ErrorKind::Server, "overloaded").with_status(503));
//!         }
//!         Ok(ChatResponse::new("gen-1", "a/b", "flaky", Vec::new()))
//!     }
//!     async fn chat_stream(&self, _: &ChatRequest) -> Result<ChatStream, Error> {
//!         Err(Error::unsupported("streaming"))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let stack = ResilienceStack::builder(&Settings::default())
//!     .clock(Arc::new(ManualClock::new()))
//!     .random(SeededRandom::new(1))
//!     .build()
//!     .unwrap();
//! let provider = stack.wrap(Flaky::default());
//! let response = provider.chat(&ChatRequest::new(vec![Message::user("hi")])).await.unwrap();
//! assert_eq!(response.metadata.attempts.len(), 1); // the failed one; `Flaky` records none
//! assert_eq!(response.metadata.attempts[0].status, Some(503));
//! # });
//! ```

#![forbid(unsafe_code)]

mod clock;
mod cooldown;
mod deadline;
mod quota;
mod retry;
mod stack;

pub use clock::{Clock, ClockFuture, ManualClock, ScaledClock, Timer, TokioClock, timer_at};
pub use cooldown::{
    Cooldown, CooldownEntry, CooldownLayer, CooldownPolicy, CooldownReason, CooldownTarget,
    Cooldowns,
};
pub use deadline::{
    current_deadline, enforced_deadline, fallback_available, with_deadline, with_enforced_deadline,
    with_fallback_available,
};
pub use quota::{DEFAULT_COMPLETION_ESTIMATE, Permit, Quota, QuotaLayer, Quotas, estimate_tokens};
pub use retry::{RandomSource, Retry, RetryLayer, RetryPolicy, SeededRandom, ThreadRandom};
pub use stack::{ResilienceStack, ResilienceStackBuilder, Resilient};
