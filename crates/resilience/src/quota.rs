//! Client-side quotas per model pattern: requests per minute, requests per UTC day, tokens
//! per minute, checked before a request is sent.
//!
//! # Shapes
//!
//! - **rpm** is a GCRA limiter (governor's algorithm) with a burst of one: one request
//!   every `60 s / rpm`. That is the only GCRA shape that keeps *any* 60-second window at or
//!   under `rpm` whatever the upstream's window alignment, and it still uses the whole
//!   quota: 20/min admits a request every 3 s, 20 in every minute.
//! - **rpd** is a counter per UTC day, the way OpenRouter counts its daily free-model limit
//!   (its 429 names the next 00:00 UTC as the reset). A GCRA limiter would have to spread
//!   50 requests a day one per 29 minutes to stay safe; the counter lets them go as fast as
//!   the other quotas allow.
//! - **tpm** is a GCRA limiter over tokens with a burst of a whole minute's tokens (a token
//!   bucket, like OpenAI's token limits). A request is charged an estimate before it is
//!   sent, `characters of the messages / 4 + max_tokens` (1024 when unset), and the
//!   difference to the usage reported in the response is charged or refunded afterwards.
//!   An estimate above the whole budget is clamped to it: such a request passes alone.
//!
//! # Several quotas, no leaked capacity
//!
//! A request is admitted by every quota that applies to it at once, or by none. governor's
//! limiters update their state as soon as a check passes and have no refund, so checking
//! them one after the other would spend per-minute capacity on a request the daily quota
//! then refuses. Here governor decides through a state store of ours with two phases: every
//! quota is first asked without changing its state, and only when all agree are they asked
//! again, committing (see `local.rs`). The Redis backend does the same in one Lua script.
//!
//! Nothing is reserved while a request waits, so dropping a waiting call leaks nothing.

mod local;
mod pattern;
#[cfg(feature = "redis")]
mod redis;

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use async_trait::async_trait;
use futures_util::StreamExt;
use orchestra_config::{RateLimit, ResilienceSettings};
use orchestra_core::{
    Attempt, AttemptOutcome, ChatRequest, ChatResponse, ChatStream, Credits, Error, ErrorKind,
    Layer, ModelInfo, Provider, RateLimitScope, StreamEvent,
};

use crate::{
    clock::{Clock, TokioClock},
    deadline::{current_deadline, fallback_available},
};

/// Completion tokens assumed for the tpm estimate of a request without `max_tokens`.
pub const DEFAULT_COMPLETION_ESTIMATE: u32 = 1024;

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BucketShape {
    /// GCRA: one cell every `interval`, at most `burst` at once.
    Gcra { interval: Duration, burst: u32 },
    /// At most `limit` per window of `length`, windows aligned on the Unix epoch.
    Window { length: Duration, limit: u32 },
}

/// One quota of one pattern.
#[derive(Debug)]
pub(crate) struct Bucket {
    /// Unique within a [`Quotas`]: the pattern and the quota's name.
    key: Arc<str>,
    pattern: String,
    kind: QuotaKind,
    limit: u32,
    shape: BucketShape,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum QuotaKind {
    Rpm,
    Rpd,
    Tpm,
}

impl QuotaKind {
    fn as_str(self) -> &'static str {
        match self {
            QuotaKind::Rpm => "rpm",
            QuotaKind::Rpd => "rpd",
            QuotaKind::Tpm => "tpm",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            QuotaKind::Rpm => "requests/minute",
            QuotaKind::Rpd => "requests/day",
            QuotaKind::Tpm => "tokens/minute",
        }
    }
}

/// What one request costs in one bucket.
#[derive(Clone, Debug)]
pub(crate) struct Charge {
    bucket: Arc<Bucket>,
    cost: u32,
}

pub(crate) enum Decision {
    Admitted,
    Wait { wait: Duration, bucket: Arc<Bucket> },
}

#[derive(Debug)]
struct Rule {
    pattern: String,
    limit: RateLimit,
    buckets: Vec<Arc<Bucket>>,
}

