//! A response cache for orchestra-llm providers that answers only when it is right to.
//!
//! [`ResponseCache`] wraps any [`Provider`](orchestra_core::Provider) (it is a
//! [`Layer`](orchestra_core::Layer)) and is itself a provider, [`Cache`]:
//!
//! 1. **Exact tier**: a 128-bit hash of the normalised request (provider, model, every
//!    message, sampling parameters, tools, response format, `extra` fields, agent type,
//!    end-user id; whitespace runs collapsed) finds an identical earlier request.
//! 2. **Semantic tier** (`LLM_CACHE=semantic`): the last user turn is embedded and compared
//!    with earlier questions *of the same scope* (everything but that turn must be equal).
//!    A candidate needs cosine similarity ≥ `LLM_CACHE_SIMILARITY` **and** must pass the
//!    near-miss [`Guard`] (same numbers, names and polarity; no swapped content word).
//!
//! A hit is reported in `response.metadata.cache` ([`CacheStatus`](orchestra_core::CacheStatus)
//! `Hit` or `SemanticHit { similarity }`) and as a `tracing` event (target `orchestra_cache`).
//! Only complete successful answers are stored; streams are stored when they finish and
//! replayed as streams. [`CacheControl`] bypasses or refreshes per request. [`CacheStats`]
//! counts hits, misses and the tokens and dollars saved.
//!
//! Identical requests in flight at the same time share one upstream call.
//!
//! The built-in [`LexicalEmbedder`] needs no model and no network; `LocalEmbedder` (feature
//! `local-embed`, `LLM_CACHE_EMBEDDER=local`) runs a MiniLM sentence-embedding model offline;
//! [`HttpEmbedder`] uses any OpenAI-compatible `/embeddings` endpoint; other embedders
//! implement [`Embedder`]. With the `redis` feature and `LLM_CACHE_REDIS_URL`, processes share
//! entries through Redis.
//!
//! Precision, recall, call reduction and lookup latency are measured on labelled paraphrase
//! pairs by `cargo xtask cache-eval`; docs/caching.md has the figures.

#![forbid(unsafe_code)]

mod cache;
mod clock;
mod control;
mod embed;
pub mod eval;
mod guard;
mod index;
mod key;
mod stats;
mod store;
mod text;

pub use cache::{Cache, CacheBuilder, ResponseCache};
pub use clock::{Clock, ManualClock, SystemClock};
pub use control::{CONTROL_KEY, CacheControl, CacheRequestExt};
#[cfg(feature = "local-embed")]
pub use embed::LocalEmbedder;
pub use embed::lexical::LexicalOptions;
pub use embed::{Embedder, HttpEmbedder, HttpEmbedderBuilder, LexicalEmbedder, cosine};
pub use guard::{Guard, Verdict};
pub use orchestra_config::{CacheEmbedder, CacheMode, CacheSettings};
pub use stats::CacheStats;
