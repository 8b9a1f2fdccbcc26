//! The [`OpenRouter`] client, its builder, and non-streaming chat.

use std::{collections::BTreeMap, fmt, sync::Arc, time::Duration, time::Instant};

use async_trait::async_trait;
use orchestra_core::{
    Attempt, AttemptOutcome, ChatRequest, ChatResponse, ChatStream, Credits, Error, ErrorKind,
    ModelInfo, Provider, Secret,
};
use orchestra_openai_compat::{
    ErrorMapper, MAX_ERROR_BODY_BYTES, MAX_RESPONSE_BODY_BYTES, parse_completion, read_body,
};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::{
    PROVIDER_NAME,
    errors::OpenRouterErrors,
    preferences::ProviderPreferences,
    telemetry::{Outcome, RequestSpan},
};

/// OpenRouter's public API.
pub const DEFAULT_BASE_URL: &str = "https://openrouter.ai/api/v1";

/// The most entries OpenRouter accepts in the `models` fallback array; longer lists are
/// rejected with HTTP 400, so the rest stay for client-side routing
/// ([`ModelChain::remaining`]).
pub const MAX_SERVER_FALLBACKS: usize = 3;

/// Per-request time limit when none is configured (`LLM_REQUEST_TIMEOUT`'s default).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the model list is reused when nothing else is configured: prices and the
/// list change a few times a day, and the full list is a few MiB.
pub const DEFAULT_MODELS_CACHE_TTL: Duration = Duration::from_secs(300);

/// An OpenRouter client: implements [`Provider`] as `"openrouter"`.
///
/// Cheap to clone: clones share one connection pool and configuration.
///
/// ```no_run
/// use orchestra_core::{ChatRequest, Message, Provider, Secret};
/// use orchestra_provider_openrouter::OpenRouter;
///
/// # async fn demo() -> Result<(), orchestra_core::Error> {
/// let client = OpenRouter::builder()
///     .api_key(Secret::new("sk-or-v1-..."))
///     .default_model("openai/gpt-4o-mini")
///     .fallback_models(vec!["google/gemini-2.5-flash:free".into()])
///     .build()?;
/// let response = client
///     .chat(&ChatRequest::new(vec![Message::user("Hello")]).max_tokens(256))
///     .await?;
/// println!("{} answered: {:?}", response.model, response.content());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct OpenRouter {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_key: Secret,
    errors: Arc<OpenRouterErrors>,
    base_url: String,
    /// `{base_url}/chat/completions`, parsed once rather than on every call; `None` if it
    /// does not parse (the call then fails as it would with the text).
    chat_url: Option<reqwest::Url>,
    /// `Bearer {api_key}`, marked sensitive: built once rather than on every call.
    authorization: HeaderValue,
    default_model: Option<String>,
    fallback_models: Vec<String>,
    default_chain: ModelChain,
    request_timeout: Duration,
    preferences: Option<ProviderPreferences>,
    /// `preferences` as the body's `provider` object; `None` when they set nothing.
    wire_preferences: Option<Map<String, Value>>,
    models_cache: crate::account::ModelsCache,
}

impl fmt::Debug for OpenRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the reqwest client: its Debug prints the default headers.
        let inner = &self.inner;
        f.debug_struct("OpenRouter")
            .field("base_url", &inner.base_url)
            .field("api_key", &inner.api_key)
            .field("default_model", &inner.default_model)
            .field("fallback_models", &inner.fallback_models)
            .field("request_timeout", &inner.request_timeout)
            .field("preferences", &inner.preferences)
            .field("models_cache_ttl", &inner.models_cache.ttl())
            .finish_non_exhaustive()
    }
}

/// The models one request goes out with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelChain {
    /// The body's `model`: the request's own model, else the default model, else the first
    /// fallback. `None` lets OpenRouter use the account's default.
    pub model: Option<String>,
    /// The body's `models`: at most [`MAX_SERVER_FALLBACKS`] fallbacks, tried server-side.
    pub server_fallbacks: Vec<String>,
    /// Fallbacks that did not fit in `models`, for client-side routing.
    pub remaining: Vec<String>,
}

impl OpenRouter {
    /// A builder; only the API key is required.
    pub fn builder() -> OpenRouterBuilder {
        OpenRouterBuilder::default()
    }

