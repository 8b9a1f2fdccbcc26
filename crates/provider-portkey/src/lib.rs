//! The Portkey provider of orchestra-llm: chat through a Portkey AI gateway, the hosted one
//! or the open-source one you run yourself.
//!
//! [`Portkey`] implements [`orchestra_core::Provider`] as `"portkey"`:
//!
//! - **What goes out**: `POST {PORTKEY_BASE_URL}/chat/completions` with an inline
//!   `x-portkey-config` built from the targets (`PORTKEY_FALLBACKS`: provider,
//!   `override_params.model`, weight, `custom_host`, `api_key` — else `<PROVIDER>_API_KEY` —,
//!   `virtual_key`, `retry`), the strategy (`fallback`, `loadbalance`; `cost_aware` is ordered
//!   here by price and sent as `fallback`, see [`PortkeyBuilder::price_source`]), the gateway
//!   retry policy ([`RetryPolicy::from_classes`]: `LLM_MAX_RETRIES` on the statuses of
//!   `LLM_RETRYABLE_ERRORS`), `request_timeout` (`LLM_REQUEST_TIMEOUT` in ms) and a semantic
//!   `cache` (`PORTKEY_CACHE_ENABLED`, hosted only); plus `x-portkey-api-key`,
//!   `x-portkey-virtual-key`, `x-portkey-trace-id` (`TRACE_ID`, else a fresh id per request)
//!   and `x-portkey-metadata` with the request's agent type. A request that names a model
//!   puts it first.
//! - **What comes back**: `x-portkey-last-used-option-index` names the target that answered:
//!   the response's model and provider, and one [`Attempt`](orchestra_core::Attempt) per
//!   target the gateway fell back past (it reports no status for them, so their outcome is
//!   `server` with a detail saying so) and per gateway retry
//!   (`x-portkey-retry-attempt-count`, −1 = all used); `x-portkey-cache-status` becomes
//!   [`CacheStatus`](orchestra_core::CacheStatus) (a warning, once, when a cache was asked for
//!   and the gateway has none).
//! - **Errors**: the gateway's shapes (`{"status":"failure"}` validation errors, `html-message`
//!   transport failures, provider errors prefixed `"openai error: "`, 408 `timeout_error`, 412
//!   budget, 446 guardrail) map to [`ErrorKind`](orchestra_core::ErrorKind)s, with the
//!   upstream `Retry-After` (passed through by the gateway) as
//!   [`Error::retry_after`](orchestra_core::Error::retry_after). The gateway's own
//!   `use_retry_after_header` is never used: it is broken in 1.15.2.
//! - **Streaming** with the guarantees of the OpenRouter provider (shared code in
//!   `orchestra-openai-compat`): bounded SSE parsing, typed in-band errors, and a stream cut
//!   short is [`StreamInterrupted`](orchestra_core::ErrorKind::StreamInterrupted) with the
//!   partial text, never a clean end. `LLM_REQUEST_TIMEOUT` is the idle limit between chunks.
//! - **Credits**: the gateway has no balance API. [`Portkey::monitor_credits`] reports this
//!   client's usage ledger (responses, tokens and reported cost per target) and the balance
//!   of every OpenRouter account a target's key belongs to.
//! - **Tracing**: one `portkey.chat` span per request with OpenTelemetry GenAI attribute names
//!   plus the serving target, gateway retries and cache status.
//!
//! Credentials are [`Secret`](orchestra_core::Secret)s: the config header is marked
//! sensitive, and no key appears in an error, a log line or `Debug` output.
//! [`Portkey::config_for`] shows a request's config with keys redacted.
//!
//! See docs/portkey.md for what the open-source gateway does not do.

#![forbid(unsafe_code)]

mod client;
mod errors;
#[cfg(feature = "gateway-harness")]
pub mod harness;
mod ledger;
mod plan;
mod pricing;
mod target;
mod telemetry;

pub use client::{
    DEFAULT_BASE_URL, DEFAULT_OPENROUTER_BASE_URL, DEFAULT_PRICE_CACHE_TTL,
    DEFAULT_REQUEST_TIMEOUT, Portkey, PortkeyBuilder,
};
pub use ledger::{OpenRouterAccount, PortkeyCreditReport, TargetUsage};
pub use plan::Mode;
pub use pricing::DEFAULT_COMPLETION_ESTIMATE;
pub use target::{PortkeyTarget, RetryPolicy};

/// The provider name in attempts, errors and logs.
pub const PROVIDER_NAME: &str = "portkey";
