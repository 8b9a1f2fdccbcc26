//! The [`Portkey`] client, its builder, and chat (whole and streamed).

use std::{
    collections::BTreeMap,
    fmt,
    hash::{BuildHasher, Hasher},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use orchestra_core::{
    Attempt, AttemptOutcome, CacheStatus, ChatRequest, ChatResponse, ChatStream, Credits, Error,
    ErrorKind, ModelInfo, Provider, Secret,
};
use orchestra_openai_compat::{
    ErrorMapper, Failure, MAX_ERROR_BODY_BYTES, MAX_RESPONSE_BODY_BYTES, StreamSetup,
    parse_completion, read_body, stream_response,
};
use orchestra_provider_openrouter::OpenRouter;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::{
    PROVIDER_NAME,
    errors::PortkeyErrors,
    ledger::{Ledger, OpenRouterAccount, PortkeyCreditReport},
    plan::{Leaf, Mode, Plan, Root},
    pricing::{PriceSource, order_by_price, price_of},
    target::{PortkeyTarget, RetryPolicy},
    telemetry::{Outcome, RequestSpan, StreamWatch},
};

/// Hosted Portkey's API.
pub const DEFAULT_BASE_URL: &str = "https://api.portkey.ai/v1";

/// OpenRouter's API, for the balance of `openrouter` targets without a `custom_host`.
pub const DEFAULT_OPENROUTER_BASE_URL: &str = "https://openrouter.ai/api/v1";

/// Per-try time limit when none is configured (`LLM_REQUEST_TIMEOUT`'s default).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long prices for `cost_aware` are reused.
pub const DEFAULT_PRICE_CACHE_TTL: Duration = Duration::from_secs(300);

/// A client of a Portkey gateway (hosted or the open-source one): implements [`Provider`] as
/// `"portkey"`.
///
/// Every request carries an inline `x-portkey-config` built from the targets, strategy,
/// retry policy, timeout and cache setting; the answer's `x-portkey-*` headers say which
/// target served, how often the gateway retried and whether its cache answered. Cheap to
/// clone: clones share one connection pool, configuration and usage ledger.
///
/// ```no_run
/// use orchestra_core::{ChatRequest, Message, Provider, Secret};
/// use orchestra_provider_portkey::{Mode, Portkey, PortkeyTarget};
///
/// # async fn demo() -> Result<(), orchestra_core::Error> {
/// let client = Portkey::builder()
///     .base_url("http://127.0.0.1:8787/v1")
///     .target(PortkeyTarget::new("openai", "gpt-4o-mini").api_key(Secret::new("sk-...")))
///     .target(PortkeyTarget::new("openrouter", "google/gemini-2.5-flash:free")
///         .api_key(Secret::new("sk-or-v1-...")))
///     .mode(Mode::Fallback)
///     .build()?;
/// let response = client.chat(&ChatRequest::new(vec![Message::user("Hello")])).await?;
/// println!("{} answered after {} attempt(s)", response.model, response.metadata.attempts.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Portkey {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    /// `{base_url}/chat/completions`, parsed once rather than on every call; `None` if it
    /// does not parse (the call then fails as it would with the text).
    chat_url: Option<reqwest::Url>,
    api_key: Option<Secret>,
    virtual_key: Option<Secret>,
    config_id: Option<String>,
    trace_id: Option<String>,
    targets: Vec<PortkeyTarget>,
    mode: Mode,
    root: Root,
    request_timeout: Duration,
    prices: Option<PriceSource>,
    errors: Arc<PortkeyErrors>,
    ledger: Arc<Ledger>,
    accounts: Vec<Account>,
    cache_warned: AtomicBool,
    order_warned: AtomicBool,
}

/// An OpenRouter account reachable with a target's key.
struct Account {
    base_url: String,
    models: Vec<String>,
    client: Result<OpenRouter, Error>,
}

impl fmt::Debug for Portkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Portkey")
            .field("base_url", &inner.base_url)
            .field("api_key", &inner.api_key)
            .field("virtual_key", &inner.virtual_key)
            .field("config_id", &inner.config_id)
            .field("trace_id", &inner.trace_id)
            .field("mode", &inner.mode)
            .field("targets", &inner.targets)
            .field("request_timeout", &inner.request_timeout)
            .field("retry", &inner.root.retry)
            .field("semantic_cache", &inner.root.semantic_cache)
            .field(
                "price_source",
                &inner.prices.as_ref().map(PriceSource::name),
            )
            .finish_non_exhaustive()
    }
}

