//! Measuring the semantic tier on labelled question pairs.
//!
//! The input is a TSV file of pairs (`label`, `question1`, `question2`, `source`, separated by tabs; label `1` when the
//! two mean the same), such as `shared/data/paraphrase/dev.tsv`. The functions here score
//! every pair exactly as the cache does (the embedder, the index's quantised similarity and
//! the [`Guard`]), compute precision and recall at a threshold, pick the threshold with the
//! best recall at a required precision, split off a held-out part, and replay the questions
//! through a real [`ResponseCache`] to count the upstream calls saved.
//! `cargo xtask cache-eval` prints all of it.
//!
//! ```
//! use orchestra_cache::eval::{Confusion, parse_pairs, score_pairs};
//! use orchestra_cache::{Guard, LexicalEmbedder};
//!
//! let tsv = "label\tquestion1\tquestion2\tsource\n\
//!            1\tHow do I learn Python?\thow do i learn python\tqqp\n\
//!            0\tWhat is the capital of France?\tWhat is the capital of Germany?\tqqp\n";
//! let pairs = parse_pairs(tsv).unwrap();
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let scored = score_pairs(&LexicalEmbedder::default(), Guard::default(), &pairs).await.unwrap();
//! let confusion = Confusion::at(&scored, 0.9, true);
//! assert_eq!((confusion.true_hits, confusion.false_hits), (1, 0));
//! # });
//! ```

mod latency;
mod word_lists;

pub use latency::{LatencyMode, LatencySummary, lookup_latency, lookup_latency_with};
pub use word_lists::{WordListCheck, check_word_lists};

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use async_trait::async_trait;
use orchestra_core::{
    CacheStatus, ChatRequest, ChatResponse, ChatStream, Choice, Error, FinishReason, Message,
    Provider, Usage,
};
use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64;

use crate::{
    cache::ResponseCache,
    embed::Embedder,
    guard::{Guard, Signature, Verdict},
    index::Quantised,
};

/// One labelled pair.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LabelledPair {
    /// Whether the two texts mean the same (the cache should hit).
    pub same: bool,
    /// The first text.
    pub first: String,
    /// The second text.
    pub second: String,
    /// Where the pair comes from (`qqp`, `paws-wiki`).
    pub source: String,
}

/// Parses tab-separated `label`, `question1`, `question2`, `source` lines after a header line. No quoting: a
/// `"` is a literal character.
///
/// # Errors
///
/// The line number and what is wrong with it.
pub fn parse_pairs(tsv: &str) -> Result<Vec<LabelledPair>, String> {
    let mut pairs = Vec::new();
    for (number, line) in tsv.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [label, first, second, source] = fields.as_slice() else {
            return Err(format!(
                "line {}: expected 4 tab-separated fields, found {}",
                number + 1,
                fields.len()
            ));
        };
        let same = match *label {
            "1" => true,
            "0" => false,
            other => {
                return Err(format!(
                    "line {}: label `{other}` is not 0 or 1",
                    number + 1
                ));
            }
        };
        pairs.push(LabelledPair {
            same,
            first: (*first).to_owned(),
            second: (*second).to_owned(),
            source: (*source).to_owned(),
        });
    }
    Ok(pairs)
}

/// Splits pairs into a tuning part and a held-out part of about `holdout_percent` %.
///
/// Pairs that share a text (compared lowercased) stay on the same side, so no question of
/// the held-out part was seen while tuning. Deterministic.
pub fn split(
    pairs: &[LabelledPair],
    holdout_percent: u64,
) -> (Vec<LabelledPair>, Vec<LabelledPair>) {
    let components = Components::of(pairs, |_| true);
    let mut tune = Vec::new();
    let mut holdout = Vec::new();
    for pair in pairs {
        let root = components.root_text(&pair.first);
        if xxh3_64(root.as_bytes()) % 100 < holdout_percent {
            holdout.push(pair.clone());
        } else {
            tune.push(pair.clone());
        }
    }
    (tune, holdout)
}

