//! Lookup latency at a given cache size.

use std::{
    fmt,
    time::{Duration, Instant},
};

use orchestra_config::{CacheEmbedder, CacheMode};
use orchestra_core::{ChatRequest, ChatResponse, Choice, Error, FinishReason, Message};
use serde::Serialize;

use crate::cache::{ResponseCache, guard_for};

/// Which lookup path [`lookup_latency`] times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LatencyMode {
    /// `LLM_CACHE=exact`: hash the request, find the key.
    Exact,
    /// `LLM_CACHE=semantic` with the default guard: exact tier, embedding, then the index
    /// bucket of questions with the same words that matter, and the guard.
    Semantic,
    /// Semantic with the guard and threshold of `LLM_CACHE_EMBEDDER=local` (no wording
    /// check, at most 2 words that matter changed), still with the built-in embedder: the
    /// bucket is the whole scope, and the index reads the word lists of the question's
    /// rarest words (or scans, for questions too short to filter) and scores only entries
    /// within 2 changed words.
    SemanticWholeScope,
}

impl LatencyMode {
    /// `exact`, `semantic` or `semantic_whole_scope`.
    pub fn as_str(self) -> &'static str {
        match self {
            LatencyMode::Exact => "exact",
            LatencyMode::Semantic => "semantic",
            LatencyMode::SemanticWholeScope => "semantic_whole_scope",
        }
    }
}

/// What [`lookup_latency`] measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LatencySummary {
    /// The path timed.
    pub mode: LatencyMode,
    /// Entries in the cache, all in one scope (every lookup searches them all).
    pub entries: usize,
    /// Lookups timed.
    pub lookups: usize,
    /// Median lookup time.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest lookup.
    pub max: Duration,
    /// Time to fill the cache (embedding included).
    pub fill: Duration,
}

impl fmt::Display for LatencySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        write!(
            f,
            "{} at {} entries: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, max {:.1} µs over {} lookups (filled in {:.1?})",
            self.mode.as_str(),
            self.entries,
            us(self.p50),
            us(self.p90),
            us(self.p99),
            us(self.max),
            self.lookups,
            self.fill
        )
    }
}

/// Fills an in-process cache with `entries` answers in **one** scope (the worst case) and
/// times `lookups` lookups that miss (the full path: key, exact tier and, in semantic
/// modes, the built-in embedder, the index search and the guard).
///
/// The cached questions are recombined halves of synthetic questions from a fixed
/// vocabulary, each made unique; see [`lookup_latency_with`] to use real questions. Takes
/// about 30 µs per entry to fill in a release build, and memory in proportion (about 1 GB
/// at 1,000,000 semantic entries).
///
/// ```
/// use orchestra_cache::eval::{LatencyMode, lookup_latency};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let summary = lookup_latency(1_000, LatencyMode::Semantic, 100).await.unwrap();
/// assert_eq!((summary.entries, summary.lookups), (1_000, 100));
/// assert!(summary.p50 <= summary.p99);
/// # });
/// ```
///
/// # Errors
///
/// An embedding error (none with the built-in embedder).
pub async fn lookup_latency(
    entries: usize,
    mode: LatencyMode,
    lookups: usize,
) -> Result<LatencySummary, Error> {
    let texts = synthetic_questions(lookups.max(500));
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    lookup_latency_with(entries, mode, &texts, lookups).await
}