    /// A client configured from `OPENROUTER_*` and `LLM_REQUEST_TIMEOUT`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when `OPENROUTER_API_KEY` is missing or a value is unusable
    /// (bad header name, bad URL).
    pub fn from_settings(settings: &orchestra_config::Settings) -> Result<Self, Error> {
        Self::builder_from_settings(settings).build()
    }

    /// A builder configured as [`from_settings`](Self::from_settings) does, to change
    /// something before building (a client-side router, for instance, clears
    /// [`fallback_models`](OpenRouterBuilder::fallback_models) to do the fallbacks itself).
    pub fn builder_from_settings(settings: &orchestra_config::Settings) -> OpenRouterBuilder {
        let openrouter = &settings.openrouter;
        let mut builder = Self::builder()
            .base_url(openrouter.base_url.as_str())
            .fallback_models(openrouter.free_fallbacks.clone())
            .headers(openrouter.headers.clone())
            .request_timeout(settings.resilience.request_timeout);
        if let Some(key) = &openrouter.api_key {
            builder = builder.api_key(key.clone());
        }
        if let Some(model) = &openrouter.default_model {
            builder = builder.default_model(model.clone());
        }
        builder
    }

    /// The base URL requests go to, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The configured default model.
    pub fn default_model(&self) -> Option<&str> {
        self.inner.default_model.as_deref()
    }

    /// Every configured fallback model, in order.
    pub fn fallback_models(&self) -> &[String] {
        &self.inner.fallback_models
    }

    /// The fallbacks of a request without its own model that do not fit in OpenRouter's
    /// `models` array (see [`MAX_SERVER_FALLBACKS`]): for client-side routing.
    pub fn remaining_fallbacks(&self) -> &[String] {
        &self.inner.default_chain.remaining
    }

    /// The per-request time limit.
    pub fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// The models `request` goes out with: its own model (or the default), then the
    /// fallbacks without duplicates, split at [`MAX_SERVER_FALLBACKS`].
    pub fn model_chain(&self, request: &ChatRequest) -> ModelChain {
        match &request.model {
            None => self.inner.default_chain.clone(),
            Some(model) => build_chain(Some(model.clone()), &self.inner.fallback_models),
        }
    }

    /// The JSON body sent for `request`.
    ///
    /// `model`/`models` come from [`model_chain`](Self::model_chain) unless the request sets
    /// `extra["models"]` itself (cut to [`MAX_SERVER_FALLBACKS`]); the client's
    /// [`ProviderPreferences`] are merged under `extra["provider"]` (the request's keys win).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadRequest`] if the request does not serialise to a JSON object.
    pub fn request_body(&self, request: &ChatRequest, stream: bool) -> Result<Value, Error> {
        let chain = self.model_chain(request);
        self.body(request, &chain, stream).map(Value::Object)
    }

