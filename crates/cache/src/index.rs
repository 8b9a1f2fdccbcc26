//! The in-process vector index of the semantic tier.
//!
//! Vectors are grouped by scope (model, system prompt, earlier turns, parameters): a lookup
//! only ever scans its own scope. Within a scope, vectors are stored as `i8` codes with one
//! scale each (4× smaller than `f32`), next to a 256-bit SimHash sketch (signs of random ±1
//! projections). Small scopes are scanned exactly; large ones first keep the sketches whose
//! Hamming distance is compatible with the threshold (a cheap XOR + popcount per entry) and
//! score only those exactly. `cargo xtask cache-eval` measures both the speed and how many
//! of the exact scan's matches the sketch filter keeps.
//!
//! When the guard limits how many words that matter may change (the semantic guard: at
//! most N), each scope also keeps an inverted index from stemmed word to entries. A
//! candidate the guard can accept lacks at most N of the query's words, so it contains one
//! of any N + 1 of them: the lookup reads the posting lists of the query's rarest words
//! until their occurrences exceed N, skips entries whose word count or word multiset
//! already differs by more than N, and scores only the rest. Exact: it keeps every
//! candidate the scan would keep and the guard accept (tested against the scan).

use std::{collections::HashMap, sync::Arc};

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::guard::{Signature, changed_hashes};

/// Bits of the SimHash sketch.
const SKETCH_BITS: usize = 256;
const SKETCH_WORDS: usize = SKETCH_BITS / 64;
type Sketch = [u64; SKETCH_WORDS];

/// Scopes with at most this many entries are scanned exactly.
const EXACT_SCAN_MAX: usize = 2048;

/// Entries with at most this many words that matter are also listed by that count, for
/// queries so short that a candidate may share none of their words.
const SHORT_MAX: usize = 4;

/// Word lists are split by the entry's count of words that matter, up to this count (longer
/// entries share the last list).
const LENGTH_MAX: usize = 48;

/// The posting-list key of the entries with `count` words that matter (`count ≤
/// SHORT_MAX`).
fn count_key(count: usize) -> u64 {
    xxh3_64_with_seed(b"word count", count as u64)
}

/// The posting-list key of the entries of `length` words that matter containing `word` (a
/// word hash). Keys are hashes, so a clash between lists is as unlikely as any.
fn word_key(word: u64, length: usize) -> u64 {
    xxh3_64_with_seed(&word.to_le_bytes(), length.min(LENGTH_MAX) as u64)
}

/// The posting-list keys of an entry: its distinct words (at its length), and its word count
/// if short.
fn posting_keys(signature: &Signature) -> impl Iterator<Item = u64> + '_ {
    let hashes = &signature.heavy_hashes;
    let count = (hashes.len() <= SHORT_MAX).then(|| count_key(hashes.len()));
    hashes
        .iter()
        .enumerate()
        .filter(|(i, hash)| *i == 0 || hashes[i - 1] != **hash)
        .map(|(_, hash)| word_key(*hash, hashes.len()))
        .chain(count)
}

/// What a search may assume about the guard that judges its candidates.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WordFilter<'a> {
    /// The query's signature.
    pub(crate) signature: &'a Signature,
    /// The guard refuses candidates whose words that matter differ from the query's by more
    /// than this ([`Guard::word_budget`](crate::guard::Guard::word_budget)).
    pub(crate) budget: usize,
}

/// What the guard and the store need to know about an indexed entry.
#[derive(Debug)]
pub(crate) struct IndexedMeta {
    /// The question text of the cached request (shared through Redis with the vector).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) text: Arc<str>,
    /// Its guard signature.
    pub(crate) signature: Signature,
}

/// A match found by [`SemanticIndex::search`].
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub(crate) key: u128,
    pub(crate) similarity: f32,
    pub(crate) meta: Arc<IndexedMeta>,
}

/// A vector quantised to `i8` codes with one scale.
#[derive(Clone, Debug)]
pub(crate) struct Quantised {
    codes: Vec<i8>,
    scale: f32,
}

