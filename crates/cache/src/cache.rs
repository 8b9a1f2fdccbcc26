//! The cache itself: [`ResponseCache`] (shared state, a [`Layer`]) and the [`Cache`]
//! decorator.

mod flight;
mod replay;

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use futures_util::StreamExt;
use orchestra_config::{CacheEmbedder, CacheMode, CacheSettings};
use orchestra_core::{
    CacheStatus, ChatRequest, ChatResponse, ChatStream, Credits, Error, FinishReason, Layer,
    ModelInfo, Provider, ResponseMetadata, Secret, StreamAccumulator, StreamEvent,
};

use crate::{
    clock::{Clock, SystemClock},
    control::CacheControl,
    embed::{Embedder, LexicalEmbedder},
    guard::{Guard, Signature, Verdict},
    index::{IndexedMeta, WordFilter},
    key::RequestKeys,
    stats::{CacheStats, Counters},
    store::{MemoryState, SemanticRecord},
};

/// Semantic candidates checked by the guard per lookup, best first.
const CANDIDATES: usize = 4;

/// A response cache, shared by every provider it wraps.
///
/// Cheap to clone (one `Arc`); every clone and every [`Cache`] made from it share entries
/// and counters. It is a [`Layer`], so it wraps any [`Provider`]:
///
/// ```
/// use orchestra_cache::{CacheMode, ResponseCache};
/// use orchestra_core::Layer;
/// # use orchestra_core::{ChatRequest, ChatResponse, ChatStream, Choice, Error, FinishReason, Message, Provider};
/// # struct Upstream;
/// # #[async_trait::async_trait]
/// # impl Provider for Upstream {
/// #     fn name(&self) -> &str { "upstream" }
/// #     async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
/// #         let choice = Choice::new(0, Message::assistant("Paris."), Some(FinishReason::Stop));
/// #         Ok(ChatResponse::new("gen-1", "m", "upstream", vec![choice]))
/// #     }
/// #     async fn chat_stream(&self, _: &ChatRequest) -> Result<ChatStream, Error> { Err(Error::unsupported("stream")) }
/// # }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cache = ResponseCache::builder().mode(CacheMode::Semantic).build().unwrap();
/// let provider = cache.layer(Upstream);
///
/// let ask = |text: &str| ChatRequest::new(vec![Message::user(text)]).model("m");
/// let first = provider.chat(&ask("What is the capital of France?")).await.unwrap();
/// assert_eq!(first.metadata.cache.as_str(), "miss");
/// let again = provider.chat(&ask("what is the capital of France")).await.unwrap();
/// assert_eq!(again.metadata.cache.as_str(), "semantic_hit");
/// let other = provider.chat(&ask("What is the capital of Germany?")).await.unwrap();
/// assert_eq!(other.metadata.cache.as_str(), "miss");
/// assert_eq!(cache.stats().semantic_hits, 1);
/// # });
/// ```
#[derive(Clone)]
pub struct ResponseCache {
    core: Arc<Core>,
}

impl fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = &self.core;
        f.debug_struct("ResponseCache")
            .field("mode", &core.mode)
            .field("ttl", &core.ttl)
            .field("max_entries", &core.max_entries)
            .field("similarity", &core.similarity)
            .field(
                "embedder",
                &core.embedder.as_ref().map(|e| e.id().to_owned()),
            )
            .field("shared", &core.shared_store())
            .finish_non_exhaustive()
    }
}

struct Core {
    mode: CacheMode,
    ttl: Duration,
    max_entries: usize,
    similarity: f32,
    guard: Guard,
    embedder: Option<Arc<dyn Embedder>>,
    state: Mutex<MemoryState>,
    #[cfg(feature = "redis")]
    redis: Option<crate::store::redis::RedisStore>,
    counters: Counters,
    clock: Arc<dyn Clock>,
    flights: flight::Flights,
}