    fn body(
        &self,
        request: &ChatRequest,
        chain: &ModelChain,
        stream: bool,
    ) -> Result<Map<String, Value>, Error> {
        let mut body = match serde_json::to_value(request) {
            Ok(Value::Object(body)) => body,
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::BadRequest,
                    "the request did not serialise to a JSON object",
                ));
            }
            Err(error) => {
                return Err(Error::new(
                    ErrorKind::BadRequest,
                    "the request could not be serialised",
                )
                .with_source(error));
            }
        };
        // Never sent, whatever `extra` says.
        body.remove("agent_type");
        match &chain.model {
            Some(model) => {
                body.insert("model".into(), Value::String(model.clone()));
            }
            None => {
                body.remove("model");
            }
        }
        match body.get_mut("models") {
            Some(Value::Array(models)) => {
                if models.len() > MAX_SERVER_FALLBACKS {
                    tracing::warn!(
                        given = models.len(),
                        kept = MAX_SERVER_FALLBACKS,
                        "request extra[\"models\"] is longer than OpenRouter accepts; cut"
                    );
                    models.truncate(MAX_SERVER_FALLBACKS);
                }
            }
            Some(_) => {}
            None if chain.server_fallbacks.is_empty() => {}
            None => {
                body.insert(
                    "models".into(),
                    Value::Array(
                        chain
                            .server_fallbacks
                            .iter()
                            .cloned()
                            .map(Value::String)
                            .collect(),
                    ),
                );
            }
        }
        let mut provider = self
            .inner
            .preferences
            .as_ref()
            .map(ProviderPreferences::to_object)
            .unwrap_or_default();
        match body.remove("provider") {
            None => {}
            Some(Value::Object(overrides)) => {
                for (key, value) in overrides {
                    if value.is_null() {
                        provider.remove(&key);
                    } else {
                        provider.insert(key, value);
                    }
                }
            }
            Some(Value::Null) => provider.clear(),
            Some(other) => {
                body.insert("provider".into(), other);
                provider.clear();
            }
        }
        if !provider.is_empty() {
            body.insert("provider".into(), Value::Object(provider));
        }
        body.insert("stream".into(), Value::Bool(stream));
        Ok(body)
    }

    /// The encoded body of [`body`](Self::body). A request whose `extra` leaves the keys
    /// this provider manages alone (most of them) is written straight from the request, with
    /// no intermediate `serde_json::Value`: the same JSON object, in a different key order.
    fn encode_body(
        &self,
        request: &ChatRequest,
        chain: &ModelChain,
        stream: bool,
    ) -> Result<Vec<u8>, Error> {
        let model = chain.model.as_deref();
        let direct = (request.model.is_none() || request.model == chain.model)
            && request
                .extra
                .keys()
                .all(|key| !MANAGED_KEYS.contains(&key.as_str()));
        let encoded = if direct {
            serde_json::to_vec(&DirectBody {
                request,
                model: if request.model.is_none() { model } else { None },
                models: &chain.server_fallbacks,
                provider: self.inner.wire_preferences.as_ref(),
                stream,
            })
        } else {
            serde_json::to_vec(&self.body(request, chain, stream)?)
        };
        encoded.map_err(|error| {
            self.errors()
                .decode("could not encode the request", Some(error), model)
        })
    }

    /// Sends a chat request; returns the raw response once its headers arrived.
    pub(crate) async fn send_chat(
        &self,
        request: &ChatRequest,
        chain: &ModelChain,
        stream: bool,
    ) -> Result<reqwest::Response, Error> {
        let model = chain.model.as_deref();
        let body = self.encode_body(request, chain, stream)?;
        let builder = match &self.inner.chat_url {
            Some(url) => self.inner.http.post(url.clone()),
            None => self.inner.http.post(self.url("chat/completions")),
        };
        // The same header `bearer_auth` would build, without formatting it every call.
        let mut builder = builder
            .header(AUTHORIZATION, self.inner.authorization.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if stream {
            builder = builder.header(ACCEPT, "text/event-stream");
            // The limit covers the wait for the response head; the stream's idle limit
            // then bounds each silence in the stream, not its whole length.
            match tokio::time::timeout(self.inner.request_timeout, builder.send()).await {
                Ok(result) => result.map_err(|error| self.errors().transport(error, model)),
                Err(_) => Err(self.timeout_error(model)),
            }
        } else {
            builder
                .timeout(self.inner.request_timeout)
                .send()
                .await
                .map_err(|error| self.errors().transport(error, model))
        }
    }

    pub(crate) fn timeout_error(&self, model: Option<&str>) -> Error {
        let mut error = Error::new(
            ErrorKind::Timeout,
            format!(
                "no response within {:?} (LLM_REQUEST_TIMEOUT)",
                self.inner.request_timeout
            ),
        )
        .with_provider(PROVIDER_NAME);
        if let Some(model) = model {
            error = error.with_model(model);
        }
        error
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.inner.base_url)
    }

    pub(crate) fn api_key(&self) -> &Secret {
        &self.inner.api_key
    }

    /// How this client classifies failures (shared with its streams).
    pub(crate) fn errors(&self) -> &Arc<OpenRouterErrors> {
        &self.inner.errors
    }

    pub(crate) fn models_cache(&self) -> &crate::account::ModelsCache {
        &self.inner.models_cache
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Maps a non-2xx response to an error, reading (a bounded part of) its body.
    pub(crate) async fn error_from_response(
        &self,
        response: reqwest::Response,
        model: Option<&str>,
    ) -> Error {
        orchestra_openai_compat::error_from_response(
            response,
            MAX_ERROR_BODY_BYTES,
            &*self.inner.errors,
            model,
        )
        .await
    }

    async fn chat_once(
        &self,
        request: &ChatRequest,
        chain: &ModelChain,
        started: Instant,
    ) -> Result<ChatResponse, Error> {
        let model = chain.model.as_deref();
        let mut response = self.send_chat(request, chain, false).await?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(self.error_from_response(response, model).await);
        }
        // Moved out, not copied: reading the body needs only its length, which hyper keeps.
        let headers = std::mem::take(response.headers_mut());
        let body = read_body(
            response,
            MAX_RESPONSE_BODY_BYTES,
            false,
            &*self.inner.errors,
            model,
        )
        .await?;
        let mut response = parse_completion(
            &body,
            status,
            &headers,
            &*self.inner.errors,
            chain.model.as_deref(),
            generation_id_header(&headers),
        )?;
        let served = response.model.clone();
        let latency = started.elapsed();
        response.metadata.attempts = vec![
            Attempt::new(PROVIDER_NAME, served, AttemptOutcome::Success, latency)
                .with_status(Some(status)),
        ];
        response.metadata.latency = latency;
        Ok(response)
    }
}