impl Quantised {
    pub(crate) fn new(vector: &[f32]) -> Self {
        let max = vector.iter().fold(0.0f32, |max, x| max.max(x.abs()));
        if max == 0.0 || !max.is_finite() {
            return Self {
                codes: vec![0; vector.len()],
                scale: 0.0,
            };
        }
        let scale = max / 127.0;
        #[allow(clippy::cast_possible_truncation)] // |x / scale| ≤ 127 by construction
        let codes = vector
            .iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
            .collect();
        Self { codes, scale }
    }

    /// The approximate dot product of the two original vectors.
    pub(crate) fn dot(&self, other: &Quantised) -> f32 {
        #[allow(clippy::cast_precision_loss)] // |sum| < 2^24 for any realistic length
        let sum = dot_i8(&self.codes, &other.codes) as f32;
        sum * self.scale * other.scale
    }
}

/// `i8` dot product in `i32` lanes, written so the compiler vectorises it.
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut lanes = [0i32; 16];
    let chunks = a.len() / 16;
    for chunk in 0..chunks {
        let (x, y) = (
            &a[chunk * 16..chunk * 16 + 16],
            &b[chunk * 16..chunk * 16 + 16],
        );
        for lane in 0..16 {
            lanes[lane] += i32::from(x[lane]) * i32::from(y[lane]);
        }
    }
    let mut sum: i32 = lanes.iter().sum();
    for index in chunks * 16..a.len().min(b.len()) {
        sum += i32::from(a[index]) * i32::from(b[index]);
    }
    sum
}

/// Random ±1 hyperplanes for the sketch, fixed by a seed so every process agrees.
#[derive(Debug)]
struct Planes {
    dims: usize,
    /// For each plane, the dimensions with sign −1, as a bit mask per 64 dimensions.
    negative: Vec<Vec<u64>>,
}

impl Planes {
    fn new(dims: usize) -> Self {
        let words = dims.div_ceil(64);
        let negative = (0..SKETCH_BITS as u64)
            .map(|plane| {
                (0..words as u64)
                    .map(|word| xxh3_64_with_seed(&word.to_le_bytes(), 0x5eed_0000 + plane))
                    .collect()
            })
            .collect();
        Self { dims, negative }
    }

    fn sketch(&self, vector: &[f32]) -> Sketch {
        let total: f32 = vector.iter().sum();
        let mut sketch = [0u64; SKETCH_WORDS];
        for (plane, mask) in self.negative.iter().enumerate() {
            let mut negative = 0.0f32;
            for (word, bits) in mask.iter().enumerate() {
                let mut bits = *bits;
                while bits != 0 {
                    let dim = word * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if let Some(x) = vector.get(dim) {
                        negative += x;
                    }
                }
            }
            if total - 2.0 * negative >= 0.0 {
                sketch[plane / 64] |= 1 << (plane % 64);
            }
        }
        sketch
    }
}

/// The largest Hamming distance between sketches of two vectors whose cosine is at least
/// `threshold`, with a wide margin (5 standard deviations and 12 bits).
fn hamming_radius(threshold: f32) -> u32 {
    let angle = f64::from(threshold.clamp(-1.0, 1.0)).acos();
    let p = angle / std::f64::consts::PI;
    #[allow(clippy::cast_precision_loss)]
    let bits = SKETCH_BITS as f64;
    let expected = bits * p;
    let spread = (bits * p * (1.0 - p)).sqrt();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 0 ≤ value ≤ 256
    let radius = (expected + 5.0 * spread + 12.0).ceil().min(bits) as u32;
    radius
}

#[derive(Debug, Default)]
struct Bucket {
    keys: Vec<u128>,
    codes: Vec<i8>,
    scales: Vec<f32>,
    sketches: Vec<Sketch>,
    metas: Vec<Arc<IndexedMeta>>,
    /// Posting lists: word (or short word count, see [`count_key`]) → positions.
    postings: HashMap<u64, Vec<u32>>,
}