/// Builds a [`ResponseCache`]. Defaults: semantic mode with the built-in
/// [`LexicalEmbedder`], the [`Guard`] on, and the `LLM_CACHE_*` defaults (1 h TTL, 10,000
/// entries, similarity [`CacheSettings::DEFAULT_SIMILARITY`]).
#[derive(Debug)]
pub struct CacheBuilder {
    mode: CacheMode,
    ttl: Duration,
    max_entries: usize,
    similarity: f32,
    guard: Guard,
    embedder: Option<Arc<dyn Embedder>>,
    clock: Arc<dyn Clock>,
    redis_url: Option<Secret>,
    redis_prefix: String,
    /// The embedder `LLM_CACHE_EMBEDDER` names, made in `build` unless `embedder` is set.
    configured: CacheEmbedder,
    /// Its model folder (`LLM_CACHE_EMBEDDER=local:DIR`).
    configured_dir: Option<PathBuf>,
}

impl Default for CacheBuilder {
    fn default() -> Self {
        let defaults = CacheSettings::default();
        Self {
            mode: CacheMode::Semantic,
            ttl: defaults.ttl,
            max_entries: defaults.max_entries,
            similarity: defaults.similarity,
            guard: Guard::default(),
            embedder: None,
            clock: Arc::new(SystemClock),
            redis_url: None,
            redis_prefix: "orchestra:cache".to_owned(),
            configured: CacheEmbedder::Lexical,
            configured_dir: None,
        }
    }
}

impl CacheBuilder {
    /// Which tiers answer (`Off` passes every request through).
    #[must_use]
    pub fn mode(mut self, mode: CacheMode) -> Self {
        self.mode = mode;
        self
    }

    /// How long an answer is served; must be greater than zero.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Entries kept in process; the least recently used are evicted beyond it.
    #[must_use]
    pub fn max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// The cosine similarity a semantic match needs, in (0, 1].
    #[must_use]
    pub fn similarity(mut self, similarity: f32) -> Self {
        self.similarity = similarity;
        self
    }

    /// The near-miss checks run on semantic candidates.
    #[must_use]
    pub fn guard(mut self, guard: Guard) -> Self {
        self.guard = guard;
        self
    }

    /// The embedder of the semantic tier (default: [`LexicalEmbedder`]).
    #[must_use]
    pub fn embedder(mut self, embedder: impl Embedder + 'static) -> Self {
        self.embedder = Some(Arc::new(embedder));
        self
    }

    /// The clock used for expiry (tests use [`ManualClock`](crate::ManualClock)).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Shares entries through Redis at `url` (feature `redis`).
    #[must_use]
    pub fn redis_url(mut self, url: Secret) -> Self {
        self.redis_url = Some(url);
        self
    }

    /// The prefix of every Redis key (default `orchestra:cache`), to separate applications
    /// sharing one Redis.
    #[must_use]
    pub fn redis_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.redis_prefix = prefix.into();
        self
    }

    /// Builds the cache. Redis is connected on first use.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](orchestra_core::ErrorKind::Config) for a zero TTL or size, a
    /// similarity outside (0, 1], a Redis URL without the `redis` feature, or
    /// `LLM_CACHE_EMBEDDER=local` without the `local-embed` feature.
    pub fn build(self) -> Result<ResponseCache, Error> {
        if self.ttl.is_zero() {
            return Err(Error::config("the cache TTL must be greater than 0"));
        }
        if self.max_entries == 0 {
            return Err(Error::config("the cache needs room for at least 1 entry"));
        }
        if !(self.similarity > 0.0 && self.similarity <= 1.0) {
            return Err(Error::config(
                "the cache similarity must be greater than 0 and at most 1",
            ));
        }
        let embedder = match (self.mode, self.embedder) {
            (CacheMode::Semantic, None) => Some(configured_embedder(
                self.configured,
                self.configured_dir.as_deref(),
            )?),
            (CacheMode::Semantic, Some(embedder)) => Some(embedder),
            _ => None,
        };
        let dims = embedder.as_ref().map(|embedder| embedder.dims());
        #[cfg(feature = "redis")]
        let redis = match &self.redis_url {
            Some(url) if self.mode != CacheMode::Off => Some(crate::store::redis::RedisStore::new(
                url,
                self.redis_prefix.clone(),
            )?),
            _ => None,
        };
        #[cfg(not(feature = "redis"))]
        if self.redis_url.is_some() {
            return Err(Error::config(
                "LLM_CACHE_REDIS_URL is set but orchestra-cache was built without its `redis` feature",
            ));
        }
        Ok(ResponseCache {
            core: Arc::new(Core {
                mode: self.mode,
                ttl: self.ttl,
                max_entries: self.max_entries,
                similarity: self.similarity,
                guard: self.guard,
                embedder,
                state: Mutex::new(MemoryState::new(self.max_entries, dims)),
                #[cfg(feature = "redis")]
                redis,
                counters: Counters::default(),
                clock: self.clock,
                flights: flight::Flights::default(),
            }),
        })
    }
}