#[async_trait]
impl Provider for OpenRouter {
    fn name(&self) -> &str {
        PROVIDER_NAME
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
        let chain = self.model_chain(request);
        let telemetry = RequestSpan::start(&chain, false);
        let result = self
            .chat_once(request, &chain, telemetry.started())
            .instrument(telemetry.span().clone())
            .await;
        match &result {
            Ok(response) => telemetry.succeeded(&Outcome {
                id: &response.id,
                served_model: &response.model,
                upstream_provider: response.upstream_provider.as_deref(),
                usage: response.usage,
                status: response
                    .metadata
                    .attempts
                    .last()
                    .and_then(|attempt| attempt.status)
                    .unwrap_or(200),
            }),
            Err(error) => telemetry.failed(error),
        }
        result
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
        crate::streaming::start(self, request).await
    }

    async fn models(&self) -> Result<Vec<ModelInfo>, Error> {
        Ok(self.cached_models().await?.to_vec())
    }

    async fn credits(&self) -> Result<Credits, Error> {
        Ok(self.monitor_credits().await?.to_credits())
    }
}

/// Body keys the provider writes itself or that [`ChatRequest`]'s typed fields write; an
/// `extra` holding one of them goes through [`OpenRouter::body`], which resolves the clash.
const MANAGED_KEYS: [&str; 15] = [
    "agent_type",
    "max_tokens",
    "messages",
    "model",
    "models",
    "provider",
    "response_format",
    "seed",
    "stop",
    "stream",
    "temperature",
    "tool_choice",
    "tools",
    "top_p",
    "user",
];

/// The body of a request whose `extra` manages none of [`MANAGED_KEYS`]: the request's own
/// fields (its `extra` flattened), then what the provider adds.
#[derive(serde::Serialize)]
struct DirectBody<'a> {
    #[serde(flatten)]
    request: &'a ChatRequest,
    /// The chain's model, when the request names none.
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    models: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a Map<String, Value>>,
    stream: bool,
}

/// `X-Generation-Id`, when the body has no `id`.
pub(crate) fn generation_id_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-generation-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn build_chain(primary: Option<String>, fallbacks: &[String]) -> ModelChain {
    let mut rest: Vec<String> = Vec::new();
    for model in fallbacks {
        if primary.as_ref() != Some(model) && !rest.contains(model) {
            rest.push(model.clone());
        }
    }
    let model = match primary {
        Some(model) => Some(model),
        None if rest.is_empty() => None,
        None => Some(rest.remove(0)),
    };
    let remaining = rest.split_off(rest.len().min(MAX_SERVER_FALLBACKS));
    ModelChain {
        model,
        server_fallbacks: rest,
        remaining,
    }
}

/// Builds an [`OpenRouter`]. Every problem is reported by [`build`](Self::build).
#[must_use]
#[derive(Default)]
pub struct OpenRouterBuilder {
    api_key: Option<Secret>,
    base_url: Option<String>,
    default_model: Option<String>,
    fallback_models: Vec<String>,
    headers: BTreeMap<String, String>,
    request_timeout: Option<Duration>,
    preferences: Option<ProviderPreferences>,
    models_cache_ttl: Option<Duration>,
    http2_prior_knowledge: bool,
}

impl fmt::Debug for OpenRouterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may be credentials: show names only.
        f.debug_struct("OpenRouterBuilder")
            .field("api_key", &self.api_key)
            .field("base_url", &self.base_url)
            .field("default_model", &self.default_model)
            .field("fallback_models", &self.fallback_models)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("request_timeout", &self.request_timeout)
            .field("preferences", &self.preferences)
            .field("models_cache_ttl", &self.models_cache_ttl)
            .field("http2_prior_knowledge", &self.http2_prior_knowledge)
            .finish()
    }
}

