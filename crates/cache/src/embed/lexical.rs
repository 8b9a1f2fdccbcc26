//! The built-in offline embedder: hashed words, word pairs and character n-grams.

use async_trait::async_trait;
use orchestra_core::Error;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::{Embedder, normalise};
use crate::text::{Token, is_stopword, tokens};

/// An embedder that needs no model and no network: signed feature hashing of words, adjacent
/// word pairs and character 3–5-grams, with function words weighted down.
///
/// It recognises *near-duplicates* (case, punctuation, word forms, small rewordings, a few
/// added or dropped words), not synonyms: "How do I learn Python?" and "Best way to study
/// Python" share too few features. Use [`HttpEmbedder`](crate::HttpEmbedder) for real
/// semantics. About 20 µs per question in a release build.
///
/// ```
/// use orchestra_cache::{Embedder, LexicalEmbedder, cosine};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let embedder = LexicalEmbedder::default();
/// let v = embedder
///     .embed(&[
///         "How do I reverse a list in Python?",
///         "How can I reverse a list in python",
///         "Explain TCP congestion control",
///     ])
///     .await
///     .unwrap();
/// assert!(cosine(&v[0], &v[1]) > 0.8);
/// assert!(cosine(&v[0], &v[2]) < 0.2);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct LexicalEmbedder {
    options: LexicalOptions,
    id: String,
}

/// The weights of [`LexicalEmbedder`]'s features. The defaults were chosen with
/// `cargo xtask cache-eval` (see docs/caching.md); changing them changes the
/// [`id`](Embedder::id), so stored vectors are never compared with new ones.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct LexicalOptions {
    /// Vector length (a power of two is not required).
    pub dims: usize,
    /// Weight of a content word.
    pub word: f32,
    /// Weight of a function word (`the`, `is`, `how`, …).
    pub stopword: f32,
    /// Weight of a pair of adjacent words (word order).
    pub bigram: f32,
    /// Total weight of one word's character n-grams (word forms, typos).
    pub ngrams: f32,
    /// Weight of a number (numbers change answers).
    pub number: f32,
}

impl Default for LexicalOptions {
    fn default() -> Self {
        Self {
            dims: 512,
            word: 1.0,
            stopword: 0.3,
            bigram: 0.6,
            ngrams: 0.8,
            number: 1.5,
        }
    }
}

impl Default for LexicalEmbedder {
    fn default() -> Self {
        Self::new(LexicalOptions::default())
    }
}

impl LexicalEmbedder {
    /// An embedder with `options`.
    pub fn new(options: LexicalOptions) -> Self {
        let dims = options.dims.max(1);
        let options = LexicalOptions { dims, ..options };
        let id = if options == LexicalOptions::default() {
            format!("lexical-v1-{dims}")
        } else {
            format!(
                "lexical-v1-{dims}-w{}-s{}-b{}-n{}-d{}",
                options.word, options.stopword, options.bigram, options.ngrams, options.number
            )
        };
        Self { options, id }
    }

    /// The embedding of one text, computed synchronously.
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let options = &self.options;
        let mut vector = vec![0.0f32; options.dims];
        let tokens = tokens(text);
        let weight = |token: &Token| {
            if token.number {
                options.number
            } else if is_stopword(&token.text) {
                options.stopword
            } else {
                options.word
            }
        };
        for (index, token) in tokens.iter().enumerate() {
            let w = weight(token);
            self.add(&mut vector, 1, token.text.as_bytes(), w);
            if let Some(next) = tokens.get(index + 1) {
                let pair = format!("{} {}", token.text, next.text);
                self.add(
                    &mut vector,
                    2,
                    pair.as_bytes(),
                    options.bigram * w.min(weight(next)),
                );
            }
            if !token.number && options.ngrams > 0.0 {
                let bounded: Vec<char> = std::iter::once('<')
                    .chain(token.text.chars())
                    .chain(std::iter::once('>'))
                    .collect();
                let mut grams = Vec::new();
                for n in 3..=5 {
                    for window in bounded.windows(n) {
                        grams.push(window.iter().collect::<String>());
                    }
                }
                if grams.is_empty() {
                    continue;
                }
                #[allow(clippy::cast_precision_loss)] // a word has few n-grams
                let each = options.ngrams * w / (grams.len() as f32).sqrt();
                for gram in grams {
                    self.add(&mut vector, 3, gram.as_bytes(), each);
                }
            }
        }
        normalise(&mut vector);
        vector
    }

    fn add(&self, vector: &mut [f32], kind: u64, feature: &[u8], weight: f32) {
        let hash = xxh3_64_with_seed(feature, kind);
        #[allow(clippy::cast_possible_truncation)] // the modulus fits in usize
        let slot = (hash % vector.len() as u64) as usize;
        let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
        vector[slot] += sign * weight;
    }
}

#[async_trait]
impl Embedder for LexicalEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dims(&self) -> usize {
        self.options.dims
    }

    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        Ok(texts.iter().map(|text| self.embed_one(text)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::cosine;

    #[test]
    fn case_and_punctuation_do_not_matter() {
        let embedder = LexicalEmbedder::default();
        let a = embedder.embed_one("What is Rust?");
        let b = embedder.embed_one("what is rust");
        assert!((cosine(&a, &b) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn empty_text_is_the_zero_vector() {
        let embedder = LexicalEmbedder::default();
        assert!(embedder.embed_one("?!").iter().all(|x| *x == 0.0));
    }

    #[test]
    fn options_change_the_id() {
        let default = LexicalEmbedder::default();
        let other = LexicalEmbedder::new(LexicalOptions {
            bigram: 0.1,
            ..LexicalOptions::default()
        });
        assert_eq!(default.id(), "lexical-v1-512");
        assert_ne!(default.id(), other.id());
    }
}