impl ResponseCache {
    /// A builder with the defaults.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// A builder from `LLM_CACHE_*` settings (mode, TTL, size, embedder with its guard,
    /// similarity, Redis URL). The embedder is made by [`CacheBuilder::build`].
    pub fn builder_from_settings(settings: &CacheSettings) -> CacheBuilder {
        let mut builder = CacheBuilder::default()
            .mode(settings.mode)
            .ttl(settings.ttl)
            .max_entries(settings.max_entries)
            .similarity(settings.similarity)
            .guard(guard_for(settings.embedder));
        builder.configured = settings.embedder;
        builder.configured_dir.clone_from(&settings.embedder_dir);
        builder.redis_url.clone_from(&settings.redis_url);
        builder
    }

    /// A cache configured by `LLM_CACHE_*` settings.
    ///
    /// # Errors
    ///
    /// As [`CacheBuilder::build`].
    pub fn from_settings(settings: &CacheSettings) -> Result<Self, Error> {
        Self::builder_from_settings(settings).build()
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        self.core.counters.snapshot()
    }

    /// The mode this cache runs in.
    pub fn mode(&self) -> CacheMode {
        self.core.mode
    }

    /// Entries held in process (with Redis: the semantic index's entries).
    pub fn len(&self) -> usize {
        self.core.lock().len()
    }

    /// Whether no entry is held in process.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wraps `inner`; the same as [`Layer::layer`].
    pub fn wrap<P: Provider>(&self, inner: P) -> Cache<P> {
        Cache {
            inner,
            cache: self.clone(),
        }
    }

    /// Turns the sketch pre-filter of large scopes on or off (measurements compare the two;
    /// it is on by default).
    #[doc(hidden)]
    pub fn set_sketch_filter(&self, on: bool) {
        self.core.lock().set_sketch_filter(on);
    }

    /// Stores `response` for `request` as the provider `provider` would answer it, with the
    /// query's embedding when the caller has it (measurements fill caches this way, in
    /// batches, without a lookup per entry).
    pub(crate) async fn preload(
        &self,
        provider: &str,
        request: &ChatRequest,
        vector: Option<Vec<f32>>,
        response: &ChatResponse,
    ) {
        let keys = RequestKeys::of(provider, request);
        self.core
            .store(&keys, CacheControl::Default, vector, response)
            .await;
    }

    /// The semantic tier's embedder (none unless the mode is semantic).
    pub(crate) fn embedder(&self) -> Option<Arc<dyn Embedder>> {
        self.core.embedder.clone()
    }

    /// Looks `request` up as the provider `provider` would receive it, without calling
    /// anything upstream: what [`Cache`] does before deciding to forward. Counts as a hit
    /// when it finds one.
    pub async fn lookup(&self, provider: &str, request: &ChatRequest) -> Option<ChatResponse> {
        let mut request = request.clone();
        let control = CacheControl::take(&mut request);
        if self.core.mode == CacheMode::Off || control == CacheControl::Bypass {
            return None;
        }
        let keys = RequestKeys::of(provider, &request);
        match self.core.lookup(&keys, control).await {
            Lookup::Hit(response) => Some(response),
            Lookup::Miss { .. } => None,
        }
    }
}

impl<P: Provider> Layer<P> for ResponseCache {
    type Provider = Cache<P>;

    fn layer(&self, inner: P) -> Cache<P> {
        self.wrap(inner)
    }
}

/// The near-miss guard measured with each configurable embedder (docs/caching.md): the
/// lexical embedder needs the wording check; a sentence-embedding model can relax it, and
/// then serves a reworded question only at similarity 0.95 or above.
pub(crate) fn guard_for(embedder: CacheEmbedder) -> Guard {
    match embedder {
        CacheEmbedder::Local => Guard::semantic(Some(2)).reworded_at(REWORDED_SIMILARITY),
        _ => Guard::default(),
    }
}