/// Union-find over lowercased texts.
struct Components {
    ids: HashMap<String, usize>,
    parent: Vec<usize>,
    /// The smallest text of each component, at its root.
    smallest: Vec<String>,
}

impl Components {
    fn of(pairs: &[LabelledPair], linked: impl Fn(&LabelledPair) -> bool) -> Self {
        let mut components = Components {
            ids: HashMap::new(),
            parent: Vec::new(),
            smallest: Vec::new(),
        };
        for pair in pairs {
            let a = components.id(&pair.first);
            let b = components.id(&pair.second);
            if linked(pair) {
                components.union(a, b);
            }
        }
        components
    }

    fn id(&mut self, text: &str) -> usize {
        let text = text.to_lowercase();
        if let Some(id) = self.ids.get(&text) {
            return *id;
        }
        let id = self.parent.len();
        self.parent.push(id);
        self.smallest.push(text.clone());
        self.ids.insert(text, id);
        id
    }

    fn find(&self, mut id: usize) -> usize {
        while self.parent[id] != id {
            id = self.parent[id];
        }
        id
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        let (root, child) = if self.smallest[a] <= self.smallest[b] {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[child] = root;
    }

    fn root_of(&self, text: &str) -> Option<usize> {
        self.ids.get(&text.to_lowercase()).map(|id| self.find(*id))
    }

    fn root_text(&self, text: &str) -> String {
        self.root_of(text)
            .map_or_else(|| text.to_lowercase(), |root| self.smallest[root].clone())
    }
}

/// A pair with the cache's view of it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ScoredPair {
    /// The label: the cache should hit.
    pub same: bool,
    /// Where the pair comes from.
    pub source: String,
    /// The similarity the cache's index computes (quantised cosine).
    pub similarity: f32,
    /// What the near-miss guard says.
    pub verdict: Verdict,
}

/// Scores every pair with `embedder` and `guard`, as the cache would.
///
/// # Errors
///
/// The embedder's error.
pub async fn score_pairs(
    embedder: &dyn Embedder,
    guard: Guard,
    pairs: &[LabelledPair],
) -> Result<Vec<ScoredPair>, Error> {
    let mut scored = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(64) {
        let texts: Vec<&str> = chunk
            .iter()
            .flat_map(|pair| [pair.first.as_str(), pair.second.as_str()])
            .collect();
        let vectors = embedder.embed(&texts).await?;
        for (pair, vectors) in chunk.iter().zip(vectors.chunks(2)) {
            let [a, b] = vectors else {
                return Err(Error::new(
                    orchestra_core::ErrorKind::Decode,
                    "the embedder returned fewer vectors than texts",
                ));
            };
            let similarity = Quantised::new(a).dot(&Quantised::new(b));
            scored.push(ScoredPair {
                same: pair.same,
                source: pair.source.clone(),
                similarity,
                verdict: guard.judge(
                    &Signature::of(&pair.first),
                    &Signature::of(&pair.second),
                    similarity,
                ),
            });
        }
    }
    Ok(scored)
}

/// The same pairs judged by another guard, keeping their similarities: tuning the guard
/// needs only one embedding pass. `scored` must come from [`score_pairs`] on `pairs`.
pub fn with_guard(pairs: &[LabelledPair], scored: &[ScoredPair], guard: Guard) -> Vec<ScoredPair> {
    pairs
        .iter()
        .zip(scored)
        .map(|(pair, scored)| ScoredPair {
            verdict: guard.judge(
                &Signature::of(&pair.first),
                &Signature::of(&pair.second),
                scored.similarity,
            ),
            ..scored.clone()
        })
        .collect()
}

/// Hits and misses against the labels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Confusion {
    /// Same meaning, served from the cache.
    pub true_hits: usize,
    /// Different meaning, served from the cache: a wrong answer.
    pub false_hits: usize,
    /// Same meaning, not served.
    pub missed: usize,
    /// Different meaning, not served.
    pub true_misses: usize,
}

