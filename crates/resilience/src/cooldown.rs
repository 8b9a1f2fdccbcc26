//! Cooldowns: a model (or a whole provider) that keeps failing is rested, then probed.

use std::{
    collections::HashMap,
    fmt,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use orchestra_core::{
    Attempt, AttemptOutcome, ChatRequest, ChatResponse, ChatStream, Credits, Error, ErrorKind,
    Layer, ModelInfo, Provider, RateLimitScope,
};
use serde::Serialize;
use tokio::sync::Notify;

use crate::{
    clock::{Clock, TokioClock, system_time, timer_at},
    deadline::current_deadline,
};

/// What is cooling down.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CooldownTarget {
    /// One model of one provider.
    Model {
        /// The provider's name.
        provider: String,
        /// The model id.
        model: String,
    },
    /// Every model of a provider (bad key, no credits).
    Provider {
        /// The provider's name.
        provider: String,
    },
}

impl fmt::Display for CooldownTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CooldownTarget::Model { provider, model } => write!(f, "{provider}/{model}"),
            CooldownTarget::Provider { provider } => write!(f, "{provider} (all models)"),
        }
    }
}

/// Why a target is cooling down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CooldownReason {
    /// The upstream answered 429.
    RateLimited,
    /// The upstream answered 402.
    InsufficientCredits,
    /// The upstream rejected the key (401/403).
    Auth,
    /// Server errors (5xx, timeouts, broken connections) in most of its recent answers.
    ServerErrors,
}

impl CooldownReason {
    fn kind(self) -> ErrorKind {
        match self {
            CooldownReason::RateLimited => ErrorKind::RateLimited,
            CooldownReason::InsufficientCredits => ErrorKind::InsufficientCredits,
            CooldownReason::Auth => ErrorKind::Auth,
            CooldownReason::ServerErrors => ErrorKind::Server,
        }
    }

    /// `rate_limited`, `insufficient_credits`, `auth` or `server_errors`.
    pub fn as_str(self) -> &'static str {
        match self {
            CooldownReason::RateLimited => "rate_limited",
            CooldownReason::InsufficientCredits => "insufficient_credits",
            CooldownReason::Auth => "auth",
            CooldownReason::ServerErrors => "server_errors",
        }
    }
}