/// The similarity a reworded question needs with the local models (measured on the tuning
/// part of the paraphrase data; docs/caching.md).
pub(crate) const REWORDED_SIMILARITY: f32 = 0.95;

/// The embedder `LLM_CACHE_EMBEDDER` names (`local:DIR`: `dir` is set).
fn configured_embedder(
    embedder: CacheEmbedder,
    dir: Option<&Path>,
) -> Result<Arc<dyn Embedder>, Error> {
    match (embedder, dir) {
        #[cfg(feature = "local-embed")]
        (CacheEmbedder::Local, Some(dir)) => {
            Ok(Arc::new(crate::embed::LocalEmbedder::from_dir(dir)?))
        }
        #[cfg(feature = "local-embed")]
        (CacheEmbedder::Local, None) => Ok(Arc::new(crate::embed::LocalEmbedder::bundled()?)),
        #[cfg(not(feature = "local-embed"))]
        (CacheEmbedder::Local, _) => Err(Error::config(
            "LLM_CACHE_EMBEDDER=local needs orchestra-cache built with its `local-embed` feature (orchestra-llm: feature `cache-local-embed`)",
        )),
        _ => Ok(Arc::new(LexicalEmbedder::default())),
    }
}

/// The result of a lookup.
enum Lookup {
    Hit(ChatResponse),
    /// Not found; the query's embedding when one was computed.
    Miss {
        vector: Option<Vec<f32>>,
    },
}