impl Bucket {
    fn unlist(&mut self, position: usize) {
        let Ok(position) = u32::try_from(position) else {
            return;
        };
        for key in posting_keys(&self.metas[position as usize].signature) {
            if let Some(list) = self.postings.get_mut(&key) {
                if let Some(at) = list.iter().position(|p| *p == position) {
                    list.swap_remove(at);
                }
                if list.is_empty() {
                    self.postings.remove(&key);
                }
            }
        }
    }

    fn relist(&mut self, from: usize, to: usize) {
        let (Ok(from), Ok(to)) = (u32::try_from(from), u32::try_from(to)) else {
            return;
        };
        for key in posting_keys(&self.metas[to as usize].signature) {
            if let Some(list) = self.postings.get_mut(&key)
                && let Some(entry) = list.iter_mut().find(|p| **p == from)
            {
                *entry = to;
            }
        }
    }
}

/// Vectors by scope, with the position of each key for removal.
#[derive(Debug)]
pub(crate) struct SemanticIndex {
    planes: Planes,
    buckets: HashMap<u64, Bucket>,
    positions: HashMap<u128, (u64, usize)>,
    /// Whether large scopes use the sketch filter (false: always scan exactly).
    pub(crate) use_sketches: bool,
}

impl SemanticIndex {
    pub(crate) fn new(dims: usize) -> Self {
        Self {
            planes: Planes::new(dims),
            buckets: HashMap::new(),
            positions: HashMap::new(),
            use_sketches: true,
        }
    }

    pub(crate) fn dims(&self) -> usize {
        self.planes.dims
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.positions.len()
    }

    /// Adds or replaces `key` in `scope`. Vectors of the wrong length are ignored.
    pub(crate) fn insert(&mut self, scope: u64, key: u128, vector: &[f32], meta: Arc<IndexedMeta>) {
        if vector.len() != self.dims() {
            return;
        }
        self.remove(key);
        let quantised = Quantised::new(vector);
        let sketch = self.planes.sketch(vector);
        let bucket = self.buckets.entry(scope).or_default();
        let position = bucket.keys.len();
        // Beyond 2^32 entries in one scope the word lists are incomplete: never filter.
        if let Ok(listed) = u32::try_from(position) {
            for word in posting_keys(&meta.signature) {
                bucket.postings.entry(word).or_default().push(listed);
            }
        }
        self.positions.insert(key, (scope, position));
        bucket.keys.push(key);
        bucket.codes.extend_from_slice(&quantised.codes);
        bucket.scales.push(quantised.scale);
        bucket.sketches.push(sketch);
        bucket.metas.push(meta);
    }

    /// Removes `key`, if indexed.
    pub(crate) fn remove(&mut self, key: u128) {
        let Some((scope, position)) = self.positions.remove(&key) else {
            return;
        };
        let dims = self.dims();
        let Some(bucket) = self.buckets.get_mut(&scope) else {
            return;
        };
        let last = bucket.keys.len() - 1;
        bucket.unlist(position);
        bucket.keys.swap_remove(position);
        bucket.scales.swap_remove(position);
        bucket.sketches.swap_remove(position);
        bucket.metas.swap_remove(position);
        if position != last {
            bucket
                .codes
                .copy_within(last * dims..(last + 1) * dims, position * dims);
            let moved = bucket.keys[position];
            self.positions.insert(moved, (scope, position));
            bucket.relist(last, position);
        }
        bucket.codes.truncate(last * dims);
        if bucket.keys.is_empty() {
            self.buckets.remove(&scope);
        }
    }

    /// The entries of `scope` with similarity ≥ `threshold` to `query`, best first, at most
    /// `limit`. With a `filter`, entries its guard would refuse for their words may be left
    /// out (and are, when the word lists can tell).
    pub(crate) fn search(
        &self,
        scope: u64,
        query: &[f32],
        threshold: f32,
        limit: usize,
        filter: Option<WordFilter<'_>>,
    ) -> Vec<Candidate> {
        self.search_counted(scope, query, threshold, limit, filter)
            .0
    }