impl Rule {
    fn new(pattern: String, limit: RateLimit) -> Self {
        let mut buckets = Vec::new();
        let mut add = |kind: QuotaKind, value: Option<u32>| {
            let Some(limit) = value.filter(|value| *value > 0) else {
                return;
            };
            let shape = match kind {
                QuotaKind::Rpm => BucketShape::Gcra {
                    interval: MINUTE / limit,
                    burst: 1,
                },
                QuotaKind::Rpd => BucketShape::Window { length: DAY, limit },
                QuotaKind::Tpm => BucketShape::Gcra {
                    interval: MINUTE / limit,
                    burst: limit,
                },
            };
            buckets.push(Arc::new(Bucket {
                key: Arc::from(format!("{pattern}|{}", kind.as_str())),
                pattern: pattern.clone(),
                kind,
                limit,
                shape,
            }));
        };
        add(QuotaKind::Rpm, limit.rpm);
        add(QuotaKind::Rpd, limit.rpd);
        add(QuotaKind::Tpm, limit.tpm);
        Self {
            pattern,
            limit,
            buckets,
        }
    }
}

enum Backend {
    Local(local::LocalBackend),
    #[cfg(feature = "redis")]
    Redis(Box<redis::RedisBackend>),
}

/// The quota table of one API key: rules by model pattern and their state, in this process
/// or in Redis. Share it (`Arc<Quotas>`) between every provider that uses the key.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use orchestra_config::RateLimit;
/// use orchestra_resilience::{ManualClock, Quotas};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let clock = ManualClock::new();
/// let quotas = Quotas::new([("*:free", RateLimit::new().rpm(20).rpd(50))], Arc::new(clock.clone()));
/// let model = "google/gemini-2.5-flash:free";
/// assert!(quotas.try_acquire(model, 0).await.unwrap().is_ok());
/// // The next request of the minute fits 3 s later (20/min, evenly spaced).
/// assert_eq!(quotas.try_acquire(model, 0).await.unwrap().unwrap_err(), Duration::from_secs(3));
/// assert!(quotas.try_acquire("openai/gpt-4o", 0).await.unwrap().is_ok()); // no rule: no quota
/// # });
/// ```
pub struct Quotas {
    rules: RwLock<Vec<Rule>>,
    backend: Backend,
    clock: Arc<dyn Clock>,
    default_deadline: Duration,
}

impl fmt::Debug for Quotas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quotas")
            .field("rate_limits", &self.rate_limits())
            .field(
                "backend",
                &match &self.backend {
                    Backend::Local(_) => "local",
                    #[cfg(feature = "redis")]
                    Backend::Redis(_) => "redis",
                },
            )
            .finish_non_exhaustive()
    }
}

/// Admission of one request: what it was charged, for [`Quotas::reconcile`].
#[derive(Clone, Debug)]
pub struct Permit {
    token_charges: Vec<Charge>,
    estimated_tokens: u32,
}

impl Permit {
    /// The tokens charged before sending (0 when no token quota applied).
    pub fn estimated_tokens(&self) -> u32 {
        self.estimated_tokens
    }
}

impl Quotas {
    /// Quotas kept in this process.
    pub fn new<I, S>(limits: I, clock: Arc<dyn Clock>) -> Self
    where
        I: IntoIterator<Item = (S, RateLimit)>,
        S: Into<String>,
    {
        Self::with_backend(
            limits,
            Backend::Local(local::LocalBackend::new(Arc::clone(&clock))),
            clock,
        )
    }

    fn with_backend<I, S>(limits: I, backend: Backend, clock: Arc<dyn Clock>) -> Self
    where
        I: IntoIterator<Item = (S, RateLimit)>,
        S: Into<String>,
    {
        let rules = limits
            .into_iter()
            .map(|(pattern, limit)| Rule::new(pattern.into(), limit))
            .collect();
        Self {
            rules: RwLock::new(rules),
            backend,
            clock,
            default_deadline: ResilienceSettings::default().request_deadline,
        }
    }