impl Core {
    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn shared_store(&self) -> bool {
        #[cfg(feature = "redis")]
        return self.redis.is_some();
        #[cfg(not(feature = "redis"))]
        false
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    async fn lookup(&self, keys: &RequestKeys, control: CacheControl) -> Lookup {
        if control == CacheControl::Refresh {
            return Lookup::Miss { vector: None };
        }
        if let Some(response) = self.exact(keys.exact).await {
            return Lookup::Hit(self.serve(response, CacheStatus::Hit));
        }
        if control == CacheControl::ExactOnly || self.mode != CacheMode::Semantic {
            return Lookup::Miss { vector: None };
        }
        let (Some(embedder), Some(query)) = (&self.embedder, &keys.query) else {
            return Lookup::Miss { vector: None };
        };
        let vector = match embedder.embed(&[query.as_str()]).await {
            Ok(mut vectors) if vectors.len() == 1 => vectors.remove(0),
            Ok(_) => {
                self.counters.error();
                return Lookup::Miss { vector: None };
            }
            Err(error) => {
                self.counters.error();
                tracing::warn!(target: "orchestra_cache", %error, "embedding failed; semantic tier skipped");
                return Lookup::Miss { vector: None };
            }
        };
        self.catch_up().await;
        let signature = Signature::of(query);
        let bucket = self.bucket(keys.scope, &signature);
        let filter = self.guard.word_budget().map(|budget| WordFilter {
            signature: &signature,
            budget,
        });
        let candidates = self.lock().search(
            bucket,
            &vector,
            self.similarity,
            CANDIDATES,
            self.now_ms(),
            filter,
        );
        if candidates.is_empty() {
            return Lookup::Miss {
                vector: Some(vector),
            };
        }
        for candidate in candidates {
            let verdict =
                self.guard
                    .judge(&signature, &candidate.meta.signature, candidate.similarity);
            if verdict != Verdict::Same {
                self.counters.guard_rejection();
                tracing::debug!(
                    target: "orchestra_cache",
                    similarity = candidate.similarity,
                    verdict = verdict.as_str(),
                    "semantic candidate refused by the near-miss guard"
                );
                continue;
            }
            if let Some(response) = self.exact(candidate.key).await {
                return Lookup::Hit(self.serve(
                    response,
                    CacheStatus::SemanticHit {
                        similarity: candidate.similarity,
                    },
                ));
            }
        }
        Lookup::Miss {
            vector: Some(vector),
        }
    }

    /// The index bucket of a question in `scope`. With the default guard (wording checked, no
    /// extra words) only questions with the same words that matter can ever match, so the
    /// bucket is narrowed to them: a lookup then scores a handful of vectors however large
    /// the cache grows. Otherwise the bucket is the whole scope.
    fn bucket(&self, scope: u64, signature: &Signature) -> u64 {
        if self.guard.wording && self.guard.extra_words == 0 {
            signature.form_hash(scope)
        } else {
            scope
        }
    }

    /// The stored response under `key`, from memory or the shared store.
    async fn exact(&self, key: u128) -> Option<Arc<ChatResponse>> {
        let local = self.lock().get(key, self.now_ms());
        match local {
            Some(Some(response)) => return Some(response),
            None if !self.shared_store() => return None,
            _ => {}
        }
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis {
            match redis.get(key).await {
                Ok(Some(response)) => return Some(Arc::new(response)),
                Ok(None) => {
                    self.lock().remove(key);
                    return None;
                }
                Err(error) => {
                    self.counters.error();
                    tracing::warn!(target: "orchestra_cache", %error, "shared cache lookup failed");
                    return None;
                }
            }
        }
        None
    }

    /// Reads the shared index records other processes added.
    async fn catch_up(&self) {
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis {
            let records = match redis.updates().await {
                Ok(records) => records,
                Err(error) => {
                    self.counters.error();
                    tracing::warn!(target: "orchestra_cache", %error, "reading the shared cache index failed");
                    return;
                }
            };
            let Some(embedder) = &self.embedder else {
                return;
            };
            let now = self.now_ms();
            let mut state = self.lock();
            for record in records {
                if record.embedder != embedder.id() || record.expires_ms <= now {
                    continue;
                }
                let signature = Signature::of(&record.query);
                let bucket = self.bucket(record.scope, &signature);
                let meta = Arc::new(IndexedMeta {
                    signature,
                    text: record.query.into(),
                });
                let evicted = state.insert(
                    record.key,
                    None,
                    record.expires_ms,
                    now,
                    Some(SemanticRecord {
                        scope: bucket,
                        vector: record.vector,
                        meta,
                    }),
                );
                self.counters.evictions(evicted);
            }
        }
    }

    fn serve(&self, response: Arc<ChatResponse>, status: CacheStatus) -> ChatResponse {
        let mut response = Arc::unwrap_or_clone(response);
        response.metadata = ResponseMetadata::default();
        response.metadata.cache = status;
        self.counters.served(status, response.usage.as_ref());
        response
    }

    /// Stores a fresh, complete response.
    async fn store(
        &self,
        keys: &RequestKeys,
        control: CacheControl,
        vector: Option<Vec<f32>>,
        response: &ChatResponse,
    ) {
        if !storable(response) {
            return;
        }
        let mut clean = response.clone();
        clean.metadata = ResponseMetadata::default();
        let semantic = self.mode == CacheMode::Semantic;
        let vector = match (semantic, &keys.query, &self.embedder, vector) {
            (true, Some(_), Some(_), Some(vector)) => Some(vector),
            (true, Some(query), Some(embedder), None) => {
                match embedder.embed(&[query.as_str()]).await {
                    Ok(mut vectors) if vectors.len() == 1 => Some(vectors.remove(0)),
                    _ => {
                        self.counters.error();
                        None
                    }
                }
            }
            _ => None,
        };
        let _ = control;
        let now = self.now_ms();
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let expires_ms = now.saturating_add(ttl_ms);
        let record = match (vector, &keys.query) {
            (Some(vector), Some(query)) => {
                let signature = Signature::of(query);
                Some(SemanticRecord {
                    scope: self.bucket(keys.scope, &signature),
                    vector,
                    meta: Arc::new(IndexedMeta {
                        signature,
                        text: query.as_str().into(),
                    }),
                })
            }
            _ => None,
        };
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis {
            // The shared record carries the request's scope; each process derives its own
            // bucket from it with its own guard.
            let shared = record
                .as_ref()
                .map(|record| crate::store::redis::IndexRecord {
                    key: keys.exact,
                    scope: keys.scope,
                    query: record.meta.text.to_string(),
                    vector: record.vector.clone(),
                    embedder: self
                        .embedder
                        .as_ref()
                        .map(|embedder| embedder.id().to_owned())
                        .unwrap_or_default(),
                    expires_ms,
                });
            if let Err(error) = redis
                .put(
                    keys.exact,
                    &clean,
                    self.ttl.as_secs().max(1),
                    shared.as_ref(),
                    self.max_entries,
                )
                .await
            {
                self.counters.error();
                tracing::warn!(target: "orchestra_cache", %error, "shared cache store failed");
                return;
            }
            let evicted = self
                .lock()
                .insert(keys.exact, None, expires_ms, now, record);
            self.counters.evictions(evicted);
            self.counters.store();
            return;
        }
        let evicted =
            self.lock()
                .insert(keys.exact, Some(Arc::new(clean)), expires_ms, now, record);
        self.counters.evictions(evicted);
        self.counters.store();
    }
}

/// Only complete, successful answers are stored: every choice finished normally (stop,
/// length, tool calls) and at least one carries text or tool calls.
fn storable(response: &ChatResponse) -> bool {
    !response.choices.is_empty()
        && response.choices.iter().all(|choice| {
            matches!(
                choice.finish_reason,
                Some(FinishReason::Stop | FinishReason::Length | FinishReason::ToolCalls)
            )
        })
        && response.choices.iter().any(|choice| {
            !choice.message.tool_calls.is_empty()
                || choice
                    .message
                    .text()
                    .is_some_and(|text| !text.trim().is_empty())
        })
}

/// A [`Provider`] that answers from a [`ResponseCache`] when it can and asks `P` otherwise.
///
/// Per request, [`CacheControl`] (in [`ChatRequest::extra`]) can bypass, refresh or limit
/// the cache; it is removed before the request is forwarded. The outcome is in
/// `response.metadata.cache` and in a `tracing` event (target `orchestra_cache`).
pub struct Cache<P> {
    inner: P,
    cache: ResponseCache,
}

impl<P: fmt::Debug> fmt::Debug for Cache<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("inner", &self.inner)
            .field("cache", &self.cache)
            .finish()
    }
}

