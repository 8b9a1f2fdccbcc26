//! Counters: what the cache saved.

use std::{
    fmt,
    sync::atomic::{AtomicU64, Ordering},
};

use orchestra_core::{CacheStatus, Usage};
use serde::Serialize;

/// A snapshot of a cache's counters since it was built.
///
/// ```
/// use orchestra_cache::CacheStats;
///
/// let mut stats = CacheStats::default();
/// (stats.hits, stats.semantic_hits, stats.misses) = (3, 1, 4);
/// assert_eq!(stats.lookups(), 8);
/// assert_eq!(stats.hit_rate(), 0.5);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CacheStats {
    /// Answers served from the exact tier.
    pub hits: u64,
    /// Answers served from the semantic tier.
    pub semantic_hits: u64,
    /// Lookups that found nothing (the request went upstream).
    pub misses: u64,
    /// Requests that waited for an identical request already in flight and were answered
    /// with its result (counted in `hits` too when that result was an answer).
    pub coalesced: u64,
    /// Requests that skipped the cache (`CacheControl::Bypass`, or the cache is off).
    pub bypassed: u64,
    /// Semantic candidates above the threshold that the near-miss guard refused.
    pub guard_rejections: u64,
    /// Answers stored.
    pub stores: u64,
    /// Entries dropped to stay under the size limit.
    pub evictions: u64,
    /// Embedding or shared-store failures (the request went on without the cache).
    pub errors: u64,
    /// Prompt and completion tokens of the answers served from the cache.
    pub tokens_saved: u64,
    /// Upstream cost of the answers served from the cache, in USD, when it was reported.
    pub cost_saved_usd: f64,
}

impl CacheStats {
    /// Requests that looked the cache up.
    pub fn lookups(&self) -> u64 {
        self.hits + self.semantic_hits + self.misses
    }

    /// Share of lookups answered from the cache, 0 when there were none.
    pub fn hit_rate(&self) -> f64 {
        match self.lookups() {
            0 => 0.0,
            #[allow(clippy::cast_precision_loss)]
            lookups => (self.hits + self.semantic_hits) as f64 / lookups as f64,
        }
    }
}

impl fmt::Display for CacheStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} hits, {} semantic hits, {} misses ({:.1}% served from cache), {} tokens and ${:.6} saved",
            self.hits,
            self.semantic_hits,
            self.misses,
            self.hit_rate() * 100.0,
            self.tokens_saved,
            self.cost_saved_usd
        )
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    semantic_hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
    bypassed: AtomicU64,
    guard_rejections: AtomicU64,
    stores: AtomicU64,
    evictions: AtomicU64,
    errors: AtomicU64,
    tokens_saved: AtomicU64,
    /// f64 bits.
    cost_saved_usd: AtomicU64,
}

impl Counters {
    pub(crate) fn served(&self, status: CacheStatus, usage: Option<&Usage>) {
        match status {
            CacheStatus::Hit => self.hits.fetch_add(1, Ordering::Relaxed),
            CacheStatus::SemanticHit { .. } => self.semantic_hits.fetch_add(1, Ordering::Relaxed),
            _ => return,
        };
        if let Some(usage) = usage {
            self.tokens_saved
                .fetch_add(u64::from(usage.total_tokens), Ordering::Relaxed);
            if let Some(cost) = usage
                .cost_usd
                .filter(|cost| cost.is_finite() && *cost > 0.0)
            {
                let _ = self.cost_saved_usd.fetch_update(
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                    |bits| Some((f64::from_bits(bits) + cost).to_bits()),
                );
            }
        }
    }

    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn coalesced(&self) {
        self.coalesced.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn bypass(&self) {
        self.bypassed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn guard_rejection(&self) {
        self.guard_rejections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn store(&self) {
        self.stores.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn evictions(&self, count: u64) {
        self.evictions.fetch_add(count, Ordering::Relaxed);
    }

    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            semantic_hits: self.semantic_hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            bypassed: self.bypassed.load(Ordering::Relaxed),
            guard_rejections: self.guard_rejections.load(Ordering::Relaxed),
            stores: self.stores.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            tokens_saved: self.tokens_saved.load(Ordering::Relaxed),
            cost_saved_usd: f64::from_bits(self.cost_saved_usd.load(Ordering::Relaxed)),
        }
    }
}
