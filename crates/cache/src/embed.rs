//! Text embedders for the semantic tier.

mod http;
pub(crate) mod lexical;
#[cfg(feature = "local-embed")]
mod local;

use async_trait::async_trait;
use orchestra_core::Error;

pub use http::{HttpEmbedder, HttpEmbedderBuilder};
pub use lexical::LexicalEmbedder;
#[cfg(feature = "local-embed")]
pub use local::LocalEmbedder;

/// Turns texts into vectors whose cosine similarity says how alike they are.
///
/// Implementations return one L2-normalised vector of [`dims`](Self::dims) numbers per text,
/// in order. [`id`](Self::id) names the model and its revision: vectors are stored with it
/// and never compared with vectors of another id (a shared Redis cache written by another
/// embedder is ignored, not misread).
///
/// Cosine scales differ between embedders, so `LLM_CACHE_SIMILARITY` must be tuned per
/// embedder; `cargo xtask cache-eval` measures it for the built-in one.
///
/// ```
/// use orchestra_cache::{Embedder, LexicalEmbedder};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let embedder = LexicalEmbedder::default();
/// let vectors = embedder.embed(&["What is Rust?", "what is rust"]).await.unwrap();
/// let cosine: f32 = vectors[0].iter().zip(&vectors[1]).map(|(a, b)| a * b).sum();
/// assert!(cosine > 0.99);
/// # });
/// ```
#[async_trait]
pub trait Embedder: Send + Sync + std::fmt::Debug {
    /// Model and revision, such as `lexical-v1-512` or `openai/text-embedding-3-small`.
    fn id(&self) -> &str;

    /// The length of every vector.
    fn dims(&self) -> usize;

    /// Embeds `texts`, one normalised vector each, in order.
    ///
    /// # Errors
    ///
    /// Any [`Error`]; the cache then skips its semantic tier for this request (the request
    /// itself still goes through).
    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error>;
}

/// Scales `vector` to unit length; a zero vector stays zero.
pub(crate) fn normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        for x in vector.iter_mut() {
            *x /= norm;
        }
    }
}

/// Cosine similarity of two normalised vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