impl OpenRouterBuilder {
    /// The API key (`sk-or-v1-…`), sent as `Authorization: Bearer`. Required.
    pub fn api_key(mut self, api_key: Secret) -> Self {
        self.api_key = Some(api_key);
        self
    }

    /// The API base URL; default [`DEFAULT_BASE_URL`].
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// The model used when a request names none.
    pub fn default_model(mut self, model: impl Into<String>) -> Self {
        self.default_model = Some(model.into());
        self
    }

    /// Fallback models, in order: the first [`MAX_SERVER_FALLBACKS`] go out as `models`.
    pub fn fallback_models(mut self, models: Vec<String>) -> Self {
        self.fallback_models = models;
        self
    }

    /// Extra headers on every request (`HTTP-Referer`, `X-OpenRouter-Title`, …). A title given
    /// as `X-Title` or `X-OpenRouter-Title` is sent under both names.
    pub fn headers<I, K, V>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.headers.extend(
            headers
                .into_iter()
                .map(|(name, value)| (name.into(), value.into())),
        );
        self
    }

    /// One extra header; see [`headers`](Self::headers).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Time limit of one request (`LLM_REQUEST_TIMEOUT`); default 30 s. For streams it bounds
    /// the wait for the response head and each silence between chunks.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Provider routing preferences for every request; see [`ProviderPreferences`].
    pub fn provider_preferences(mut self, preferences: ProviderPreferences) -> Self {
        self.preferences = Some(preferences);
        self
    }

    /// How long [`models`](Provider::models) answers from memory before asking again;
    /// default [`DEFAULT_MODELS_CACHE_TTL`]. `Duration::ZERO` disables the cache.
    pub fn models_cache_ttl(mut self, ttl: Duration) -> Self {
        self.models_cache_ttl = Some(ttl);
        self
    }

    /// Speaks HTTP/2 from the first byte, without negotiating it: for an `http://` base URL
    /// whose server serves HTTP/2 in clear text (h2c), such as the simulator or a local
    /// gateway, so that concurrent requests share one connection as they do against
    /// OpenRouter. Over `https://` HTTP/2 is negotiated anyway (TLS ALPN); with this option
    /// a server that only speaks HTTP/1.1 fails every request. Default off.
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.http2_prior_knowledge = true;
        self
    }

    /// Validates the configuration and builds the client (one connection pool).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for a missing or unusable API key, a bad base URL, a zero
    /// timeout, or a header name or value HTTP does not allow.
    pub fn build(self) -> Result<OpenRouter, Error> {
        let api_key = self
            .api_key
            .filter(|key| !key.expose().trim().is_empty())
            .ok_or_else(|| Error::config("OpenRouter needs an API key (OPENROUTER_API_KEY)"))?;
        let Ok(mut authorization) = HeaderValue::from_str(&format!("Bearer {}", api_key.expose()))
        else {
            return Err(Error::config(
                "the OpenRouter API key contains characters an HTTP header cannot carry",
            ));
        };
        authorization.set_sensitive(true);

        let base_url = self.base_url.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let base_url = orchestra_openai_compat::base_url(&base_url, "OpenRouter base URL")?;
        let chat_url = reqwest::Url::parse(&format!("{base_url}/chat/completions")).ok();

        let request_timeout = self.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        let headers = default_headers(&self.headers)?;

        let default_model = self
            .default_model
            .map(|model| model.trim().to_owned())
            .filter(|model| !model.is_empty());
        let mut fallback_models: Vec<String> = Vec::new();
        for model in self.fallback_models {
            let model = model.trim();
            if !model.is_empty() && !fallback_models.iter().any(|known| known == model) {
                fallback_models.push(model.to_owned());
            }
        }
        let default_chain = build_chain(default_model.clone(), &fallback_models);

        // No client-wide read timeout: reqwest would arm two more timers on every request
        // (the head and each body frame). A chat answer is bounded by its total timeout,
        // and a stream by its own idle limit (`StreamSetup::idle_timeout`).
        let mut http =
            orchestra_openai_compat::http_client_builder(request_timeout, headers, None)?;
        if self.http2_prior_knowledge {
            http = http.http2_prior_knowledge();
        }
        let http = http
            .build()
            .map_err(|error| Error::config("could not build the HTTP client").with_source(error))?;

        Ok(OpenRouter {
            inner: Arc::new(Inner {
                http,
                errors: Arc::new(OpenRouterErrors {
                    api_key: api_key.clone(),
                }),
                api_key,
                base_url,
                chat_url,
                authorization,
                default_model,
                fallback_models,
                default_chain,
                request_timeout,
                wire_preferences: self
                    .preferences
                    .as_ref()
                    .map(ProviderPreferences::to_object)
                    .filter(|object| !object.is_empty()),
                preferences: self.preferences,
                models_cache: crate::account::ModelsCache::new(
                    self.models_cache_ttl.unwrap_or(DEFAULT_MODELS_CACHE_TTL),
                ),
            }),
        })
    }
}

