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
//! - **Timeouts**: `LLM_REQUEST_TIMEOUT` ([`OpenRouterBuilder::request_timeout`]) bounds a
//!   whole non-streaming request, and for a stream the wait for the response head and then
//!   each gap between chunks (an *idle* limit): a long answer that keeps arriving is never
//!   cut, a stalled one fails as `StreamInterrupted` with the text so far.
//! - **Account**: [`models`](orchestra_core::Provider::models) with exact decimal prices,
//!   cached for [`OpenRouterBuilder::models_cache_ttl`];
//!   [`OpenRouter::monitor_credits`] (balance, key cap and spend, and the `:free` model
//!   quotas that follow, as one [`CreditReport`]), [`OpenRouter::key_info`],
//!   [`credits`](orchestra_core::Provider::credits) (`/credits` + `/key`, tolerant of keys
//!   that may not read `/credits`), and [`OpenRouter::generation`].
//! - **Tracing**: one `openrouter.chat` span per request with OpenTelemetry GenAI attribute
//!   names (`gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.usage.input_tokens`,
//!   `gen_ai.usage.output_tokens`, `gen_ai.usage.cost_usd`, `http.response.status_code`,
//!   `latency_ms`, `error.type`); retry layers above add the attempt number on their span.
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
mod streaming;
mod telemetry;
mod wire;

pub use account::{
    CreditReport, FREE_MODEL_CREDITS_THRESHOLD_USD, FREE_MODEL_REQUESTS_PER_DAY,
    FREE_MODEL_REQUESTS_PER_DAY_WITH_CREDITS, FREE_MODEL_REQUESTS_PER_MINUTE, FreeModelQuota,
    Generation, KeyInfo, QuotaBasis,
};
pub use client::{
    DEFAULT_BASE_URL, DEFAULT_MODELS_CACHE_TTL, DEFAULT_REQUEST_TIMEOUT, MAX_SERVER_FALLBACKS,
    ModelChain, OpenRouter, OpenRouterBuilder,
};
pub use orchestra_openai_compat::{MAX_SSE_EVENT_BYTES, MAX_SSE_LINE_BYTES};
pub use preferences::{
    DataCollection, MaxPrice, ProviderPreferences, ProviderSort, SortBy, SortPartition,
};

/// The provider name in attempts, errors and logs.
pub const PROVIDER_NAME: &str = "openrouter";
