//! The in-process vector index of the semantic tier.
//!
//! Vectors are grouped by scope (model, system prompt, earlier turns, parameters): a lookup
//! only ever scans its own scope. Within a scope, vectors are stored as `i8` codes with one
//! scale each (4× smaller than `f32`), next to a 256-bit SimHash sketch (signs of random ±1
//! projections). Small scopes are scanned exactly; large ones first keep the sketches whose
//! Hamming distance is compatible with the threshold (a cheap XOR + popcount per entry) and
//! score only those exactly. `cargo xtask cache-eval` measures both the speed and how many
//! of the exact scan's matches the sketch filter keeps.

use std::{collections::HashMap, sync::Arc};

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::guard::Signature;

/// Bits of the SimHash sketch.
const SKETCH_BITS: usize = 256;
const SKETCH_WORDS: usize = SKETCH_BITS / 64;
type Sketch = [u64; SKETCH_WORDS];

/// Scopes with at most this many entries are scanned exactly.
const EXACT_SCAN_MAX: usize = 2048;

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
        self.positions.insert(key, (scope, bucket.keys.len()));
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
        }
        bucket.codes.truncate(last * dims);
        if bucket.keys.is_empty() {
            self.buckets.remove(&scope);
        }
    }

    /// The entries of `scope` with similarity ≥ `threshold` to `query`, best first, at most
    /// `limit`.
    pub(crate) fn search(
        &self,
        scope: u64,
        query: &[f32],
        threshold: f32,
        limit: usize,
    ) -> Vec<Candidate> {
        let dims = self.dims();
        let Some(bucket) = self.buckets.get(&scope) else {
            return Vec::new();
        };
        if query.len() != dims {
            return Vec::new();
        }
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
        if !self.use_sketches || bucket.keys.len() <= EXACT_SCAN_MAX {
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
        found
    }
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
            let found = index.search(7, &unit(64, key as u64), 0.99, 5);
            assert_eq!(found.len(), 1, "key {key}");
            assert_eq!(found[0].key, key);
        }
        assert!(index.search(7, &unit(64, 3), 0.99, 5).is_empty());
        assert!(index.search(8, &unit(64, 0), 0.0, 5).is_empty());
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
        let found = index.search(1, &base, 0.85, 3);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, 99_999);
        assert!(hamming_radius(1.0) >= 12 && hamming_radius(-1.0) == 256);
    }
}