impl fmt::Display for CooldownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of [`Cooldowns::snapshot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CooldownEntry {
    /// The model or provider.
    pub target: CooldownTarget,
    /// Why.
    pub reason: CooldownReason,
    /// When the cooldown ends and a probe may go.
    pub until: SystemTime,
    /// Whether the cooldown ended and a probe request is in flight.
    pub probing: bool,
}

/// How long targets cool down.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CooldownPolicy {
    /// Server failures (5xx, timeouts, broken connections) that put a model into cooldown:
    /// at least this many among its last 32 answers, and at least half of them. On a model
    /// that is down, that is this many in a row; a model that fails 10% of the time at
    /// high volume, where three failures in a row come every few hundred calls, keeps
    /// serving (its failures are retried).
    pub server_error_threshold: u32,
    /// The cooldown after those server errors.
    pub server_error_cooldown: Duration,
    /// The cooldown after a 429 that carried no retry hint.
    pub rate_limit_cooldown: Duration,
    /// The cooldown of a provider after a 401/403/402.
    pub account_cooldown: Duration,
    /// The longest cooldown, whatever the upstream's hint.
    pub max_cooldown: Duration,
}

impl Default for CooldownPolicy {
    fn default() -> Self {
        Self {
            server_error_threshold: 3,
            server_error_cooldown: Duration::from_secs(30),
            rate_limit_cooldown: Duration::from_secs(30),
            account_cooldown: Duration::from_secs(300),
            max_cooldown: Duration::from_secs(86_400),
        }
    }
}

#[derive(Debug)]
struct State {
    reason: CooldownReason,
    until: Duration,
    probing: bool,
}

#[derive(Debug, Default)]
struct Table {
    cooling: HashMap<CooldownTarget, State, Hasher>,
    /// Each model's recent answers since its last cooldown, by provider, then model:
    /// looked up by `&str`, so recording an answer allocates only the first time a model
    /// answers.
    recent: HashMap<String, HashMap<String, Recent, Hasher>, Hasher>,
}

/// Keys are our own configuration's names, not attacker-chosen: a fast hash is safe, and
/// every call records an answer here.
type Hasher = foldhash::fast::RandomState;

impl Table {
    fn record(&mut self, provider: &str, model: &str, server_failure: bool) -> Recent {
        let recent = match self
            .recent
            .get_mut(provider)
            .and_then(|models| models.get_mut(model))
        {
            Some(recent) => recent,
            None => self
                .recent
                .entry(provider.to_owned())
                .or_default()
                .entry(model.to_owned())
                .or_default(),
        };
        recent.push(server_failure);
        *recent
    }

    fn forget_recent(&mut self, target: &CooldownTarget) {
        match target {
            CooldownTarget::Model { provider, model } => {
                if let Some(models) = self.recent.get_mut(provider) {
                    models.remove(model);
                    if models.is_empty() {
                        self.recent.remove(provider);
                    }
                }
            }
            CooldownTarget::Provider { provider } => {
                self.recent.remove(provider);
            }
        }
    }
}

/// The last (up to) 32 answers of a model, newest in the lowest bit: 1 = server failure.
#[derive(Debug, Default, Clone, Copy)]
struct Recent {
    failures: u32,
    seen: u8,
}

impl Recent {
    const WINDOW: u8 = 32;

    fn push(&mut self, failed: bool) {
        self.failures = (self.failures << 1) | u32::from(failed);
        self.seen = self.seen.saturating_add(1).min(Self::WINDOW);
    }

    /// Whether the window says the model is failing: at least `threshold` failures, and
    /// at least half of the answers seen.
    fn is_failing(self, threshold: u32) -> bool {
        let failures = self.failures.count_ones();
        failures >= threshold.max(1) && failures * 2 >= u32::from(self.seen)
    }
}

/// The cooldown table: observable ([`snapshot`](Self::snapshot)) and shareable
/// (`Arc<Cooldowns>`) by every [`Cooldown`] layer, a router, logs and the CLI.
///
/// A cooling target refuses requests without sending them until its `until`. Then exactly
/// one request goes through as a probe (half-open); the others wait for its outcome while
/// their deadline allows, else fail at once. A probe that succeeds (or fails for a reason
/// that says nothing about the target's health, such as a bad request) ends the cooldown;
/// one that fails like the original starts a new cooldown at once.
pub struct Cooldowns {
    policy: CooldownPolicy,
    clock: Arc<dyn Clock>,
    table: Mutex<Table>,
    /// Whether `table.cooling` has entries, updated under the lock: every call asks
    /// several times whether its target rests, and the answer is almost always no.
    any_cooling: AtomicBool,
    probe_finished: Notify,
}

impl fmt::Debug for Cooldowns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cooldowns")
            .field("policy", &self.policy)
            .field("entries", &self.snapshot())
            .finish_non_exhaustive()
    }
}

enum Gate {
    Pass,
    Probe(ProbeGuard),
    Refuse(Error),
    WaitForProbe,
}

/// Releases the probe slot if the probe's future is dropped before it reported.
struct ProbeGuard {
    cooldowns: Arc<Cooldowns>,
    target: CooldownTarget,
    armed: bool,
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        if self.armed {
            let mut table = self.cooldowns.lock();
            if let Some(state) = table.cooling.get_mut(&self.target) {
                state.probing = false;
            }
            drop(table);
            self.cooldowns.probe_finished.notify_waiters();
        }
    }
}

impl Cooldowns {
    /// An empty table on tokio's clock.
    pub fn new(policy: CooldownPolicy) -> Self {
        Self::with_clock(policy, Arc::new(TokioClock::new()))
    }

    /// An empty table on `clock`.
    pub fn with_clock(policy: CooldownPolicy, clock: Arc<dyn Clock>) -> Self {
        Self {
            policy,
            clock,
            table: Mutex::new(Table::default()),
            any_cooling: AtomicBool::new(false),
            probe_finished: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Mirrors whether anything rests into `any_cooling`; call with the lock held after
    /// changing `table.cooling`.
    fn sync_any_cooling(&self, table: &Table) {
        self.any_cooling
            .store(!table.cooling.is_empty(), Ordering::Release);
    }

    /// Whether nothing rests (read without the lock; a cooldown starting meanwhile is
    /// seen by the next call, as it would be had this call taken the lock first).
    fn none_cooling(&self) -> bool {
        !self.any_cooling.load(Ordering::Acquire)
    }

    /// Every target in cooldown or being probed, ordered by target.
    pub fn snapshot(&self) -> Vec<CooldownEntry> {
        let table = self.lock();
        let mut entries: Vec<CooldownEntry> = table
            .cooling
            .iter()
            .map(|(target, state)| CooldownEntry {
                target: target.clone(),
                reason: state.reason,
                until: system_time(state.until),
                probing: state.probing,
            })
            .collect();
        entries.sort_by(|a, b| a.target.cmp(&b.target));
        entries
    }

    /// Whether `model` of `provider` would be refused now (cooling, or a probe in flight).
    pub fn is_cooling(&self, provider: &str, model: &str) -> bool {
        let table = self.lock();
        // The usual case, nothing resting: no keys to build, no clock to read.
        if table.cooling.is_empty() {
            return false;
        }
        let now = self.clock.now();
        targets(provider, model).iter().any(|target| {
            table
                .cooling
                .get(target)
                .is_some_and(|state| now < state.until || state.probing)
        })
    }

    /// How long `model` of `provider` (or the whole provider) stays refused, and why;
    /// `None` when it may be sent to. A target whose probe is in flight counts as refused
    /// for [`PROBE_WAIT`](Self::PROBE_WAIT), so a router retries it soon without spinning.
    pub fn remaining(&self, provider: &str, model: &str) -> Option<(Duration, CooldownReason)> {
        if self.none_cooling() {
            return None;
        }
        let table = self.lock();
        // The usual case, nothing resting: no keys to build, no clock to read.
        if table.cooling.is_empty() {
            return None;
        }
        let now = self.clock.now();
        targets(provider, model)
            .iter()
            .filter_map(|target| Some((target, table.cooling.get(target)?)))
            .filter(|(target, state)| !spares(target, state.reason, model))
            .map(|(_, state)| state)
            .filter(|state| now < state.until || state.probing)
            .map(|state| {
                let left = state.until.saturating_sub(now);
                (
                    if left.is_zero() {
                        Self::PROBE_WAIT
                    } else {
                        left
                    },
                    state.reason,
                )
            })
            .max_by_key(|(left, _)| *left)
    }

    /// How long a router should wait for a target whose probe request is in flight.
    pub const PROBE_WAIT: Duration = Duration::from_millis(100);

    /// Puts `target` into cooldown for `duration` (capped by the policy).
    pub fn start(&self, target: CooldownTarget, reason: CooldownReason, duration: Duration) {
        let until = self.clock.now() + duration.min(self.policy.max_cooldown);
        tracing::warn!(
            target: "orchestra_resilience::cooldown",
            target = %target,
            reason = reason.as_str(),
            cooldown_ms = duration.as_secs_f64() * 1000.0,
            "cooldown started"
        );
        let mut table = self.lock();
        table.forget_recent(&target);
        table.cooling.insert(
            target,
            State {
                reason,
                until,
                probing: false,
            },
        );
        self.sync_any_cooling(&table);
    }

    /// Ends every cooldown of `provider`'s `model` and of the provider itself.
    pub fn clear(&self, provider: &str, model: &str) {
        let mut table = self.lock();
        for target in targets(provider, model) {
            table.cooling.remove(&target);
            table.forget_recent(&target);
        }
        self.sync_any_cooling(&table);
        drop(table);
        self.probe_finished.notify_waiters();
    }

    fn gate(self: &Arc<Self>, provider: &str, model: &str) -> Gate {
        if self.none_cooling() {
            return Gate::Pass;
        }
        let mut table = self.lock();
        if table.cooling.is_empty() {
            return Gate::Pass;
        }
        let now = self.clock.now();
        for target in targets(provider, model) {
            let Some(state) = table.cooling.get_mut(&target) else {
                continue;
            };
            if spares(&target, state.reason, model) {
                continue;
            }
            if now < state.until {
                let wait = state.until - now;
                let message = format!(
                    "{target} is cooling down after {} for {:.1}s more",
                    state.reason,
                    wait.as_secs_f64()
                );
                let error = match state.reason {
                    CooldownReason::RateLimited => {
                        Error::rate_limited(RateLimitScope::LocalQuota, message)
                    }
                    reason => Error::new(reason.kind(), message),
                };
                let attempt = Attempt::new(
                    provider,
                    model,
                    AttemptOutcome::Skipped(state.reason.kind()),
                    Duration::ZERO,
                )
                .with_detail(format!("cooldown: {}", state.reason));
                return Gate::Refuse(
                    error
                        .with_provider(provider)
                        .with_model(model)
                        .with_retry_after(wait)
                        .with_attempts(vec![attempt]),
                );
            }
            if state.probing {
                return Gate::WaitForProbe;
            }
            state.probing = true;
            tracing::info!(
                target: "orchestra_resilience::cooldown",
                target = %target,
                "cooldown over; sending a probe request"
            );
            return Gate::Probe(ProbeGuard {
                cooldowns: Arc::clone(self),
                target,
                armed: true,
            });
        }
        Gate::Pass
    }

    /// Records the outcome of a request that was sent.
    fn report(
        &self,
        provider: &str,
        model: &str,
        result: Result<(), &Error>,
        probe: Option<ProbeGuard>,
    ) {
        // The usual case: a success, no probe. The answer joins the model's window.
        if result.is_ok() && probe.is_none() {
            // Nothing else changes: a request waiting for a probe keeps waiting, so there
            // is no one to wake.
            self.lock().record(provider, model, false);
            return;
        }
        let model_target = CooldownTarget::Model {
            provider: provider.to_owned(),
            model: model.to_owned(),
        };
        let provider_target = CooldownTarget::Provider {
            provider: provider.to_owned(),
        };
        let cooldown = match result {
            Ok(()) => None,
            Err(error) => self.cooldown_for(error, &model_target, &provider_target),
        };
        match cooldown {
            Some((target, reason, duration)) => self.start(target, reason, duration),
            None => {
                let mut table = self.lock();
                let server_failure = result.is_err_and(is_server_failure);
                if server_failure && probe.is_some() {
                    // A failed probe rests the model again right away.
                    drop(table);
                    self.start(
                        model_target,
                        CooldownReason::ServerErrors,
                        self.policy.server_error_cooldown,
                    );
                } else if server_failure {
                    let recent = table.record(provider, model, true);
                    if recent.is_failing(self.policy.server_error_threshold) {
                        drop(table);
                        self.start(
                            model_target,
                            CooldownReason::ServerErrors,
                            result
                                .err()
                                .and_then(Error::retry_after)
                                .unwrap_or(self.policy.server_error_cooldown),
                        );
                    }
                } else {
                    table.record(provider, model, false);
                    if let Some(guard) = &probe {
                        table.cooling.remove(&guard.target);
                        self.sync_any_cooling(&table);
                        tracing::info!(
                            target: "orchestra_resilience::cooldown",
                            target = %guard.target,
                            "probe answered; cooldown over"
                        );
                    }
                }
            }
        }
        if let Some(mut guard) = probe {
            guard.armed = false;
            // A new cooldown replaced the entry, or it was removed: either way the probe
            // slot is free again.
            if let Some(state) = self.lock().cooling.get_mut(&guard.target) {
                state.probing = false;
            }
        }
        self.probe_finished.notify_waiters();
    }

    fn cooldown_for(
        &self,
        error: &Error,
        model_target: &CooldownTarget,
        provider_target: &CooldownTarget,
    ) -> Option<(CooldownTarget, CooldownReason, Duration)> {
        match error.kind() {
            ErrorKind::RateLimited
                if error.rate_limit_scope() != Some(RateLimitScope::LocalQuota) =>
            {
                Some((
                    model_target.clone(),
                    CooldownReason::RateLimited,
                    error
                        .retry_after()
                        .unwrap_or(self.policy.rate_limit_cooldown),
                ))
            }
            ErrorKind::InsufficientCredits => Some((
                provider_target.clone(),
                CooldownReason::InsufficientCredits,
                error.retry_after().unwrap_or(self.policy.account_cooldown),
            )),
            ErrorKind::Auth => Some((
                provider_target.clone(),
                CooldownReason::Auth,
                self.policy.account_cooldown,
            )),
            _ => None,
        }
    }
}

fn is_server_failure(error: &Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::Server | ErrorKind::Timeout | ErrorKind::Connection
    )
}

/// Whether a provider-wide rest leaves `model` out: an account that cannot pay still gets
/// OpenRouter's `:free` models, the very fallback for running out of credits.
fn spares(target: &CooldownTarget, reason: CooldownReason, model: &str) -> bool {
    matches!(target, CooldownTarget::Provider { .. })
        && reason == CooldownReason::InsufficientCredits
        && model.ends_with(":free")
}

fn targets(provider: &str, model: &str) -> [CooldownTarget; 2] {
    [
        CooldownTarget::Provider {
            provider: provider.to_owned(),
        },
        CooldownTarget::Model {
            provider: provider.to_owned(),
            model: model.to_owned(),
        },
    ]
}

/// Rests models and providers that fail; see [`Cooldowns`].
pub struct Cooldown<P> {
    inner: P,
    cooldowns: Arc<Cooldowns>,
    default_model: Option<String>,
}

impl<P> fmt::Debug for Cooldown<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cooldown")
            .field("cooldowns", &self.cooldowns)
            .finish_non_exhaustive()
    }
}

impl<P: Provider> Cooldown<P> {
    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The shared table.
    pub fn cooldowns(&self) -> &Arc<Cooldowns> {
        &self.cooldowns
    }

    fn model<'a>(&'a self, request: &'a ChatRequest) -> &'a str {
        request
            .model
            .as_deref()
            .or(self.default_model.as_deref())
            .unwrap_or_default()
    }

    /// Waits until the request may go: `Ok(Some(guard))` when it is the probe.
    async fn enter(&self, model: &str) -> Result<Option<ProbeGuard>, Error> {
        let provider = self.inner.name();
        loop {
            // Register interest before looking, so a probe finishing in between is seen.
            let finished = self.cooldowns.probe_finished.notified();
            match self.cooldowns.gate(provider, model) {
                Gate::Pass => return Ok(None),
                Gate::Probe(guard) => return Ok(Some(guard)),
                Gate::Refuse(error) => return Err(error),
                Gate::WaitForProbe => {
                    let Some(deadline) = current_deadline() else {
                        return Err(self.probe_in_flight(model));
                    };
                    tokio::select! {
                        () = finished => {}
                        () = timer_at(self.cooldowns.clock.as_ref(), deadline) => {
                            return Err(self.probe_in_flight(model));
                        }
                    }
                }
            }
        }
    }

    fn probe_in_flight(&self, model: &str) -> Error {
        let provider = self.inner.name();
        Error::rate_limited(
            RateLimitScope::LocalQuota,
            format!("{provider}/{model} is being probed after a cooldown"),
        )
        .with_provider(provider)
        .with_model(model)
        .with_attempts(vec![
            Attempt::new(
                provider,
                model,
                AttemptOutcome::Skipped(ErrorKind::RateLimited),
                Duration::ZERO,
            )
            .with_detail("cooldown: waiting for the probe"),
        ])
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<P: Provider> Provider for Cooldown<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
        let model = self.model(request);
        let probe = self.enter(model).await?;
        let result = self.inner.chat(request).await;
        self.cooldowns
            .report(self.inner.name(), model, result.as_ref().map(|_| ()), probe);
        result
    }

    // Passed on unchanged; nothing to gain from owning it.
    async fn chat_owned(&self, request: ChatRequest) -> Result<ChatResponse, Error> {
        self.chat(&request).await
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
        let model = self.model(request);
        let probe = self.enter(model).await?;
        let result = self.inner.chat_stream(request).await;
        // A stream that started is an answer: the target is healthy enough.
        self.cooldowns
            .report(self.inner.name(), model, result.as_ref().map(|_| ()), probe);
        result
    }

    async fn models(&self) -> Result<Vec<ModelInfo>, Error> {
        self.inner.models().await
    }

    async fn credits(&self) -> Result<Credits, Error> {
        self.inner.credits().await
    }
}

/// Builds [`Cooldown`] decorators sharing one [`Cooldowns`] table.
#[derive(Clone, Debug)]
pub struct CooldownLayer {
    cooldowns: Arc<Cooldowns>,
    default_model: Option<String>,
}

impl CooldownLayer {
    /// A layer over `cooldowns`.
    pub fn new(cooldowns: Arc<Cooldowns>) -> Self {
        Self {
            cooldowns,
            default_model: None,
        }
    }

    /// The model of requests that name none (the provider's default model).
    #[must_use]
    pub fn default_model(mut self, model: Option<String>) -> Self {
        self.default_model = model;
        self
    }
}

impl<P: Provider> Layer<P> for CooldownLayer {
    type Provider = Cooldown<P>;

    fn layer(&self, inner: P) -> Cooldown<P> {
        Cooldown {
            inner,
            cooldowns: Arc::clone(&self.cooldowns),
            default_model: self.default_model.clone(),
        }
    }
}