impl Confusion {
    /// The outcome at `threshold`, with or without the guard.
    pub fn at(scored: &[ScoredPair], threshold: f32, guard: bool) -> Self {
        Self::at_where(scored, threshold, guard, |_| true)
    }

    /// The outcome at `threshold` for the pairs that `keep` selects (a source, say).
    pub fn at_where(
        scored: &[ScoredPair],
        threshold: f32,
        guard: bool,
        keep: impl Fn(&ScoredPair) -> bool,
    ) -> Self {
        let mut confusion = Confusion::default();
        for pair in scored.iter().filter(|pair| keep(pair)) {
            let hit = pair.similarity >= threshold && (!guard || pair.verdict == Verdict::Same);
            match (pair.same, hit) {
                (true, true) => confusion.true_hits += 1,
                (false, true) => confusion.false_hits += 1,
                (true, false) => confusion.missed += 1,
                (false, false) => confusion.true_misses += 1,
            }
        }
        confusion
    }

    /// Of the hits, the share that were right; 1 when there was no hit.
    pub fn precision(&self) -> f64 {
        ratio(self.true_hits, self.true_hits + self.false_hits).unwrap_or(1.0)
    }

    /// Of the pairs that should hit, the share that did; 0 when there were none.
    pub fn recall(&self) -> f64 {
        ratio(self.true_hits, self.true_hits + self.missed).unwrap_or(0.0)
    }
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^52
fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The threshold with the highest recall whose precision is at least `min_precision`
/// (ties: the higher threshold), among the similarities that occur, rounded to 0.005.
pub fn best_threshold(
    scored: &[ScoredPair],
    min_precision: f64,
    guard: bool,
) -> Option<(f32, Confusion)> {
    let mut best: Option<(f32, Confusion)> = None;
    for step in (0..=200).rev() {
        #[allow(clippy::cast_precision_loss)]
        let threshold = step as f32 * 0.005;
        let confusion = Confusion::at(scored, threshold, guard);
        if confusion.precision() < min_precision || confusion.true_hits == 0 {
            continue;
        }
        if best.is_none_or(|(_, b)| confusion.recall() > b.recall()) {
            best = Some((threshold, confusion));
        }
    }
    best
}

/// What happened when the questions were replayed through a cache.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WorkloadReport {
    /// Requests sent to the cache.
    pub requests: u64,
    /// Requests that reached the upstream.
    pub upstream_calls: u64,
    /// Exact hits.
    pub exact_hits: u64,
    /// Semantic hits.
    pub semantic_hits: u64,
    /// Hits whose answer was for a text labelled (directly or through other pairs) the same.
    pub correct_hits: u64,
    /// Hits whose answer was for a text labelled different.
    pub wrong_hits: u64,
    /// Hits whose answer was for a text with no label linking the two (counted as wrong in
    /// [`hit_precision`](Self::hit_precision)).
    pub unlabelled_hits: u64,
    /// Requests whose meaning had been asked before in other words (the most the semantic
    /// tier could save).
    pub repeated_meaning: u64,
    /// The unlabelled hits: (question asked, question whose answer was served), for a
    /// person to judge.
    pub unlabelled: Vec<(String, String)>,
}

impl WorkloadReport {
    /// Share of requests that did not reach the upstream.
    pub fn reduction(&self) -> f64 {
        #[allow(clippy::cast_possible_truncation)]
        ratio(
            (self.requests - self.upstream_calls) as usize,
            self.requests as usize,
        )
        .unwrap_or(0.0)
    }

    /// Share of hits known to be right.
    pub fn hit_precision(&self) -> f64 {
        #[allow(clippy::cast_possible_truncation)]
        ratio(
            self.correct_hits as usize,
            (self.exact_hits + self.semantic_hits) as usize,
        )
        .unwrap_or(1.0)
    }

    /// Share of [`repeated_meaning`](Self::repeated_meaning) requests served from the cache.
    pub fn repeat_coverage(&self) -> f64 {
        #[allow(clippy::cast_possible_truncation)]
        ratio(self.semantic_hits as usize, self.repeated_meaning as usize).unwrap_or(0.0)
    }
}