/// What the gateway's response headers say.
#[derive(Debug, Default)]
struct GatewayInfo {
    last_used: Option<String>,
    retry_count: Option<i64>,
    cache: Option<String>,
    provider: Option<String>,
    trace_id: Option<String>,
}

impl GatewayInfo {
    fn from_headers(headers: &HeaderMap) -> Self {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        Self {
            last_used: text("x-portkey-last-used-option-index"),
            retry_count: text("x-portkey-retry-attempt-count").and_then(|count| count.parse().ok()),
            cache: text("x-portkey-cache-status"),
            provider: text("x-portkey-provider"),
            trace_id: text("x-portkey-trace-id"),
        }
    }
}

/// `x-portkey-cache-status` → [`CacheStatus`]. Portkey reports no similarity for a semantic
/// hit; its semantic cache answers only at ≥ 0.95, which is what is recorded.
pub(crate) fn cache_status(status: Option<&str>) -> CacheStatus {
    match status.map(str::to_ascii_uppercase).as_deref() {
        Some("HIT") => CacheStatus::Hit,
        Some("SEMANTIC HIT" | "SEMANTIC_HIT") => CacheStatus::SemanticHit { similarity: 0.95 },
        Some("MISS" | "SEMANTIC MISS" | "SEMANTIC_MISS" | "REFRESH") => CacheStatus::Miss,
        _ => CacheStatus::Off,
    }
}

impl Portkey {
    /// A builder; targets (or a hosted config id or virtual key) are required.
    pub fn builder() -> PortkeyBuilder {
        PortkeyBuilder::default()
    }

    /// A client configured from `PORTKEY_*`, `TRACE_ID`, `VIRTUAL_KEY`, `<PROVIDER>_API_KEY`
    /// and `LLM_REQUEST_TIMEOUT`, `LLM_MAX_RETRIES`, `LLM_RETRYABLE_ERRORS`.
    ///
    /// `cost_aware` needs prices: add them with [`PortkeyBuilder::price_source`] on
    /// [`builder_from_settings`](Self::builder_from_settings).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when there is nothing to route to or a value is unusable.
    pub fn from_settings(settings: &orchestra_config::Settings) -> Result<Self, Error> {
        Self::builder_from_settings(settings).build()
    }

    /// The builder [`from_settings`](Self::from_settings) uses, to add what settings cannot
    /// say (a price source, a custom HTTP timeout).
    pub fn builder_from_settings(settings: &orchestra_config::Settings) -> PortkeyBuilder {
        let portkey = &settings.portkey;
        let resilience = &settings.resilience;
        let targets = portkey
            .fallbacks
            .iter()
            .map(|target| {
                PortkeyTarget::from_settings(target, portkey.provider_keys.get(&target.provider))
            })
            .collect();
        let mut builder = Self::builder()
            .base_url(portkey.base_url.as_str())
            .targets(targets)
            .mode(Mode::from_settings(portkey.strategy))
            .retry(RetryPolicy::from_classes(
                resilience.max_retries,
                &resilience.retryable_errors,
            ))
            .request_timeout(resilience.request_timeout)
            .semantic_cache(portkey.cache_enabled)
            .openrouter_base_url(settings.openrouter.base_url.as_str());
        if let Some(key) = &portkey.api_key {
            builder = builder.api_key(key.clone());
        }
        if let Some(key) = &portkey.virtual_key {
            builder = builder.virtual_key(key.clone());
        }
        if let Some(trace_id) = &portkey.trace_id {
            builder = builder.trace_id(trace_id.clone());
        }
        builder
    }

    /// The gateway's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The configured targets, in configured order.
    pub fn targets(&self) -> &[PortkeyTarget] {
        &self.inner.targets
    }

    /// The configured strategy.
    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    /// The `x-portkey-config` that `request` would go out with, credentials shown as
    /// `[redacted]` (for inspection and logs; cost-aware ordering included).
    pub async fn config_for(&self, request: &ChatRequest) -> Value {
        match &self.inner.config_id {
            Some(id) => Value::String(id.clone()),
            None => self.plan(request).await.redacted,
        }
    }

