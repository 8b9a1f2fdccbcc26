//! An embedder for any OpenAI-compatible `POST …/embeddings` endpoint.

use std::{collections::BTreeMap, fmt, time::Duration};

use async_trait::async_trait;
use orchestra_core::{Error, ErrorKind, Secret};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::json;

use super::{Embedder, normalise};

/// Embeds through an OpenAI-compatible `POST {base_url}/embeddings`: OpenAI, OpenRouter
/// (`https://openrouter.ai/api/v1`, models like `openai/text-embedding-3-small`), Portkey
/// (`/v1/embeddings`), Ollama, vLLM, llama.cpp's server and others.
///
/// One request per lookup, so it costs a little latency and money per cache miss; what it buys
/// is real semantics ("learn" ≈ "study"). Tune `LLM_CACHE_SIMILARITY` for the model you pick.
///
/// ```
/// use orchestra_cache::HttpEmbedder;
/// use orchestra_core::Secret;
///
/// let embedder = HttpEmbedder::builder("https://openrouter.ai/api/v1", "openai/text-embedding-3-small")
///     .api_key(Secret::new("sk-or-v1-…"))
///     .dims(512)
///     .send_dimensions(true)
///     .build()
///     .unwrap();
/// assert!(format!("{embedder:?}").contains("[redacted]"));
/// ```
#[derive(Clone)]
pub struct HttpEmbedder {
    client: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<Secret>,
    dims: usize,
    send_dimensions: bool,
    id: String,
}

impl fmt::Debug for HttpEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpEmbedder")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| Secret::REDACTED))
            .field("dims", &self.dims)
            .finish_non_exhaustive()
    }
}

/// Builds an [`HttpEmbedder`].
#[derive(Debug)]
pub struct HttpEmbedderBuilder {
    base_url: String,
    model: String,
    api_key: Option<Secret>,
    dims: Option<usize>,
    send_dimensions: bool,
    headers: BTreeMap<String, String>,
    timeout: Duration,
}

impl HttpEmbedder {
    /// Starts a builder for `model` at `base_url` (the part before `/embeddings`).
    pub fn builder(base_url: impl Into<String>, model: impl Into<String>) -> HttpEmbedderBuilder {
        HttpEmbedderBuilder {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            dims: None,
            send_dimensions: false,
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

impl HttpEmbedderBuilder {
    /// Sent as `Authorization: Bearer …`.
    #[must_use]
    pub fn api_key(mut self, api_key: Secret) -> Self {
        self.api_key = Some(api_key);
        self
    }

    /// The vector length the model returns (required): 1536 for `text-embedding-3-small`,
    /// 384 for MiniLM models, … Answers of another length are rejected.
    #[must_use]
    pub fn dims(mut self, dims: usize) -> Self {
        self.dims = Some(dims);
        self
    }

    /// Sends `"dimensions": dims`, for models that can shorten their vectors
    /// (`text-embedding-3-*`). Off by default: many servers reject the field.
    #[must_use]
    pub fn send_dimensions(mut self, send: bool) -> Self {
        self.send_dimensions = send;
        self
    }

    /// An extra header on every request.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Time limit of one request; default 10 s.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Validates the settings and builds the embedder.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] without `dims`, with a base URL that is not http(s), or with a
    /// header or key HTTP cannot carry.
    pub fn build(self) -> Result<HttpEmbedder, Error> {
        let dims = self.dims.filter(|dims| *dims > 0).ok_or_else(|| {
            Error::config("HttpEmbedder needs the model's vector length: .dims(n)")
        })?;
        let base = self.base_url.trim_end_matches('/');
        let parsed = url::Url::parse(base)
            .map_err(|_| Error::config("HttpEmbedder: the base URL is not a valid URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::config("HttpEmbedder: the base URL must be http(s)"));
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Error::config(format!("HttpEmbedder: invalid header name `{name}`"))
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                Error::config(format!("HttpEmbedder: invalid value for header `{name}`"))
            })?;
            headers.insert(name, value);
        }
        if let Some(key) = &self.api_key {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| {
                    Error::config("HttpEmbedder: the API key cannot be sent in a header")
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(self.timeout)
            .build()
            .map_err(|error| {
                Error::config("HttpEmbedder: cannot build the HTTP client").with_source(error)
            })?;
        Ok(HttpEmbedder {
            client,
            url: format!("{base}/embeddings"),
            id: format!("http:{}:{dims}", self.model),
            model: self.model,
            api_key: self.api_key,
            dims,
            send_dimensions: self.send_dimensions,
        })
    }
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingData>,
}

#[derive(Deserialize)]
struct EmbeddingData {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

#[async_trait]
impl Embedder for HttpEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dims(&self) -> usize {
        self.dims
    }

    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut body = json!({ "model": self.model, "input": texts });
        if self.send_dimensions {
            body["dimensions"] = json!(self.dims);
        }
        let bytes = serde_json::to_vec(&body).map_err(|error| {
            Error::new(
                ErrorKind::BadRequest,
                "cannot encode the embeddings request",
            )
            .with_source(error)
        })?;
        let response = self
            .client
            .post(&self.url)
            .body(bytes)
            .send()
            .await
            .map_err(|error| {
                let kind = if error.is_timeout() {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Connection
                };
                Error::new(kind, "embeddings request failed").with_source(error.without_url())
            })?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|error| {
            Error::new(ErrorKind::Connection, "embeddings response broke off")
                .with_source(error.without_url())
        })?;
        if !(200..300).contains(&status) {
            let message = error_message(&body)
                .unwrap_or_else(|| format!("embeddings endpoint answered HTTP {status}"));
            return Err(Error::new(ErrorKind::from_status(status), message).with_status(status));
        }
        let parsed: EmbeddingsResponse = serde_json::from_slice(&body).map_err(|error| {
            Error::new(ErrorKind::Decode, "malformed embeddings response").with_source(error)
        })?;
        if parsed.data.len() != texts.len() {
            return Err(Error::new(
                ErrorKind::Decode,
                format!(
                    "embeddings response has {} vectors for {} texts",
                    parsed.data.len(),
                    texts.len()
                ),
            ));
        }
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for (position, data) in parsed.data.into_iter().enumerate() {
            let index = data.index.unwrap_or(position);
            if data.embedding.len() != self.dims {
                return Err(Error::new(
                    ErrorKind::Decode,
                    format!(
                        "embedding of length {} where {} was configured",
                        data.embedding.len(),
                        self.dims
                    ),
                ));
            }
            if data.embedding.iter().any(|x| !x.is_finite()) {
                return Err(Error::new(
                    ErrorKind::Decode,
                    "embedding holds a non-finite number",
                ));
            }
            let slot = vectors.get_mut(index).ok_or_else(|| {
                Error::new(
                    ErrorKind::Decode,
                    format!("embedding index {index} out of range"),
                )
            })?;
            let mut embedding = data.embedding;
            normalise(&mut embedding);
            *slot = Some(embedding);
        }
        vectors
            .into_iter()
            .map(|vector| {
                vector.ok_or_else(|| Error::new(ErrorKind::Decode, "an embedding index is missing"))
            })
            .collect()
    }
}

/// `error.message` of an OpenAI-shaped error body.
fn error_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let message = value.get("error")?.get("message")?.as_str()?;
    Some(message.chars().take(500).collect())
}