/// [`lookup_latency`] with the cached questions made from `texts` (recombined halves, made
/// unique) and the first `lookups` of `texts` (cycled) as the questions looked up.
///
/// # Errors
///
/// An embedding error (none with the built-in embedder), or [`ErrorKind::Config`](
/// orchestra_core::ErrorKind::Config) when `texts` is empty.
pub async fn lookup_latency_with(
    entries: usize,
    mode: LatencyMode,
    texts: &[&str],
    lookups: usize,
) -> Result<LatencySummary, Error> {
    if texts.is_empty() {
        return Err(Error::config("lookup_latency needs at least one text"));
    }
    let builder = ResponseCache::builder().max_entries(entries.max(1) + 1);
    let cache = match mode {
        LatencyMode::Exact => builder.mode(CacheMode::Exact),
        LatencyMode::Semantic => builder.mode(CacheMode::Semantic),
        LatencyMode::SemanticWholeScope => builder
            .mode(CacheMode::Semantic)
            .guard(guard_for(CacheEmbedder::Local))
            .similarity(CacheEmbedder::Local.default_similarity()),
    }
    .build()?;

    let words: Vec<Vec<&str>> = texts
        .iter()
        .map(|text| text.split_whitespace().collect())
        .collect();
    let n = words.len();
    let started = Instant::now();
    let embedder = cache.embedder();
    let mut next = 0usize;
    while next < entries {
        let batch: Vec<String> = (next..entries.min(next + 256))
            .map(|i| {
                // Real question halves recombined: realistic words, lengths and overlaps.
                let a = &words[(i * 7919) % n];
                let b = &words[(i * 104_729 + 13) % n];
                format!(
                    "{} {} #{i}",
                    a[..a.len() / 2].join(" "),
                    b[b.len() / 2..].join(" ")
                )
            })
            .collect();
        let vectors = match &embedder {
            Some(embedder) => {
                let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
                embedder.embed(&refs).await?.into_iter().map(Some).collect()
            }
            None => vec![None; batch.len()],
        };
        for (text, vector) in batch.iter().zip(vectors) {
            let request = ChatRequest::new(vec![Message::user(text.as_str())]).model("bench/model");
            cache
                .preload("bench", &request, vector, &answer(text))
                .await;
        }
        next += batch.len();
    }
    let fill = started.elapsed();

    let mut times = Vec::with_capacity(lookups);
    for index in 0..lookups {
        let request = ChatRequest::new(vec![Message::user(texts[index % n])]).model("bench/model");
        let started = Instant::now();
        let found = cache.lookup("bench", &request).await;
        times.push(started.elapsed());
        drop(found);
    }
    times.sort();
    Ok(LatencySummary {
        mode,
        entries: cache.len(),
        lookups,
        p50: percentile(&times, 0.5),
        p90: percentile(&times, 0.9),
        p99: percentile(&times, 0.99),
        max: times.last().copied().unwrap_or_default(),
        fill,
    })
}

fn answer(text: &str) -> ChatResponse {
    let choice = Choice::new(0, Message::assistant(text), Some(FinishReason::Stop));
    ChatResponse::new("bench", "bench/model", "bench", vec![choice])
}

/// The `p` quantile (nearest rank) of sorted durations; zero when there are none.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() as f64 - 1.0) * p.clamp(0.0, 1.0)).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// `count` distinct question-like texts from a fixed vocabulary, deterministically.
fn synthetic_questions(count: usize) -> Vec<String> {
    const OPENINGS: &[&str] = &[
        "How do I",
        "What is the best way to",
        "Why does it take so long to",
        "Can I",
        "Is it safe to",
        "What happens if I",
        "When should I",
        "Where can I",
    ];
    const VERBS: &[&str] = &[
        "learn",
        "install",
        "configure",
        "reset",
        "cook",
        "repair",
        "compare",
        "choose",
        "clean",
        "paint",
        "measure",
        "update",
        "train",
        "sell",
        "store",
        "plan",
    ];
    const OBJECTS: &[&str] = &[
        "a bicycle chain",
        "my laptop battery",
        "an old wooden table",
        "the kitchen sink",
        "a small garden",
        "Python dictionaries",
        "a mortgage",
        "winter tires",
        "a sourdough starter",
        "the router firmware",
        "a used car",
        "solar panels",
        "a job interview",
        "a marathon",
        "a home network",
        "an electric guitar",
        "a tax return",
        "a rental contract",
        "a birthday party",
        "a resume",
    ];
    const ENDINGS: &[&str] = &[
        "?",
        " without spending much?",
        " in a small apartment?",
        " for the first time?",
        " before winter?",
        " on a tight schedule?",
        " without special tools?",
        " as a beginner?",
    ];
    (0..count)
        .map(|i| {
            format!(
                "{} {} {}{}",
                OPENINGS[i % OPENINGS.len()],
                VERBS[(i / 3) % VERBS.len()],
                OBJECTS[(i * 7 + i / 11) % OBJECTS.len()],
                ENDINGS[(i / 5 + i) % ENDINGS.len()]
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn percentiles() {
        let times: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&times, 0.5), Duration::from_micros(51));
        assert_eq!(percentile(&times, 0.99), Duration::from_micros(99));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[tokio::test]
    async fn every_mode_fills_the_cache_and_times_the_lookups() {
        for mode in [
            LatencyMode::Exact,
            LatencyMode::Semantic,
            LatencyMode::SemanticWholeScope,
        ] {
            let summary = lookup_latency(300, mode, 50).await.unwrap();
            assert_eq!(summary.entries, 300, "{mode:?}");
            assert_eq!(summary.lookups, 50);
            assert!(summary.p50 <= summary.p90 && summary.p90 <= summary.p99);
            assert!(summary.p99 <= summary.max);
            assert!(summary.to_string().contains("300 entries"));
        }
        let error = lookup_latency_with(10, LatencyMode::Exact, &[], 1)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), orchestra_core::ErrorKind::Config);
    }

    #[test]
    fn synthetic_questions_are_distinct_enough() {
        let questions = synthetic_questions(500);
        let mut unique = questions.clone();
        unique.sort();
        unique.dedup();
        assert!(unique.len() > 400, "{}", unique.len());
    }
}