    /// The usage ledger of this client (the gateway has no balance API) and the balance of
    /// every OpenRouter account a target's key belongs to (through
    /// [`OpenRouter::monitor_credits`]). Also logged as a `tracing` event at `info`.
    ///
    /// Never fails: an account that cannot be read says why in
    /// [`OpenRouterAccount::unavailable`].
    pub async fn monitor_credits(&self) -> PortkeyCreditReport {
        let (since, targets) = self.inner.ledger.snapshot();
        let mut accounts = Vec::with_capacity(self.inner.accounts.len());
        for account in &self.inner.accounts {
            let (report, unavailable) = match &account.client {
                Ok(client) => match client.monitor_credits().await {
                    Ok(report) => (Some(report), None),
                    Err(error) => (None, Some(error.to_string())),
                },
                Err(error) => (None, Some(error.to_string())),
            };
            accounts.push(OpenRouterAccount {
                base_url: account.base_url.clone(),
                models: account.models.clone(),
                report,
                unavailable,
            });
        }
        let report =
            PortkeyCreditReport::new(self.inner.base_url.clone(), since, targets, accounts);
        tracing::info!(
            responses = report.responses,
            failures = report.failures,
            prompt_tokens = report.prompt_tokens,
            completion_tokens = report.completion_tokens,
            cost_usd = report.cost_usd,
            openrouter_accounts = report.openrouter.len(),
            "portkey usage"
        );
        report
    }