    /// Quotas shared through Redis at `url`: every process using the same `key_prefix`
    /// (say, one per API key) shares them. The connection is made on first use.
    ///
    /// Time comes from the Redis server (`TIME`), so processes with skewed clocks still
    /// agree.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) when `url` is not a Redis URL.
    #[cfg(feature = "redis")]
    pub fn redis<I, S>(
        limits: I,
        url: &orchestra_core::Secret,
        key_prefix: impl Into<String>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (S, RateLimit)>,
        S: Into<String>,
    {
        let backend = redis::RedisBackend::new(url, key_prefix.into(), None)?;
        Ok(Self::with_backend(
            limits,
            Backend::Redis(Box::new(backend)),
            clock,
        ))
    }

    /// Like [`redis`](Self::redis), but the time comes from `clock` instead of the Redis
    /// server: for tests on a virtual clock, or when every process shares one clock.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) when `url` is not a Redis URL.
    #[cfg(feature = "redis")]
    pub fn redis_with_client_time<I, S>(
        limits: I,
        url: &orchestra_core::Secret,
        key_prefix: impl Into<String>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (S, RateLimit)>,
        S: Into<String>,
    {
        let backend = redis::RedisBackend::new(url, key_prefix.into(), Some(Arc::clone(&clock)))?;
        Ok(Self::with_backend(
            limits,
            Backend::Redis(Box::new(backend)),
            clock,
        ))
    }

    /// `LLM_RATE_LIMITS`, in Redis when `LLM_RATE_LIMIT_REDIS_URL` is set.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) when a Redis URL is set but this crate was built
    /// without its `redis` feature, or the URL is invalid.
    pub fn from_settings(
        settings: &ResilienceSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        let limits = settings.rate_limits.clone();
        let quotas = match &settings.rate_limit_redis_url {
            None => Self::new(limits, clock),
            #[cfg(feature = "redis")]
            Some(url) => Self::redis(limits, url, "orchestra:quota", clock)?,
            #[cfg(not(feature = "redis"))]
            Some(_) => {
                return Err(Error::config(
                    "LLM_RATE_LIMIT_REDIS_URL is set, but orchestra-resilience was built without its `redis` feature",
                ));
            }
        };
        Ok(quotas.default_deadline(settings.request_deadline))
    }

    /// The deadline a call gets when no layer above set one (`LLM_REQUEST_DEADLINE`).
    #[must_use]
    pub fn default_deadline(mut self, deadline: Duration) -> Self {
        self.default_deadline = deadline;
        self
    }

    /// The clock the quotas run on.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The rules, by pattern.
    pub fn rate_limits(&self) -> BTreeMap<String, RateLimit> {
        self.read_rules()
            .iter()
            .map(|rule| (rule.pattern.clone(), rule.limit))
            .collect()
    }

    /// Sets (or, with [`RateLimit::new()`], removes) the quotas of `pattern`. A changed
    /// daily count keeps what was counted today; a changed per-minute quota starts afresh.
    pub fn set_rate_limit(&self, pattern: impl Into<String>, limit: RateLimit) {
        let pattern = pattern.into();
        let mut rules = self.rules.write().unwrap_or_else(PoisonError::into_inner);
        rules.retain(|rule| rule.pattern != pattern);
        if !limit.is_unlimited() {
            rules.push(Rule::new(pattern, limit));
        }
    }

    /// Applies OpenRouter's free-model daily limit for an account's credit report: 1000
    /// requests a day once 10 USD of credits were bought, 50 before. Only a `*:free` rule
    /// still at one of those defaults is changed; returns whether it was.
    ///
    /// Call it with the `credits()` of the OpenRouter provider, for example at start-up.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use orchestra_config::ResilienceSettings;
    /// use orchestra_core::Credits;
    /// use orchestra_resilience::{Quotas, TokioClock};
    ///
    /// let quotas = Quotas::new(ResilienceSettings::default_rate_limits(), Arc::new(TokioClock::new()));
    /// let mut credits = Credits::new("openrouter");
    /// credits.total_credits = Some(25.0);
    /// assert!(quotas.apply_credits(&credits));
    /// assert_eq!(quotas.rate_limits()["*:free"].rpd, Some(1000));
    /// ```
    pub fn apply_credits(&self, credits: &Credits) -> bool {
        const THRESHOLD_USD: f64 = 10.0;
        let Some(bought) = credits.total_credits else {
            return false;
        };
        let daily = if bought >= THRESHOLD_USD {
            ResilienceSettings::FREE_MODEL_RPD_WITH_CREDITS
        } else {
            ResilienceSettings::FREE_MODEL_RPD
        };
        self.set_free_daily_limit(daily)
    }

    /// Sets the daily quota of the `*:free` rule to `daily` when it is still at one of
    /// OpenRouter's defaults (50 or 1000); returns whether it changed.
    pub fn set_free_daily_limit(&self, daily: u32) -> bool {
        let pattern = ResilienceSettings::FREE_MODEL_PATTERN;
        let Some(mut limit) = self.rate_limits().get(pattern).copied() else {
            return false;
        };
        let defaults = [
            ResilienceSettings::FREE_MODEL_RPD,
            ResilienceSettings::FREE_MODEL_RPD_WITH_CREDITS,
        ];
        if limit.rpd == Some(daily) || !limit.rpd.is_some_and(|rpd| defaults.contains(&rpd)) {
            return false;
        }
        limit.rpd = Some(daily);
        tracing::info!(
            target: "orchestra_resilience::quota",
            pattern,
            rpd = daily,
            "free-model daily quota updated from the account's credits"
        );
        self.set_rate_limit(pattern, limit);
        true
    }

    fn read_rules(&self) -> std::sync::RwLockReadGuard<'_, Vec<Rule>> {
        self.rules.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a token quota applies to `model` (so the caller should estimate tokens).
    pub fn counts_tokens(&self, model: &str) -> bool {
        self.read_rules()
            .iter()
            .any(|rule| rule.limit.tpm.is_some() && pattern::matches(&rule.pattern, model))
    }

    /// Whether any quota applies to `model`.
    pub fn applies_to(&self, model: &str) -> bool {
        self.read_rules()
            .iter()
            .any(|rule| pattern::matches(&rule.pattern, model))
    }

    /// The charges of one request for `model` in one pass over the rules, with the tokens
    /// it is charged: `estimate` runs only when a token quota applies.
    fn charges_estimating(
        &self,
        model: &str,
        estimate: impl FnOnce() -> u32,
    ) -> (Vec<Charge>, u32) {
        let mut charges: Vec<Charge> = {
            let rules = self.read_rules();
            rules
                .iter()
                .filter(|rule| pattern::matches(&rule.pattern, model))
                .flat_map(|rule| rule.buckets.iter())
                .map(|bucket| Charge {
                    bucket: Arc::clone(bucket),
                    cost: 1,
                })
                .collect()
        };
        if !charges
            .iter()
            .any(|charge| charge.bucket.kind == QuotaKind::Tpm)
        {
            return (charges, 0);
        }
        let tokens = estimate();
        for charge in &mut charges {
            if charge.bucket.kind == QuotaKind::Tpm {
                charge.cost = tokens.clamp(1, charge.bucket.limit);
            }
        }
        (charges, tokens)
    }

    fn charges(&self, model: &str, tokens: u32) -> Vec<Charge> {
        self.charges_estimating(model, || tokens).0
    }

    async fn decide(&self, charges: &[Charge]) -> Result<Decision, Error> {
        match &self.backend {
            Backend::Local(local) => Ok(local.acquire(charges)),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => redis.acquire(charges).await,
        }
    }

    /// Admits one request for `model` costing `tokens` if every applicable quota has room
    /// now; otherwise returns how long until it would (`Err` inside `Ok`).
    ///
    /// # Errors
    ///
    /// Only when the quota store fails (Redis unreachable).
    pub async fn try_acquire(
        &self,
        model: &str,
        tokens: u32,
    ) -> Result<Result<Permit, Duration>, Error> {
        let charges = self.charges(model, tokens);
        Ok(self
            .decide_permit(charges, tokens)
            .await?
            .map_err(|(wait, _)| wait))
    }

    async fn decide_permit(
        &self,
        charges: Vec<Charge>,
        tokens: u32,
    ) -> Result<Result<Permit, (Duration, Arc<Bucket>)>, Error> {
        if charges.is_empty() {
            return Ok(Ok(Permit {
                token_charges: Vec::new(),
                estimated_tokens: 0,
            }));
        }
        Ok(match self.decide(&charges).await? {
            Decision::Admitted => {
                let token_charges: Vec<Charge> = charges
                    .into_iter()
                    .filter(|charge| charge.bucket.kind == QuotaKind::Tpm)
                    .collect();
                let estimated_tokens = if token_charges.is_empty() { 0 } else { tokens };
                Ok(Permit {
                    token_charges,
                    estimated_tokens,
                })
            }
            Decision::Wait { wait, bucket } => Err((wait, bucket)),
        })
    }

    /// Admits one request for `model` costing `tokens`, waiting for room as long as the wait
    /// ends before `deadline` (an instant of [`clock`](Self::clock)).
    ///
    /// # Errors
    ///
    /// A [`RateLimited`](ErrorKind::RateLimited) error with scope
    /// [`LocalQuota`](RateLimitScope::LocalQuota) and the wait as `retry_after` when it does
    /// not fit; nothing was sent or charged.
    pub async fn acquire(
        &self,
        model: &str,
        tokens: u32,
        deadline: Duration,
    ) -> Result<Permit, Error> {
        let charges = self.charges(model, tokens);
        self.acquire_charges(model, charges, tokens, deadline).await
    }

    /// [`acquire`](Self::acquire) with the first try's charges already computed.
    async fn acquire_charges(
        &self,
        model: &str,
        mut charges: Vec<Charge>,
        tokens: u32,
        deadline: Duration,
    ) -> Result<Permit, Error> {
        loop {
            let (wait, bucket) = match self.decide_permit(charges, tokens).await? {
                Ok(permit) => return Ok(permit),
                Err(refusal) => refusal,
            };
            let now = self.clock.now();
            if now + wait > deadline {
                let message = format!(
                    "{} {} for `{}`",
                    bucket.limit,
                    bucket.kind.unit(),
                    bucket.pattern
                );
                tracing::info!(
                    target: "orchestra_resilience::quota",
                    model,
                    pattern = bucket.pattern.as_str(),
                    quota = bucket.kind.as_str(),
                    wait_ms = wait.as_secs_f64() * 1000.0,
                    "quota exhausted; the wait does not fit in the deadline"
                );
                return Err(Error::rate_limited(RateLimitScope::LocalQuota, message)
                    .with_model(model)
                    .with_retry_after(wait));
            }
            tracing::debug!(
                target: "orchestra_resilience::quota",
                model,
                pattern = bucket.pattern.as_str(),
                quota = bucket.kind.as_str(),
                wait_ms = wait.as_secs_f64() * 1000.0,
                "waiting for quota"
            );
            self.clock.wait(wait).await;
            // The rules may have changed meanwhile.
            charges = self.charges(model, tokens);
        }
    }

    /// Charges or refunds the difference between the tokens `permit` was charged and
    /// `actual_tokens` the response reported.
    pub async fn reconcile(&self, permit: &Permit, actual_tokens: u32) {
        let delta = i64::from(actual_tokens) - i64::from(permit.estimated_tokens);
        if delta == 0 {
            return;
        }
        for charge in &permit.token_charges {
            match &self.backend {
                Backend::Local(local) => local.adjust(charge, delta),
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => {
                    if let Err(error) = redis.adjust(charge, delta).await {
                        tracing::warn!(
                            target: "orchestra_resilience::quota",
                            %error,
                            "could not reconcile the token quota in Redis"
                        );
                    }
                }
            }
        }
    }
}

/// The tokens a request is charged before it is sent: a quarter of the characters of its
/// messages (about one token per four characters of English) plus `max_tokens`
/// ([`DEFAULT_COMPLETION_ESTIMATE`] when unset).
///
/// ```
/// use orchestra_core::{ChatRequest, Message};
/// use orchestra_resilience::estimate_tokens;
///
/// let request = ChatRequest::new(vec![Message::user("x".repeat(400))]).max_tokens(100);
/// assert_eq!(estimate_tokens(&request), 200);
/// ```
pub fn estimate_tokens(request: &ChatRequest) -> u32 {
    let characters: usize = request
        .messages
        .iter()
        .filter_map(|message| message.text())
        .map(|text| text.chars().count())
        .sum();
    let prompt = u32::try_from(characters.div_ceil(4)).unwrap_or(u32::MAX);
    prompt.saturating_add(request.max_tokens.unwrap_or(DEFAULT_COMPLETION_ESTIMATE))
}

/// Holds requests back until the [`Quotas`] that apply to their model have room.
///
/// A request waits when the wait ends before the call's deadline (set by a
/// [`Retry`](crate::Retry) above, else the quotas' default deadline); otherwise it fails at
/// once with a [`LocalQuota`](RateLimitScope::LocalQuota) rate-limit error and its
/// `retry_after`, and nothing is sent. The model is the request's, else the configured
/// default model.
pub struct Quota<P> {
    inner: P,
    quotas: Arc<Quotas>,
    default_model: Option<String>,
}

impl<P> fmt::Debug for Quota<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quota")
            .field("quotas", &self.quotas)
            .field("default_model", &self.default_model)
            .finish_non_exhaustive()
    }
}