    /// [`search`](Self::search), and how many entries the word lists let through to be
    /// scored (`None`: the scope was scanned).
    pub(crate) fn search_counted(
        &self,
        scope: u64,
        query: &[f32],
        threshold: f32,
        limit: usize,
        filter: Option<WordFilter<'_>>,
    ) -> (Vec<Candidate>, Option<usize>) {
        let dims = self.dims();
        let Some(bucket) = self.buckets.get(&scope) else {
            return (Vec::new(), None);
        };
        if query.len() != dims {
            return (Vec::new(), None);
        }
        let mut scored = None;
        let query_codes = Quantised::new(query);
        let mut found: Vec<Candidate> = Vec::new();
        let mut score = |position: usize| {
            let codes = &bucket.codes[position * dims..(position + 1) * dims];
            #[allow(clippy::cast_precision_loss)]
            let similarity = dot_i8(&query_codes.codes, codes) as f32
                * query_codes.scale
                * bucket.scales[position];
            if similarity >= threshold {
                found.push(Candidate {
                    key: bucket.keys[position],
                    similarity: similarity.min(1.0),
                    meta: Arc::clone(&bucket.metas[position]),
                });
            }
        };
        let listed = u32::try_from(bucket.keys.len()).is_ok();
        let probes = filter
            .filter(|_| listed && bucket.keys.len() > PROBE_MIN)
            .and_then(|filter| probes(bucket, filter));
        if let (Some(probes), Some(filter)) = (probes, filter) {
            let query_words = &filter.signature.heavy_hashes;
            let mut count = 0;
            for (index, probe) in probes.iter().enumerate() {
                for key in &probe.lists {
                    let Some(list) = bucket.postings.get(key) else {
                        continue;
                    };
                    for &position in list {
                        let words = &bucket.metas[position as usize].signature.heavy_hashes;
                        // Seen already in the lists of an earlier probed word.
                        if probes[..index].iter().any(|earlier| {
                            earlier
                                .word
                                .is_some_and(|word| words.binary_search(&word).is_ok())
                        }) {
                            continue;
                        }
                        if words.len().abs_diff(query_words.len()) > filter.budget
                            || changed_hashes(words, query_words) > filter.budget
                        {
                            continue;
                        }
                        count += 1;
                        score(position as usize);
                    }
                }
            }
            scored = Some(count);
        } else if !self.use_sketches || bucket.keys.len() <= EXACT_SCAN_MAX {
            (0..bucket.keys.len()).for_each(&mut score);
        } else {
            let sketch = self.planes.sketch(query);
            let radius = hamming_radius(threshold);
            for (position, other) in bucket.sketches.iter().enumerate() {
                let distance: u32 = sketch
                    .iter()
                    .zip(other)
                    .map(|(a, b)| (a ^ b).count_ones())
                    .sum();
                if distance <= radius {
                    score(position);
                }
            }
        }
        found.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        found.truncate(limit);
        (found, scored)
    }
}

/// Scopes with at most this many entries are scanned without the word lists.
const PROBE_MIN: usize = 256;

/// Posting lists to read for one query word (or, with `word: None`, for short entries).
#[derive(Debug)]
struct Probe {
    word: Option<u64>,
    lists: Vec<u64>,
}