impl<P: Provider> Cache<P> {
    /// Wraps `inner` with `cache`.
    pub fn new(inner: P, cache: &ResponseCache) -> Self {
        cache.wrap(inner)
    }

    /// The shared cache.
    pub fn cache(&self) -> &ResponseCache {
        &self.cache
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// Splits off the control; `None` when the cache stays out of this request.
    fn prepare(&self, request: &ChatRequest) -> (ChatRequest, Option<(RequestKeys, CacheControl)>) {
        let mut forwarded = request.clone();
        let control = CacheControl::take(&mut forwarded);
        if self.cache.core.mode == CacheMode::Off {
            return (forwarded, None);
        }
        if control == CacheControl::Bypass {
            self.cache.core.counters.bypass();
            return (forwarded, None);
        }
        let keys = RequestKeys::of(self.inner.name(), &forwarded);
        (forwarded, Some((keys, control)))
    }

    /// Looks `forwarded` up and, on a miss, asks upstream and stores the answer.
    async fn lead(
        &self,
        forwarded: &ChatRequest,
        keys: &RequestKeys,
        control: CacheControl,
        started: Instant,
    ) -> Result<ChatResponse, Error> {
        let core = &self.cache.core;
        let vector = match core.lookup(keys, control).await {
            Lookup::Hit(mut response) => {
                self.trace(forwarded, response.metadata.cache, started);
                response.metadata.latency = started.elapsed().max(Duration::from_nanos(1));
                return Ok(response);
            }
            Lookup::Miss { vector } => vector,
        };
        core.counters.miss();
        self.trace(forwarded, CacheStatus::Miss, started);
        let mut response = self.inner.chat(forwarded).await?;
        core.store(keys, control, vector, &response).await;
        response.metadata.cache = CacheStatus::Miss;
        Ok(response)
    }

    /// A follower's copy of its leader's outcome: an answer the leader fetched is a `Hit`
    /// for the follower (it made no upstream call); an error is the same error.
    fn follower_answer(
        &self,
        forwarded: &ChatRequest,
        outcome: flight::Outcome,
        started: Instant,
    ) -> Result<ChatResponse, Error> {
        let (response, status) = outcome?;
        let status = match status {
            CacheStatus::SemanticHit { similarity } => CacheStatus::SemanticHit { similarity },
            _ => CacheStatus::Hit,
        };
        let mut response = self.cache.core.serve(response, status);
        self.trace(forwarded, status, started);
        response.metadata.latency = started.elapsed().max(Duration::from_nanos(1));
        Ok(response)
    }

    fn trace(&self, request: &ChatRequest, status: CacheStatus, started: Instant) {
        let similarity = match status {
            CacheStatus::SemanticHit { similarity } => Some(similarity),
            _ => None,
        };
        tracing::debug!(
            target: "orchestra_cache",
            provider = self.inner.name(),
            model = request.model.as_deref().unwrap_or("-"),
            status = status.as_str(),
            similarity,
            lookup_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "cache lookup"
        );
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<P: Provider> Provider for Cache<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
        let started = Instant::now();
        let (forwarded, plan) = self.prepare(request);
        let Some((keys, control)) = plan else {
            return self.inner.chat(&forwarded).await;
        };
        let core = &self.cache.core;
        // Identical requests in flight share one lookup and one upstream call. A refresh
        // always asks upstream itself.
        let leader = loop {
            if control == CacheControl::Refresh {
                break None;
            }
            match core.flights.join(keys.exact, control) {
                flight::Role::Leader(leader) => break Some(leader),
                flight::Role::Follower(slot) => {
                    // `None`: the leader was dropped unfinished; start over (perhaps leading).
                    if let Some(outcome) = flight::follow(slot).await {
                        core.counters.coalesced();
                        return self.follower_answer(&forwarded, outcome, started);
                    }
                }
            }
        };
        let result = self.lead(&forwarded, &keys, control, started).await;
        if let Some(leader) = leader {
            leader.publish(match &result {
                Ok(response) => Ok((Arc::new(response.clone()), response.metadata.cache)),
                Err(error) => Err(error.clone()),
            });
        }
        result
    }

    // The request keys the answer it stores after the call: borrowed.
    async fn chat_owned(&self, request: ChatRequest) -> Result<ChatResponse, Error> {
        self.chat(&request).await
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
        let started = Instant::now();
        let (forwarded, plan) = self.prepare(request);
        let Some((keys, control)) = plan else {
            return self.inner.chat_stream(&forwarded).await;
        };
        let core = Arc::clone(&self.cache.core);
        let vector = match core.lookup(&keys, control).await {
            Lookup::Hit(response) => {
                self.trace(&forwarded, response.metadata.cache, started);
                return Ok(replay::events(&response));
            }
            Lookup::Miss { vector } => vector,
        };
        core.counters.miss();
        self.trace(&forwarded, CacheStatus::Miss, started);
        let upstream = self.inner.chat_stream(&forwarded).await?;
        Ok(record(upstream, core, keys, control, vector))
    }

    async fn models(&self) -> Result<Vec<ModelInfo>, Error> {
        self.inner.models().await
    }

    async fn credits(&self) -> Result<Credits, Error> {
        self.inner.credits().await
    }
}

/// Passes `upstream` through (its `Start` reporting a cache miss) and stores the answer once
/// the stream has ended cleanly with every choice finished. A stream that fails, or that the caller drops early, is not stored.
fn record(
    upstream: ChatStream,
    core: Arc<Core>,
    keys: RequestKeys,
    control: CacheControl,
    vector: Option<Vec<f32>>,
) -> ChatStream {
    struct Recording {
        upstream: ChatStream,
        accumulator: StreamAccumulator,
        failed: bool,
        core: Arc<Core>,
        keys: RequestKeys,
        control: CacheControl,
        vector: Option<Vec<f32>>,
    }
    let state = Recording {
        upstream,
        accumulator: StreamAccumulator::default(),
        failed: false,
        core,
        keys,
        control,
        vector,
    };
    Box::pin(futures_util::stream::unfold(
        Some(state),
        |state| async move {
            let mut state = state?;
            match state.upstream.next().await {
                Some(Ok(mut event)) => {
                    // The answer is fresh, and the cache looked for it: a miss.
                    if let StreamEvent::Start(start) = &mut event {
                        start.cache = CacheStatus::Miss;
                    }
                    state.accumulator.push(&event);
                    Some((Ok(event), Some(state)))
                }
                Some(Err(error)) => {
                    state.failed = true;
                    Some((Err(error), Some(state)))
                }
                None => {
                    if !state.failed && state.accumulator.is_finished() {
                        let response = state.accumulator.into_response();
                        state
                            .core
                            .store(&state.keys, state.control, state.vector, &response)
                            .await;
                    }
                    None
                }
            }
        },
    ))
}