/// An upstream that answers with the question it was asked, and counts calls.
#[derive(Debug, Default)]
struct EchoUpstream {
    calls: AtomicU64,
}

#[async_trait]
impl Provider for EchoUpstream {
    fn name(&self) -> &str {
        "eval"
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let question = request.last_user_text().unwrap_or_default().into_owned();
        let choice = Choice::new(0, Message::assistant(question), Some(FinishReason::Stop));
        let mut response = ChatResponse::new("eval", "eval/model", "eval", vec![choice]);
        response.usage = Some(Usage::new(20, 100));
        Ok(response)
    }

    async fn chat_stream(&self, _request: &ChatRequest) -> Result<ChatStream, Error> {
        Err(Error::unsupported(
            "the evaluation upstream does not stream",
        ))
    }
}

/// Sends every text of `pairs` (both sides, in an order shuffled by `seed`) through `cache`
/// as one conversation scope, and checks each hit against the labels.
///
/// # Errors
///
/// An error of the cache (none with the in-process store and the lexical embedder).
pub async fn replay_workload(
    cache: &ResponseCache,
    pairs: &[LabelledPair],
    seed: u64,
) -> Result<WorkloadReport, Error> {
    let same = Components::of(pairs, |pair| pair.same);
    let mut different: HashMap<(usize, usize), ()> = HashMap::new();
    for pair in pairs.iter().filter(|pair| !pair.same) {
        if let (Some(a), Some(b)) = (same.root_of(&pair.first), same.root_of(&pair.second)) {
            different.insert((a.min(b), a.max(b)), ());
        }
    }
    let mut texts: Vec<&str> = pairs
        .iter()
        .flat_map(|pair| [pair.first.as_str(), pair.second.as_str()])
        .collect();
    texts.sort_by_key(|text| xxh3_64(format!("{seed}:{text}").as_bytes()));

    let upstream = Arc::new(EchoUpstream::default());
    let provider = cache.wrap(Arc::clone(&upstream));
    let mut report = WorkloadReport::default();
    let mut asked_meanings: HashMap<usize, ()> = HashMap::new();
    let mut asked_texts: HashMap<String, ()> = HashMap::new();
    for text in texts {
        let request = ChatRequest::new(vec![Message::user(text)]).model("eval/model");
        let root = same.root_of(text);
        let lowered = text.to_lowercase();
        if !asked_texts.contains_key(&lowered)
            && root.is_some_and(|root| asked_meanings.contains_key(&root))
        {
            report.repeated_meaning += 1;
        }
        let response = provider.chat(&request).await?;
        report.requests += 1;
        match response.metadata.cache {
            CacheStatus::Hit => report.exact_hits += 1,
            CacheStatus::SemanticHit { .. } => report.semantic_hits += 1,
            _ => {}
        }
        if matches!(
            response.metadata.cache,
            CacheStatus::Hit | CacheStatus::SemanticHit { .. }
        ) {
            let served = response.content().unwrap_or_default();
            let served_root = same.root_of(served);
            if served.to_lowercase() == lowered || (served_root.is_some() && served_root == root) {
                report.correct_hits += 1;
            } else if let (Some(a), Some(b)) = (root, served_root)
                && different.contains_key(&(a.min(b), a.max(b)))
            {
                report.wrong_hits += 1;
            } else {
                report.unlabelled_hits += 1;
                report.unlabelled.push((text.to_owned(), served.to_owned()));
            }
        }
        if let Some(root) = root {
            asked_meanings.insert(root, ());
        }
        asked_texts.insert(lowered, ());
    }
    report.upstream_calls = upstream.calls.load(Ordering::Relaxed);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LexicalEmbedder;

    const SAMPLE: &str = "label\tquestion1\tquestion2\tsource
1\tHow do I learn Python quickly?\tHow can I learn python quickly?\tqqp
1\tWhat is the best way to lose weight?\tWhat's the best way to lose weight?\tqqp
0\tHow long does allergy season last in North America?\tHow long does allergy season last in South America?\tqqp
0\tCan I deposit Rs. 50000 without a PAN card?\tCan I deposit rs. 240000 without a PAN card?\tqqp
0\tWhat is the capital of France?\tWhat is the capital of Germany?\tqqp
1\tHow do I learn Python quickly?\tWhat is the fastest way to learn Python?\tqqp
0\tHow do I learn Python quickly?\tHow do I learn Java quickly?\tqqp
";

    #[test]
    fn parses_and_rejects_malformed_lines() {
        let pairs = parse_pairs(SAMPLE).unwrap();
        assert_eq!(pairs.len(), 7);
        assert!(pairs[0].same && !pairs[2].same);
        assert_eq!(pairs[0].source, "qqp");
        assert!(
            parse_pairs("h\n2\ta\tb\tqqp\n")
                .unwrap_err()
                .contains("line 2")
        );
        assert!(
            parse_pairs("h\n1\ta\tb\n")
                .unwrap_err()
                .contains("4 tab-separated")
        );
    }

    #[test]
    fn split_keeps_shared_questions_together() {
        let pairs = parse_pairs(SAMPLE).unwrap();
        for percent in [0, 30, 50, 100] {
            let (tune, holdout) = split(&pairs, percent);
            assert_eq!(tune.len() + holdout.len(), pairs.len());
            let python = |part: &Vec<LabelledPair>| {
                part.iter()
                    .filter(|pair| pair.first.starts_with("How do I learn Python"))
                    .count()
            };
            // The three pairs sharing "How do I learn Python quickly?" are never split.
            assert!(python(&tune) == 0 || python(&holdout) == 0, "{percent}");
        }
    }

    #[test]
    fn confusion_and_threshold_choice() {
        let scored = |same, similarity, verdict| ScoredPair {
            same,
            source: "qqp".into(),
            similarity,
            verdict,
        };
        let pairs = [
            scored(true, 0.95, Verdict::Same),
            scored(true, 0.85, Verdict::Same),
            scored(false, 0.9, Verdict::Same),
            scored(false, 0.97, Verdict::DifferentNames),
        ];
        let with_guard = Confusion::at(&pairs, 0.8, true);
        assert_eq!((with_guard.true_hits, with_guard.false_hits), (2, 1));
        let without = Confusion::at(&pairs, 0.8, false);
        assert_eq!(without.false_hits, 2);
        assert!((with_guard.precision() - 2.0 / 3.0).abs() < 1e-9);
        let (threshold, best) = best_threshold(&pairs, 1.0, true).unwrap();
        assert!(threshold > 0.9 && threshold <= 0.95, "{threshold}");
        assert_eq!((best.true_hits, best.false_hits), (1, 0));
        assert_eq!(Confusion::default().precision(), 1.0);
    }

    #[tokio::test]
    async fn scoring_and_workload_on_a_small_sample() {
        let pairs = parse_pairs(SAMPLE).unwrap();
        let scored = score_pairs(&LexicalEmbedder::default(), Guard::default(), &pairs)
            .await
            .unwrap();
        let confusion = Confusion::at(&scored, 0.8, true);
        assert_eq!(confusion.false_hits, 0, "{scored:?}");
        assert!(confusion.true_hits >= 2, "{scored:?}");

        let cache = ResponseCache::builder().similarity(0.8).build().unwrap();
        let report = replay_workload(&cache, &pairs, 7).await.unwrap();
        assert_eq!(report.requests, 14);
        assert_eq!(report.wrong_hits + report.unlabelled_hits, 0, "{report:?}");
        // "How do I learn Python quickly?" appears three times: two exact hits at least.
        assert!(report.exact_hits >= 2, "{report:?}");
        assert!(report.semantic_hits >= 1, "{report:?}");
        assert_eq!(
            report.upstream_calls,
            report.requests - report.exact_hits - report.semantic_hits
        );
        assert!(report.reduction() > 0.2);
    }
}