/// The posting lists to read for `filter`'s query, or `None` when the scope must be scanned.
///
/// With `q` query words and a budget of `n` changed words, a candidate that shares `m` words
/// (as a multiset) differs by `q + len − 2m`. So it lacks at most `n` query words: it
/// contains one of the query's rarest words whose occurrences add up to more than `n`, and
/// those are read, rarest first. A candidate found in a later word's lists contains no
/// earlier word, so it shares at most the occurrences `r` of the words not yet read and has
/// at most `n − q + 2r` words: only those lengths are read (a common word is read only for
/// short entries). When even all the query's words do not exceed the budget (a short query),
/// a candidate may share none of them, and then has at most `n − q` words: the short-count
/// lists are read too.
fn probes(bucket: &Bucket, filter: WordFilter<'_>) -> Option<Vec<Probe>> {
    let words = &filter.signature.heavy_hashes;
    let (q, n) = (words.len(), filter.budget);
    let shortest = q.saturating_sub(n);
    let longest = q + n;
    // Distinct words with their occurrences and the entries listed for them, rarest first.
    let mut distinct: Vec<(u64, usize, usize)> = Vec::new();
    for &word in words {
        match distinct.last_mut() {
            Some((last, occurrences, _)) if *last == word => *occurrences += 1,
            _ => distinct.push((word, 1, 0)),
        }
    }
    for (word, _, listed) in &mut distinct {
        *listed = (shortest.min(LENGTH_MAX)..=longest.min(LENGTH_MAX))
            .filter_map(|length| bucket.postings.get(&word_key(*word, length)))
            .map(Vec::len)
            .sum();
    }
    distinct.sort_by_key(|(word, _, listed)| (*listed, *word));
    let mut probes = Vec::new();
    let mut covered = 0;
    let mut remaining = q;
    for (word, occurrences, _) in distinct {
        if covered > n {
            break;
        }
        // Lengths a candidate sharing only words from here on can have.
        let upper = (n + 2 * remaining).saturating_sub(q).min(longest);
        let lists = if n + 2 * remaining < q || upper < shortest {
            Vec::new()
        } else {
            (shortest.min(LENGTH_MAX)..=upper.min(LENGTH_MAX))
                .map(|length| word_key(word, length))
                .collect()
        };
        probes.push(Probe {
            word: Some(word),
            lists,
        });
        covered += occurrences;
        remaining -= occurrences;
    }
    if covered <= n {
        let longest = n - covered;
        if longest > SHORT_MAX {
            return None;
        }
        probes.push(Probe {
            word: None,
            lists: (0..=longest).map(count_key).collect(),
        });
    }
    Some(probes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(text: &str) -> Arc<IndexedMeta> {
        Arc::new(IndexedMeta {
            text: text.into(),
            signature: Signature::of(text),
        })
    }

    fn unit(dims: usize, seed: u64) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dims as u64)
            .map(|d| {
                #[allow(clippy::cast_precision_loss)]
                let x = (xxh3_64_with_seed(&d.to_le_bytes(), seed) % 2001) as f32 / 1000.0 - 1.0;
                x
            })
            .collect();
        crate::embed::normalise(&mut v);
        v
    }

    #[test]
    fn quantised_dot_is_close_to_the_exact_one() {
        let (a, b) = (unit(512, 1), unit(512, 2));
        let exact = crate::embed::cosine(&a, &b);
        let approx = Quantised::new(&a).dot(&Quantised::new(&b));
        assert!((exact - approx).abs() < 0.01, "{exact} vs {approx}");
        assert!((Quantised::new(&a).dot(&Quantised::new(&a)) - 1.0).abs() < 0.01);
    }

    #[test]
    fn insert_search_remove_keeps_positions_consistent() {
        let mut index = SemanticIndex::new(64);
        for key in 0..10u128 {
            #[allow(clippy::cast_possible_truncation)]
            index.insert(7, key, &unit(64, key as u64), meta("q"));
        }
        index.remove(3);
        index.remove(9);
        assert_eq!(index.len(), 8);
        for key in [0u128, 4, 8] {
            #[allow(clippy::cast_possible_truncation)]
            let found = index.search(7, &unit(64, key as u64), 0.99, 5, None);
            assert_eq!(found.len(), 1, "key {key}");
            assert_eq!(found[0].key, key);
        }
        assert!(index.search(7, &unit(64, 3), 0.99, 5, None).is_empty());
        assert!(index.search(8, &unit(64, 0), 0.0, 5, None).is_empty());
    }

    #[test]
    fn sketch_filter_keeps_close_vectors() {
        let mut index = SemanticIndex::new(128);
        let base = unit(128, 42);
        for key in 0..3000u128 {
            #[allow(clippy::cast_possible_truncation)]
            index.insert(1, key, &unit(128, 1000 + key as u64), meta("noise"));
        }
        // A vector at cosine ≈ 0.9 to `base`.
        let noise = unit(128, 7);
        let mut near: Vec<f32> = base
            .iter()
            .zip(&noise)
            .map(|(b, n)| 0.9 * b + 0.436 * n)
            .collect();
        crate::embed::normalise(&mut near);
        index.insert(1, 99_999, &near, meta("near"));
        let found = index.search(1, &base, 0.85, 3, None);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, 99_999);
        assert!(hamming_radius(1.0) >= 12 && hamming_radius(-1.0) == 256);
    }
}