impl<P: Provider> Quota<P> {
    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The quotas.
    pub fn quotas(&self) -> &Arc<Quotas> {
        &self.quotas
    }

    async fn admit(&self, request: &ChatRequest) -> Result<Permit, Error> {
        let model = request
            .model
            .as_deref()
            .or(self.default_model.as_deref())
            .unwrap_or_default();
        let (charges, tokens) = self
            .quotas
            .charges_estimating(model, || estimate_tokens(request));
        if charges.is_empty() {
            return Ok(Permit {
                token_charges: Vec::new(),
                estimated_tokens: 0,
            });
        }
        // With another target ready above (a router), queueing here would keep a request
        // waiting for this model's quota while the fallback sits idle: refuse at once, and
        // the router moves on (and skips this model until the quota refills).
        let deadline = if fallback_available() {
            self.quotas.clock.now()
        } else {
            current_deadline()
                .unwrap_or_else(|| self.quotas.clock.now() + self.quotas.default_deadline)
        };
        self.quotas
            .acquire_charges(model, charges, tokens, deadline)
            .await
            .map_err(|error| {
                let attempt = Attempt::new(
                    self.inner.name(),
                    model,
                    AttemptOutcome::Skipped(ErrorKind::RateLimited),
                    Duration::ZERO,
                )
                .with_detail(error.message().to_owned());
                error
                    .with_provider(self.inner.name())
                    .with_attempts(vec![attempt])
            })
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<P: Provider> Provider for Quota<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
        let permit = self.admit(request).await?;
        let result = self.inner.chat(request).await;
        if let Ok(response) = &result
            && let Some(usage) = response.usage
            && permit.estimated_tokens > 0
        {
            self.quotas.reconcile(&permit, usage.total_tokens).await;
        }
        result
    }