    async fn plan(&self, request: &ChatRequest) -> Plan {
        let inner = &self.inner;
        let targets = match (&inner.prices, inner.mode) {
            (Some(prices), Mode::CostAware) => {
                order_by_price(&inner.targets, &*prices.prices().await, request)
            }
            (None, Mode::CostAware) => {
                if !inner.order_warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "PORTKEY_STRATEGY=cost_aware without a price source: targets keep \
                         their configured order"
                    );
                }
                inner.targets.clone()
            }
            _ => inner.targets.clone(),
        };
        Plan::build(&targets, inner.mode, &inner.root, request.model.as_deref())
    }

    fn body(&self, request: &ChatRequest, plan: &Plan, stream: bool) -> Result<Vec<u8>, Error> {
        let mut body = match serde_json::to_value(request) {
            Ok(Value::Object(body)) => body,
            _ => {
                return Err(Error::new(
                    ErrorKind::BadRequest,
                    "the request did not serialise to a JSON object",
                ));
            }
        };
        // Never sent, whatever `extra` says.
        body.remove("agent_type");
        if !body.contains_key("model")
            && let Some(first) = plan.first()
        {
            // Overridden per target by `override_params.model`; set for readability.
            body.insert(
                "model".into(),
                Value::String(first.target.model().to_owned()),
            );
        }
        body.insert("stream".into(), Value::Bool(stream));
        if stream && !body.contains_key("stream_options") {
            // Usage in the last chunk, for the ledger (OpenAI sends it only when asked).
            let mut options = Map::new();
            options.insert("include_usage".into(), Value::Bool(true));
            body.insert("stream_options".into(), Value::Object(options));
        }
        serde_json::to_vec(&body).map_err(|error| {
            self.inner
                .errors
                .decode("could not encode the request", Some(error), None)
        })
    }

    fn headers(
        &self,
        request: &ChatRequest,
        plan: &Plan,
        trace_id: &str,
        stream: bool,
    ) -> Result<HeaderMap, Error> {
        let inner = &self.inner;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if stream {
            headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        }
        let config = match &inner.config_id {
            Some(id) => id.clone(),
            None => ascii_json(plan.config.to_string()),
        };
        if !plan.leaves.is_empty() || inner.config_id.is_some() {
            headers.insert("x-portkey-config", sensitive(&config, "x-portkey-config")?);
        }
        if let Some(key) = &inner.api_key {
            headers.insert(
                "x-portkey-api-key",
                sensitive(key.expose(), "PORTKEY_API_KEY")?,
            );
        }
        if let Some(key) = &inner.virtual_key {
            headers.insert(
                "x-portkey-virtual-key",
                sensitive(key.expose(), "VIRTUAL_KEY")?,
            );
        }
        headers.insert(
            "x-portkey-trace-id",
            HeaderValue::from_str(trace_id)
                .map_err(|_| Error::config("the trace id is not a valid header value"))?,
        );
        let mut metadata = BTreeMap::new();
        if let Some(agent) = &request.agent_type {
            metadata.insert("agent_type", agent.as_str());
        }
        if let Some(user) = &request.user {
            metadata.insert("_user", user.as_str());
        }
        if !metadata.is_empty() {
            let json = ascii_json(serde_json::to_string(&metadata).unwrap_or_default());
            if let Ok(value) = HeaderValue::from_str(&json) {
                headers.insert("x-portkey-metadata", value);
            } else {
                tracing::debug!("agent type or user not sendable as a header; metadata left out");
            }
        }
        Ok(headers)
    }

    fn trace_id(&self) -> String {
        self.inner.trace_id.clone().unwrap_or_else(fresh_trace_id)
    }

    async fn send(
        &self,
        request: &ChatRequest,
        plan: &Plan,
        trace_id: &str,
        stream: bool,
    ) -> Result<reqwest::Response, Error> {
        let inner = &self.inner;
        let model = plan.first().map(|leaf| leaf.target.model());
        let body = self.body(request, plan, stream)?;
        let headers = self.headers(request, plan, trace_id, stream)?;
        let budget = plan.budget(inner.request_timeout);
        let builder = match &inner.chat_url {
            Some(url) => inner.http.post(url.clone()),
            None => inner
                .http
                .post(format!("{}/chat/completions", inner.base_url)),
        };
        let builder = builder.headers(headers).body(body);
        if stream {
            // The budget covers the wait for the response head (fallbacks and retries
            // happen before it); the stream's idle limit takes over after.
            match tokio::time::timeout(budget, builder.send()).await {
                Ok(result) => result.map_err(|error| inner.errors.transport(error, model)),
                Err(_) => Err(timeout_error(budget, model)),
            }
        } else {
            builder
                .timeout(budget)
                .send()
                .await
                .map_err(|error| inner.errors.transport(error, model))
        }
    }

    /// Warns once when a cache was asked for and the gateway says it has none.
    fn check_cache(&self, info: &GatewayInfo) {
        let inner = &self.inner;
        if inner.root.semantic_cache
            && info
                .cache
                .as_deref()
                .is_some_and(|status| status.eq_ignore_ascii_case("DISABLED"))
            && !inner.cache_warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                gateway = %inner.base_url,
                "PORTKEY_CACHE_ENABLED is set but the gateway reports its cache DISABLED (the \
                 open-source gateway has none): nothing is cached there; use orchestra's own \
                 cache layer for exact or semantic caching"
            );
        }
    }

    /// The failure of a non-2xx answer, with the attempts the headers tell.
    async fn gateway_error(
        &self,
        response: reqwest::Response,
        plan: &Plan,
        info: &GatewayInfo,
        started: Instant,
    ) -> Error {
        let inner = &self.inner;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let leaf = info.last_used.as_deref().and_then(|path| plan.leaf(path));
        let model = leaf.or(plan.first()).map(|leaf| leaf.target.model());
        let body =
            match read_body(response, MAX_ERROR_BODY_BYTES, true, &*inner.errors, model).await {
                Ok(body) => body,
                Err(error) => return error,
            };
        let error = inner
            .errors
            .map(Failure::response(status, &headers, &body, model));
        let mut attempts = plan.earlier_attempts(leaf, info.retry_count);
        self.record_fallbacks(plan, leaf);
        if let Some(leaf) = leaf {
            inner.ledger.failed(
                leaf.target.provider(),
                leaf.target.model(),
                leaf.target.host(),
            );
            if !attempts.is_empty() {
                attempts.push(
                    Attempt::new(
                        PROVIDER_NAME,
                        leaf.target.model(),
                        AttemptOutcome::Failed(error.kind()),
                        started.elapsed(),
                    )
                    .with_status(Some(status))
                    .with_detail(format!(
                        "{} ({})",
                        leaf.path,
                        leaf.target.provider()
                    )),
                );
            }
        }
        if attempts.is_empty() {
            error
        } else {
            error.with_attempts(attempts)
        }
    }

    fn record_fallbacks(&self, plan: &Plan, served: Option<&Leaf>) {
        let Some(served) = served else { return };
        for leaf in &plan.leaves {
            if leaf.in_fallback && leaf.fallback_rank < served.fallback_rank {
                self.inner.ledger.fallen_back(
                    leaf.target.provider(),
                    leaf.target.model(),
                    leaf.target.host(),
                );
            }
        }
    }

    async fn chat_once(
        &self,
        request: &ChatRequest,
        plan: &Plan,
        trace_id: &str,
        telemetry: &RequestSpan,
    ) -> Result<ChatResponse, Error> {
        let inner = &self.inner;
        let started = telemetry.started();
        let response = self.send(request, plan, trace_id, false).await?;
        let info = GatewayInfo::from_headers(response.headers());
        telemetry.gateway(
            info.last_used.as_deref(),
            info.retry_count,
            info.cache.as_deref(),
            info.trace_id.as_deref(),
        );
        self.check_cache(&info);
        if !response.status().is_success() {
            return Err(self.gateway_error(response, plan, &info, started).await);
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let leaf = info.last_used.as_deref().and_then(|path| plan.leaf(path));
        let model = leaf.map(|leaf| leaf.target.model());
        let body = read_body(
            response,
            MAX_RESPONSE_BODY_BYTES,
            false,
            &*inner.errors,
            model,
        )
        .await?;
        let generation_id = headers
            .get("x-generation-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let mut response = parse_completion(
            &body,
            status,
            &headers,
            &*inner.errors,
            model,
            generation_id,
        )
        .inspect_err(|_| {
            if let Some(leaf) = leaf {
                inner.ledger.failed(
                    leaf.target.provider(),
                    leaf.target.model(),
                    leaf.target.host(),
                );
            }
        })?;
        response.upstream_provider = leaf
            .map(|leaf| leaf.target.provider().to_owned())
            .or(info.provider.clone())
            .or(response.upstream_provider);
        response.metadata.cache = cache_status(info.cache.as_deref());
        let latency = started.elapsed();
        let mut attempts = plan.earlier_attempts(leaf, info.retry_count);
        let mut success = Attempt::new(
            PROVIDER_NAME,
            response.model.clone(),
            AttemptOutcome::Success,
            latency,
        )
        .with_status(Some(status));
        if let Some(leaf) = leaf {
            success = success.with_detail(format!("{} ({})", leaf.path, leaf.target.provider()));
            inner.ledger.served(
                leaf.target.provider(),
                leaf.target.model(),
                leaf.target.host(),
                response.usage,
            );
        }
        self.record_fallbacks(plan, leaf);
        attempts.push(success);
        response.metadata.attempts = attempts;
        response.metadata.latency = latency;
        Ok(response)
    }

    async fn stream_once(
        &self,
        request: &ChatRequest,
        plan: &Plan,
        trace_id: &str,
        telemetry: RequestSpan,
    ) -> Result<ChatStream, Error> {
        let inner = &self.inner;
        let started = telemetry.started();
        let response = match self
            .send(request, plan, trace_id, true)
            .instrument(telemetry.span().clone())
            .await
        {
            Ok(response) => response,
            Err(error) => {
                telemetry.failed(&error);
                return Err(error);
            }
        };
        let info = GatewayInfo::from_headers(response.headers());
        telemetry.gateway(
            info.last_used.as_deref(),
            info.retry_count,
            info.cache.as_deref(),
            info.trace_id.as_deref(),
        );
        self.check_cache(&info);
        if !response.status().is_success() {
            let error = self.gateway_error(response, plan, &info, started).await;
            telemetry.failed(&error);
            return Err(error);
        }
        let leaf = info.last_used.as_deref().and_then(|path| plan.leaf(path));
        self.record_fallbacks(plan, leaf);
        let mut setup = StreamSetup::new(leaf.map(|leaf| leaf.target.model().to_owned()));
        setup.generation_id = response
            .headers()
            .get("x-generation-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        setup.upstream_provider = leaf
            .map(|leaf| leaf.target.provider().to_owned())
            .or(info.provider.clone());
        setup.attempts = plan.earlier_attempts(leaf, info.retry_count);
        setup.idle_timeout = Some(inner.request_timeout);
        let watch = StreamWatch {
            span: telemetry,
            ledger: Arc::clone(&inner.ledger),
            target: leaf.map(|leaf| leaf.target.clone()),
            path: leaf.map(|leaf| leaf.path.clone()),
        };
        let errors: Arc<dyn ErrorMapper> = inner.errors.clone();
        stream_response(response, errors, Box::new(watch), setup).await
    }
}

#[async_trait]
impl Provider for Portkey {
    fn name(&self) -> &str {
        PROVIDER_NAME
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
        let plan = self.plan(request).await;
        let trace_id = self.trace_id();
        let first = plan.first().map(|leaf| leaf.target.model());
        let telemetry = RequestSpan::start(first, false, &trace_id, plan.leaves.len());
        let result = self
            .chat_once(request, &plan, &trace_id, &telemetry)
            .instrument(telemetry.span().clone())
            .await;
        match &result {
            Ok(response) => telemetry.succeeded(&Outcome {
                id: &response.id,
                served_model: &response.model,
                target: None,
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
        let plan = self.plan(request).await;
        let trace_id = self.trace_id();
        let first = plan.first().map(|leaf| leaf.target.model());
        let telemetry = RequestSpan::start(first, true, &trace_id, plan.leaves.len());
        self.stream_once(request, &plan, &trace_id, telemetry).await
    }

    /// The configured targets' models, with prices from the price source when there is one
    /// (the open-source gateway has no model catalog).
    async fn models(&self) -> Result<Vec<ModelInfo>, Error> {
        let prices = match &self.inner.prices {
            Some(source) => Some(source.prices().await),
            None => None,
        };
        let mut models: Vec<ModelInfo> = Vec::new();
        for target in &self.inner.targets {
            if models.iter().any(|model| model.id == target.model()) {
                continue;
            }
            let mut model = ModelInfo::new(target.model());
            model.name = Some(format!("{} via Portkey", target.provider()));
            model.pricing = prices
                .as_deref()
                .and_then(|prices| price_of(prices, target))
                .copied();
            models.push(model);
        }
        Ok(models)
    }

    /// The balance of the OpenRouter account(s) behind the targets, from
    /// [`monitor_credits`](Portkey::monitor_credits).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Unsupported`] when no target's key reaches an OpenRouter account (the
    /// gateway itself reports no balance; see `monitor_credits` for the usage ledger).
    async fn credits(&self) -> Result<Credits, Error> {
        let report = self.monitor_credits().await;
        report.to_credits().ok_or_else(|| {
            let why = report
                .openrouter
                .iter()
                .find_map(|account| account.unavailable.clone())
                .unwrap_or_else(|| "no target carries an OpenRouter key".to_owned());
            Error::unsupported(format!(
                "the Portkey gateway has no balance API and no OpenRouter balance is readable \
                 ({why}); monitor_credits() reports this client's usage ledger"
            ))
            .with_provider(PROVIDER_NAME)
        })
    }
}

fn timeout_error(budget: Duration, model: Option<&str>) -> Error {
    let mut error = Error::new(
        ErrorKind::Timeout,
        format!("no response from the gateway within {budget:?}"),
    )
    .with_provider(PROVIDER_NAME);
    if let Some(model) = model {
        error = error.with_model(model);
    }
    error
}

/// `json` with every non-ASCII character written as a `\uXXXX` escape (UTF-16, so
/// surrogate pairs above U+FFFF): the same JSON to any parser, and a valid header value.
/// serde_json writes non-ASCII only inside strings, where such escapes are allowed.
fn ascii_json(json: String) -> String {
    if json.is_ascii() {
        return json;
    }
    let mut escaped = String::with_capacity(json.len() + 16);
    for character in json.chars() {
        if character.is_ascii() {
            escaped.push(character);
        } else {
            let mut units = [0u16; 2];
            for unit in character.encode_utf16(&mut units) {
                escaped.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    escaped
}

fn sensitive(value: &str, what: &str) -> Result<HeaderValue, Error> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        Error::config(format!(
            "{what} contains characters an HTTP header cannot carry"
        ))
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// A fresh trace id: 128 random bits (the process's random hash keys, a counter and the
/// clock) as 32 hex digits.
pub(crate) fn fresh_trace_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let mut words = [0u64; 2];
    for (salt, word) in (0u64..).zip(words.iter_mut()) {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.write_u64(count);
        hasher.write_u128(nanos);
        hasher.write_u32(std::process::id());
        *word = hasher.finish();
    }
    format!("{:016x}{:016x}", words[0], words[1])
}

/// Builds a [`Portkey`]. Every problem is reported by [`build`](Self::build).
#[must_use]
#[derive(Default)]
pub struct PortkeyBuilder {
    base_url: Option<String>,
    api_key: Option<Secret>,
    virtual_key: Option<Secret>,
    config_id: Option<String>,
    trace_id: Option<String>,
    targets: Vec<PortkeyTarget>,
    mode: Mode,
    retry: Option<RetryPolicy>,
    request_timeout: Option<Duration>,
    semantic_cache: bool,
    price_source: Option<Arc<dyn Provider>>,
    price_cache_ttl: Option<Duration>,
    openrouter_base_url: Option<String>,
}

impl fmt::Debug for PortkeyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortkeyBuilder")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("virtual_key", &self.virtual_key)
            .field("config_id", &self.config_id)
            .field("trace_id", &self.trace_id)
            .field("targets", &self.targets)
            .field("mode", &self.mode)
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .field("semantic_cache", &self.semantic_cache)
            .field(
                "price_source",
                &self
                    .price_source
                    .as_ref()
                    .map(|source| source.name().to_owned()),
            )
            .field("price_cache_ttl", &self.price_cache_ttl)
            .field("openrouter_base_url", &self.openrouter_base_url)
            .finish()
    }
}

impl PortkeyBuilder {
    /// The gateway's base URL (`…/v1`); default [`DEFAULT_BASE_URL`].
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The Portkey API key (`x-portkey-api-key`): required by the hosted gateway, ignored by
    /// the open-source one.
    pub fn api_key(mut self, key: Secret) -> Self {
        self.api_key = Some(key);
        self
    }

    /// A virtual key (`x-portkey-virtual-key`; hosted only).
    pub fn virtual_key(mut self, key: Secret) -> Self {
        self.virtual_key = Some(key);
        self
    }

    /// A saved config id (`pc-…`, hosted only) sent instead of an inline config; answers
    /// then name no target.
    pub fn config_id(mut self, id: impl Into<String>) -> Self {
        self.config_id = Some(id.into());
        self
    }

    /// The `x-portkey-trace-id` of every request; default: a fresh id per request.
    pub fn trace_id(mut self, id: impl Into<String>) -> Self {
        self.trace_id = Some(id.into());
        self
    }

    /// Adds a target.
    pub fn target(mut self, target: PortkeyTarget) -> Self {
        self.targets.push(target);
        self
    }

    /// Replaces the targets.
    pub fn targets(mut self, targets: Vec<PortkeyTarget>) -> Self {
        self.targets = targets;
        self
    }

    /// How targets are used; default [`Mode::Fallback`].
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The gateway retry policy of targets without their own (`None`: no gateway retries).
    pub fn retry(mut self, retry: Option<RetryPolicy>) -> Self {
        self.retry = retry;
        self
    }

    /// Time limit of one try at one target, sent as `request_timeout`; the client allows
    /// every try and the gateway's back-off on top, and uses it as the idle limit of a
    /// stream. Default 30 s.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Ask the gateway for its semantic cache (hosted only; the open-source gateway reports
    /// `DISABLED`, and the client warns once).
    pub fn semantic_cache(mut self, enabled: bool) -> Self {
        self.semantic_cache = enabled;
        self
    }

    /// Where `cost_aware` gets prices: a provider whose [`models`](Provider::models) carry
    /// them (an [`OpenRouter`] client). Fetched on first use, kept for
    /// [`price_cache_ttl`](Self::price_cache_ttl).
    pub fn price_source(mut self, source: Arc<dyn Provider>) -> Self {
        self.price_source = Some(source);
        self
    }

    /// How long prices are reused; default [`DEFAULT_PRICE_CACHE_TTL`].
    pub fn price_cache_ttl(mut self, ttl: Duration) -> Self {
        self.price_cache_ttl = Some(ttl);
        self
    }

    /// The OpenRouter API of `openrouter` targets without a `custom_host`, for their
    /// balance; default [`DEFAULT_OPENROUTER_BASE_URL`].
    pub fn openrouter_base_url(mut self, url: impl Into<String>) -> Self {
        self.openrouter_base_url = Some(url.into());
        self
    }

    /// Validates the configuration and builds the client.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for no targets (and no config id or virtual key), a target
    /// without provider or model, a negative weight, a bad URL, a zero timeout, or a
    /// credential no HTTP header can carry.
    pub fn build(self) -> Result<Portkey, Error> {
        let base_url = orchestra_openai_compat::base_url(
            self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL),
            "PORTKEY_BASE_URL",
        )?;
        if self.targets.is_empty() && self.config_id.is_none() && self.virtual_key.is_none() {
            return Err(Error::config(
                "Portkey has nothing to route to: set PORTKEY_FALLBACKS (or a virtual key or \
                 config id on the hosted gateway)",
            ));
        }
        if self.config_id.is_some() && !self.targets.is_empty() {
            return Err(Error::config(
                "set either targets or a saved config id, not both",
            ));
        }
        for (index, target) in self.targets.iter().enumerate() {
            if target.provider().trim().is_empty() || target.model().trim().is_empty() {
                return Err(Error::config(format!(
                    "Portkey target [{index}] needs a provider and a model"
                )));
            }
            if !(target.load_weight().is_finite() && target.load_weight() >= 0.0) {
                return Err(Error::config(format!(
                    "Portkey target [{index}] has a weight that is not a number ≥ 0"
                )));
            }
            if let Some(host) = target.host() {
                orchestra_openai_compat::base_url(host, &format!("target [{index}] custom_host"))?;
            }
        }
        if self.mode == Mode::Loadbalance
            && !self.targets.is_empty()
            && self
                .targets
                .iter()
                .all(|target| target.load_weight() == 0.0)
        {
            return Err(Error::config("every Portkey target has weight 0"));
        }
        let request_timeout = self.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        let http = orchestra_openai_compat::http_client(request_timeout, HeaderMap::new(), None)?;
        let mut secrets: Vec<Secret> = self
            .targets
            .iter()
            .filter_map(|target| target.key().cloned())
            .collect();
        secrets.extend(self.api_key.iter().cloned());
        secrets.extend(self.virtual_key.iter().cloned());
        let openrouter_base = self
            .openrouter_base_url
            .unwrap_or_else(|| DEFAULT_OPENROUTER_BASE_URL.to_owned());
        let accounts = openrouter_accounts(&self.targets, &openrouter_base, request_timeout);
        let portkey = Portkey {
            inner: Arc::new(Inner {
                http,
                chat_url: reqwest::Url::parse(&format!("{base_url}/chat/completions")).ok(),
                base_url,
                api_key: self.api_key,
                virtual_key: self.virtual_key,
                config_id: self.config_id,
                trace_id: self.trace_id,
                targets: self.targets,
                mode: self.mode,
                root: Root {
                    retry: self.retry,
                    request_timeout: Some(request_timeout),
                    semantic_cache: self.semantic_cache,
                },
                request_timeout,
                prices: self.price_source.map(|source| {
                    PriceSource::new(
                        source,
                        self.price_cache_ttl.unwrap_or(DEFAULT_PRICE_CACHE_TTL),
                    )
                }),
                errors: Arc::new(PortkeyErrors { secrets }),
                ledger: Arc::new(Ledger::new()),
                accounts,
                cache_warned: AtomicBool::new(false),
                order_warned: AtomicBool::new(false),
            }),
        };
        // Make sure every credential fits a header now, not at the first request.
        let probe = ChatRequest::new(Vec::new());
        let plan = Plan::build(
            &portkey.inner.targets,
            portkey.inner.mode,
            &portkey.inner.root,
            None,
        );
        portkey.headers(&probe, &plan, "probe", false)?;
        Ok(portkey)
    }
}

/// One OpenRouter client per distinct (base URL, key) among the `openrouter` targets.
fn openrouter_accounts(
    targets: &[PortkeyTarget],
    default_base: &str,
    timeout: Duration,
) -> Vec<Account> {
    let mut accounts: Vec<(String, Secret, Vec<String>)> = Vec::new();
    for target in targets
        .iter()
        .filter(|target| target.provider() == "openrouter")
    {
        let Some(key) = target.key() else { continue };
        // The gateway's openrouter provider calls `{custom_host}/v1/chat/completions`, so the
        // API base behind a custom host is that host plus `/v1`.
        let base = target.host().map_or_else(
            || default_base.trim_end_matches('/').to_owned(),
            |host| format!("{}/v1", host.trim_end_matches('/')),
        );
        match accounts
            .iter_mut()
            .find(|(known, known_key, _)| *known == base && known_key == key)
        {
            Some((_, _, models)) => {
                if !models.iter().any(|model| model == target.model()) {
                    models.push(target.model().to_owned());
                }
            }
            None => accounts.push((base, key.clone(), vec![target.model().to_owned()])),
        }
    }
    accounts
        .into_iter()
        .map(|(base_url, key, models)| Account {
            client: OpenRouter::builder()
                .api_key(key)
                .base_url(base_url.clone())
                .request_timeout(timeout)
                .build(),
            base_url,
            models,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_statuses() {
        assert_eq!(cache_status(Some("HIT")), CacheStatus::Hit);
        assert_eq!(cache_status(Some("MISS")), CacheStatus::Miss);
        assert_eq!(cache_status(Some("SEMANTIC MISS")), CacheStatus::Miss);
        assert!(matches!(
            cache_status(Some("SEMANTIC HIT")),
            CacheStatus::SemanticHit { .. }
        ));
        assert_eq!(cache_status(Some("DISABLED")), CacheStatus::Off);
        assert_eq!(cache_status(None), CacheStatus::Off);
    }

    #[test]
    fn trace_ids_are_fresh_hex() {
        let a = fresh_trace_id();
        let b = fresh_trace_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