#[cfg(test)]
mod word_filter_tests {
    use super::*;
    use crate::{Guard, LexicalEmbedder, LexicalOptions, Verdict};

    fn meta(text: &str) -> Arc<IndexedMeta> {
        Arc::new(IndexedMeta {
            text: text.into(),
            signature: Signature::of(text),
        })
    }

    /// Questions from a small vocabulary, so that many share words, with short ones too.
    fn questions(count: usize) -> Vec<String> {
        const OPENINGS: &[&str] = &["How do I", "What is the best way to", "Why", "Can I", ""];
        const WORDS: &[&str] = &[
            "learn", "python", "java", "fast", "cook", "rice", "water", "buy", "car", "used",
            "cheap", "online", "money", "make", "home", "garden", "grow", "tomato", "fix",
        ];
        (0..count as u64)
            .map(|i| {
                let hash = |salt: u64| xxh3_64_with_seed(&i.to_le_bytes(), salt);
                #[allow(clippy::cast_possible_truncation)]
                let length = (hash(0) % 6) as usize;
                let mut text = OPENINGS[(hash(1) % 5) as usize].to_owned();
                for slot in 0..length {
                    text.push(' ');
                    text.push_str(WORDS[(hash(2 + slot as u64) % WORDS.len() as u64) as usize]);
                }
                text.push('?');
                text
            })
            .collect()
    }

    /// The keys `guard` accepts among `found`.
    fn accepted(guard: Guard, query: &Signature, found: &[Candidate]) -> Vec<u128> {
        let mut keys: Vec<u128> = found
            .iter()
            .filter(|candidate| guard.compare(query, &candidate.meta.signature) == Verdict::Same)
            .map(|candidate| candidate.key)
            .collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn the_word_lists_find_every_candidate_the_scan_and_guard_accept() {
        // 128 dimensions keep the unoptimised test fast; the lists do not depend on them.
        let embedder = LexicalEmbedder::new(LexicalOptions {
            dims: 128,
            ..LexicalOptions::default()
        });
        let mut texts = questions(1500);
        // Entries longer than the longest word list of their own.
        for (at, words) in [(10, 60), (20, 61), (30, 47), (40, 49)] {
            texts[at] = (0..words)
                .map(|i| format!("word{}", i % 53))
                .collect::<Vec<_>>()
                .join(" ");
        }
        let mut index = SemanticIndex::new(128);
        index.use_sketches = false;
        for (key, text) in texts.iter().enumerate() {
            index.insert(1, key as u128, &embedder.embed_one(text), meta(text));
        }
        // Removals move entries: their lists must follow.
        for key in (0..1500u128).step_by(7) {
            index.remove(key);
        }
        let (mut probed, mut found) = (0, 0);
        for budget in [0, 1, 2, 3, 6] {
            let guard = Guard::semantic(Some(budget));
            let mut queries: Vec<String> = texts.iter().take(150).cloned().collect();
            queries.extend_from_slice(&questions(1600)[1500..]);
            queries.push(texts[10].replace("word7 ", "other "));
            for text in &queries {
                let query = embedder.embed_one(text);
                let signature = Signature::of(text);
                let filter = WordFilter {
                    signature: &signature,
                    budget,
                };
                let scan = index.search(1, &query, 0.3, usize::MAX, None);
                let listed = index.search(1, &query, 0.3, usize::MAX, Some(filter));
                assert!(listed.len() <= scan.len());
                let expected = accepted(guard, &signature, &scan);
                assert_eq!(
                    expected,
                    accepted(guard, &signature, &listed),
                    "{text} with budget {budget}"
                );
                found += expected.len();
                if probes(&index.buckets[&1], filter).is_some() {
                    probed += 1;
                }
            }
        }
        // Nearly every query used the lists (the rest are scanned).
        assert!(probed > 1000, "{probed}");
        // And the comparison was not empty.
        assert!(found > 1000, "{found}");
    }
}