fn default_headers(headers: &BTreeMap<String, String>) -> Result<HeaderMap, Error> {
    let mut map = HeaderMap::new();
    let mut title = None;
    for (name, value) in headers {
        let header_name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
            Error::config(format!(
                "invalid header name `{name}` in OPENROUTER_HEADERS"
            ))
        })?;
        let mut header_value = HeaderValue::from_str(value.trim()).map_err(|_| {
            Error::config(format!(
                "the value of header `{name}` in OPENROUTER_HEADERS is not a valid header value"
            ))
        })?;
        if header_name == reqwest::header::AUTHORIZATION {
            return Err(Error::config(
                "OPENROUTER_HEADERS must not set Authorization; use OPENROUTER_API_KEY",
            ));
        }
        header_value.set_sensitive(!is_public_header(&header_name));
        if matches!(header_name.as_str(), "x-title" | "x-openrouter-title") {
            title.get_or_insert_with(|| header_value.clone());
        }
        map.insert(header_name, header_value);
    }
    if let Some(title) = title {
        for name in ["x-openrouter-title", "x-title"] {
            map.entry(name).or_insert_with(|| title.clone());
        }
    }
    Ok(map)
}

/// Attribution headers are public; anything else might be a credential.
fn is_public_header(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "http-referer" | "referer" | "x-title" | "x-openrouter-title" | "x-openrouter-categories"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_core::Message;
    use serde_json::json;

    /// Encoded directly or through a `Value`, every body is the same JSON object.
    #[test]
    fn encoded_body_matches_the_general_path() -> Result<(), Error> {
        let plain = OpenRouter::builder()
            .api_key(Secret::new("sk-or-v1-test"))
            .default_model("a/default")
            .fallback_models(vec!["b/one".into(), "c/two".into()])
            .build()?;
        let with_preferences = OpenRouter::builder()
            .api_key(Secret::new("sk-or-v1-test"))
            .provider_preferences(ProviderPreferences::new().order(["x"]).zdr(true))
            .build()?;
        let base = ChatRequest::new(vec![Message::system("be brief"), Message::user("hi")]);
        let requests = [
            base.clone(),
            base.clone().model("d/own").max_tokens(16).temperature(0.5),
            base.clone()
                .extra("reasoning", json!({"effort": "low"}))
                .seed(7),
            base.clone().extra("models", json!(["e", "f", "g", "h"])),
            base.clone()
                .extra("provider", json!({"zdr": null, "sort": "price"})),
            base.clone()
                .extra("temperature", json!(1.5))
                .temperature(0.1),
            base.clone().extra("agent_type", json!("leaked")),
            base.clone().extra("stream", json!(true)),
        ];
        for client in [&plain, &with_preferences] {
            for request in &requests {
                for stream in [false, true] {
                    let chain = client.model_chain(request);
                    let encoded = client.encode_body(request, &chain, stream)?;
                    let decoded: Value = serde_json::from_slice(&encoded)
                        .map_err(|error| Error::config(error.to_string()))?;
                    let expected = Value::Object(client.body(request, &chain, stream)?);
                    assert_eq!(decoded, expected, "{request:?}");
                }
            }
        }
        Ok(())
    }

    #[test]
    fn chain_dedupes_and_splits_at_three() {
        let fallbacks: Vec<String> = ["a", "b", "a", "c", "d", "e"].map(String::from).to_vec();
        let chain = build_chain(Some("b".into()), &fallbacks);
        assert_eq!(chain.model.as_deref(), Some("b"));
        assert_eq!(chain.server_fallbacks, ["a", "c", "d"]);
        assert_eq!(chain.remaining, ["e"]);

        let chain = build_chain(None, &fallbacks[..2]);
        assert_eq!(chain.model.as_deref(), Some("a"));
        assert_eq!(chain.server_fallbacks, ["b"]);
        assert_eq!(build_chain(None, &[]), ModelChain::default());
    }
}
