//! The OpenRouter provider of orchestra-llm.
//!
//! [`OpenRouter`] implements [`orchestra_core::Provider`] as `"openrouter"`:
//!
//! - **Chat** (`POST /chat/completions`) with `Authorization: Bearer`, the
//!   `OPENROUTER_HEADERS` (a title goes out as both `X-OpenRouter-Title` and `X-Title`), and
//!   **server-side fallbacks**: the request's model (or the default model) as `model`, then up
//!   to [`MAX_SERVER_FALLBACKS`] fallbacks as `models`; the rest stay available through
//!   [`OpenRouter::remaining_fallbacks`] / [`ModelChain::remaining`] for client-side routing.
//!   The response reports the model that actually served, the upstream provider, usage with
//!   `cost`, and one [`Attempt`](orchestra_core::Attempt).
//! - **Routing preferences**: a typed [`ProviderPreferences`] per client; a request overrides
//!   it key by key through `request.extra["provider"]` (the request wins).
//! - **Streaming** over SSE with a bounded parser ([`MAX_SSE_LINE_BYTES`],
//!   [`MAX_SSE_EVENT_BYTES`]); keep-alive comments are skipped, in-band errors become typed
//!   errors, and a stream cut before `[DONE]` or a finish reason is
//!   [`StreamInterrupted`](orchestra_core::ErrorKind::StreamInterrupted) with the partial
//!   text, never a clean end.
//! - **Errors**: every OpenRouter status and error body maps to an
//!   [`ErrorKind`](orchestra_core::ErrorKind) (refined by `error_type`, `availability`,
//!   context-length and moderation messages), with `Retry-After` /
//!   `availability.retry_after` / `X-RateLimit-Reset` as the retry hint. An HTTP 200 whose
//!   body is an error is an error. A 402 "can only afford N" says N
//!   ([`Error::affordable_max_tokens`](orchestra_core::Error::affordable_max_tokens)).
//! - **Account**: [`models`](orchestra_core::Provider::models),
//!   [`credits`](orchestra_core::Provider::credits) (`/credits` + `/key`, tolerant of keys
//!   that may not read `/credits`), and [`OpenRouter::generation`].
//!
//! TLS is rustls with its built-in provider; never OpenSSL, and nothing installed
//! process-wide, so other `reqwest` clients in the application keep working.
//!
//! The API key is a [`Secret`](orchestra_core::Secret): it appears in no error, log or
//! `Debug` output.

#![forbid(unsafe_code)]

mod account;
mod client;
mod errors;
mod preferences;
mod sse;
mod streaming;
mod wire;

pub use account::Generation;
pub use client::{
    DEFAULT_BASE_URL, DEFAULT_REQUEST_TIMEOUT, MAX_SERVER_FALLBACKS, ModelChain, OpenRouter,
    OpenRouterBuilder,
};
pub use preferences::{
    DataCollection, MaxPrice, ProviderPreferences, ProviderSort, SortBy, SortPartition,
};
pub use streaming::{MAX_SSE_EVENT_BYTES, MAX_SSE_LINE_BYTES};

/// The provider name in attempts, errors and logs.
pub const PROVIDER_NAME: &str = "openrouter";