    // Passed on unchanged; nothing to gain from owning it.
    async fn chat_owned(&self, request: ChatRequest) -> Result<ChatResponse, Error> {
        self.chat(&request).await
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
        let permit = self.admit(request).await?;
        let stream = self.inner.chat_stream(request).await?;
        if permit.estimated_tokens == 0 {
            return Ok(stream);
        }
        let quotas = Arc::clone(&self.quotas);
        Ok(Box::pin(stream.then(move |event| {
            let quotas = Arc::clone(&quotas);
            let permit = permit.clone();
            async move {
                if let Ok(StreamEvent::Usage(usage)) = &event {
                    quotas.reconcile(&permit, usage.total_tokens).await;
                }
                event
            }
        })))
    }

    async fn models(&self) -> Result<Vec<ModelInfo>, Error> {
        self.inner.models().await
    }

    async fn credits(&self) -> Result<Credits, Error> {
        self.inner.credits().await
    }
}

/// Builds [`Quota`] decorators sharing one [`Quotas`] table.
#[derive(Clone, Debug)]
pub struct QuotaLayer {
    quotas: Arc<Quotas>,
    default_model: Option<String>,
}

impl QuotaLayer {
    /// A layer over `quotas`.
    pub fn new(quotas: Arc<Quotas>) -> Self {
        Self {
            quotas,
            default_model: None,
        }
    }

    /// A layer with `LLM_RATE_LIMITS` on tokio's clock (in Redis when configured).
    ///
    /// # Errors
    ///
    /// See [`Quotas::from_settings`].
    pub fn from_settings(settings: &ResilienceSettings) -> Result<Self, Error> {
        Ok(Self::new(Arc::new(Quotas::from_settings(
            settings,
            Arc::new(TokioClock::new()),
        )?)))
    }

    /// The model of requests that name none (the provider's default model).
    #[must_use]
    pub fn default_model(mut self, model: Option<String>) -> Self {
        self.default_model = model;
        self
    }
}

impl<P: Provider> Layer<P> for QuotaLayer {
    type Provider = Quota<P>;

    fn layer(&self, inner: P) -> Quota<P> {
        Quota {
            inner,
            quotas: Arc::clone(&self.quotas),
            default_model: self.default_model.clone(),
        }
    }
}
