//! Retries with full-jitter exponential backoff, `Retry-After`, and a deadline per call.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use futures_util::{StreamExt, stream};
use orchestra_config::ResilienceSettings;
use orchestra_core::{
    Attempt, AttemptOutcome, ChatRequest, ChatResponse, ChatStream, Credits, Error, ErrorClass,
    ErrorKind, Layer, ModelInfo, Provider, StreamEvent,
};
use rand::{RngExt, SeedableRng, rngs::StdRng};

use crate::{
    clock::{Clock, TokioClock, timer_at},
    deadline::{current_deadline, enforced_deadline, fallback_available, with_deadline},
};

/// A source of uniform random numbers in `[0, 1)` for backoff jitter; inject a fixed one to
/// make tests exact.
pub trait RandomSource: Send + Sync + fmt::Debug {
    /// A uniform number in `[0, 1)`.
    fn unit(&self) -> f64;
}

/// Thread-local randomness from `rand`: the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadRandom;

impl RandomSource for ThreadRandom {
    fn unit(&self) -> f64 {
        rand::rng().random::<f64>()
    }
}

/// A seeded generator, for reproducible runs.
#[derive(Debug)]
pub struct SeededRandom(Mutex<StdRng>);

impl SeededRandom {
    /// A generator that always yields the same sequence for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(StdRng::seed_from_u64(seed)))
    }
}

impl RandomSource for SeededRandom {
    fn unit(&self) -> f64 {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .random::<f64>()
    }
}

/// When and how long to retry.
///
/// Retry *n* (0 for the first retry) sleeps a uniformly random time in
/// `[0, min(max_delay, base_delay × 2ⁿ))` ("full jitter"), and at least the error's
/// `retry_after`. A wait that would end after the call's deadline is not taken: the error is
/// returned at once, so a router can move on.
///
/// ```
/// use std::time::Duration;
/// use orchestra_resilience::RetryPolicy;
///
/// let policy = RetryPolicy::default().base_delay(Duration::from_millis(500));
/// assert_eq!(policy.backoff_cap(0), Duration::from_millis(500));
/// assert_eq!(policy.backoff_cap(3), Duration::from_secs(4));
/// assert_eq!(policy.backoff_cap(30), Duration::from_secs(60)); // LLM_RETRY_MAX_DELAY
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_retries: u32,
    base_delay: Duration,
    max_delay: Duration,
    retryable: Vec<ErrorClass>,
    deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::from_settings(&ResilienceSettings::default())
    }
}

impl RetryPolicy {
    /// `LLM_MAX_RETRIES`, `LLM_RETRY_DELAY`, `LLM_RETRY_MAX_DELAY`, `LLM_RETRYABLE_ERRORS`
    /// and `LLM_REQUEST_DEADLINE`.
    pub fn from_settings(settings: &ResilienceSettings) -> Self {
        Self {
            max_retries: settings.max_retries,
            base_delay: settings.retry_delay,
            max_delay: settings.retry_max_delay,
            retryable: settings.retryable_errors.clone(),
            deadline: settings.request_deadline,
        }
    }

    /// Sets the number of retries after the first attempt.
    #[must_use]
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets the backoff base.
    #[must_use]
    pub fn base_delay(mut self, base_delay: Duration) -> Self {
        self.base_delay = base_delay;
        self
    }

    /// Sets the backoff cap.
    #[must_use]
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// Sets the error classes that are retried.
    #[must_use]
    pub fn retryable(mut self, classes: impl IntoIterator<Item = ErrorClass>) -> Self {
        self.retryable = classes.into_iter().collect();
        self
    }

    /// Sets the time budget of one call.
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The time budget of one call.
    pub fn call_deadline(&self) -> Duration {
        self.deadline
    }

    /// The upper bound of the jittered sleep before retry `retry` (0-based):
    /// `min(max_delay, base_delay × 2^retry)`.
    pub fn backoff_cap(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The sleep before retry `retry` for a random draw `unit` in `[0, 1)`.
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        self.backoff_cap(retry).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// Whether `error` belongs to a retried class.
    pub fn is_retryable(&self, error: &Error) -> bool {
        error
            .kind()
            .class()
            .is_some_and(|class| self.retryable.contains(&class))
    }
}

/// Retries a provider's failed calls; see [`RetryPolicy`].
///
/// Every attempt is recorded, in order, in
/// [`ResponseMetadata::attempts`](orchestra_core::ResponseMetadata::attempts) or
/// [`Error::attempts`], after whatever the inner provider recorded, and logged as a `tracing` event. Streams are retried only while no
/// event has reached the caller.
pub struct Retry<P> {
    inner: P,
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
}

impl<P> fmt::Debug for Retry<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("policy", &self.policy)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl<P: Provider> Retry<P> {
    /// Wraps `inner` with `policy`, tokio's clock and thread-local randomness.
    pub fn new(inner: P, policy: RetryPolicy) -> Self {
        RetryLayer::new(policy).layer(inner)
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    fn record_failure(
        &self,
        attempts: &mut Vec<Attempt>,
        error: &Error,
        model: &str,
        latency: Duration,
    ) {
        if error.attempts().is_empty() {
            let provider = error.provider().unwrap_or(self.inner.name());
            let model = error.model().unwrap_or(model);
            attempts.push(
                Attempt::new(
                    provider,
                    model,
                    AttemptOutcome::Failed(error.kind()),
                    latency,
                )
                .with_status(error.status())
                .with_detail(detail(error)),
            );
        } else {
            attempts.extend_from_slice(error.attempts());
        }
    }

    /// The wait before retry `retry`, or `None` when the error is final.
    fn plan_retry(&self, error: &Error, retry: u32, deadline: Duration) -> Option<Duration> {
        if retry >= self.policy.max_retries || !self.policy.is_retryable(error) {
            return None;
        }
        if error.kind() == ErrorKind::RateLimited && fallback_available() {
            tracing::debug!(
                target: "orchestra_resilience::retry",
                provider = self.inner.name(),
                retry_after_ms = error.retry_after().map(millis),
                "not retrying a rate limit: the caller has a fallback"
            );
            return None;
        }
        let backoff = self.policy.backoff(retry, self.random.unit());
        let wait = backoff.max(error.retry_after().unwrap_or_default());
        let now = self.clock.now();
        if now + wait >= deadline {
            tracing::info!(
                target: "orchestra_resilience::retry",
                provider = self.inner.name(),
                error_kind = error.kind().as_str(),
                wait_ms = millis(wait),
                remaining_ms = millis(deadline.saturating_sub(now)),
                "not retrying: the wait does not fit in the call's deadline"
            );
            return None;
        }
        Some(wait)
    }

    fn deadline(&self) -> Duration {
        self.deadline_from(self.clock.now())
    }

    /// The call's deadline when it starts at `now`: the policy's budget, or the caller's
    /// deadline when that comes first.
    fn deadline_from(&self, now: Duration) -> Duration {
        let own = now + self.policy.deadline;
        current_deadline().map_or(own, |outer| outer.min(own))
    }

    /// Runs `attempt` until `deadline`: raced against a timer of ours, unless a caller above
    /// already drops the call by then.
    async fn bounded<T>(
        &self,
        attempt: impl Future<Output = Result<T, Error>>,
        deadline: Duration,
        model: &str,
    ) -> Result<T, Error> {
        if enforced_above(deadline) {
            return attempt.await;
        }
        tokio::select! {
            result = attempt => result,
            () = timer_at(self.clock.as_ref(), deadline) => Err(self.deadline_error(model)),
        }
    }

    fn deadline_error(&self, model: &str) -> Error {
        Error::new(
            ErrorKind::Timeout,
            format!(
                "the call's deadline of {:?} (LLM_REQUEST_DEADLINE) passed",
                self.policy.deadline
            ),
        )
        .with_provider(self.inner.name())
        .with_model(model)
    }
}

/// Whether a caller above drops the call by itself at or before `deadline`: then a timer
/// of ours for `deadline` could never end the call first, and is not armed.
fn enforced_above(deadline: Duration) -> bool {
    enforced_deadline().is_some_and(|enforced| enforced <= deadline)
}

/// The error a call ends with. When the last try was refused without being sent (say, the
/// cooldown that the earlier failures started), the last failure that was sent says better
/// what is wrong ("could not connect"); the refusal's retry hint is kept.
fn final_error(error: Error, last_sent: Option<Error>) -> Error {
    match last_sent {
        Some(sent) if !error.was_sent() => match error.retry_after() {
            Some(retry_after) => sent.with_retry_after(retry_after),
            None => sent,
        },
        _ => error,
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A one-line explanation for an attempt record.
fn detail(error: &Error) -> String {
    const MAX: usize = 200;
    let message = error.message();
    if message.chars().count() <= MAX {
        message.to_owned()
    } else {
        let cut: String = message.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

/// The model a request is for, for attempt records.
fn model_of(request: &ChatRequest) -> &str {
    request.model.as_deref().unwrap_or("(default)")
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<P: Provider> Provider for Retry<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
        let mut started = self.clock.now();
        let deadline = self.deadline_from(started);
        let model = model_of(request);
        let mut attempts = Vec::new();
        let mut last_sent = None;
        let mut retry = 0;
        loop {
            let attempt = with_deadline(deadline, self.inner.chat(request));
            match self.bounded(attempt, deadline, model).await {
                Ok(mut response) => {
                    // Failed attempts first; without any, the list from below as it is.
                    if !attempts.is_empty() {
                        attempts.append(&mut response.metadata.attempts);
                        response.metadata.attempts = attempts;
                    }
                    return Ok(response);
                }
                Err(error) => {
                    let latency = self.clock.now().saturating_sub(started);
                    self.record_failure(&mut attempts, &error, model, latency);
                    let Some(wait) = self.plan_retry(&error, retry, deadline) else {
                        return Err(final_error(error, last_sent).with_attempts(attempts));
                    };
                    if error.was_sent() {
                        last_sent = Some(error.clone());
                    }
                    retry += 1;
                    tracing::warn!(
                        target: "orchestra_resilience::retry",
                        provider = self.inner.name(),
                        model,
                        retry,
                        error_kind = error.kind().as_str(),
                        status = error.status(),
                        retry_after_ms = error.retry_after().map(millis),
                        wait_ms = millis(wait),
                        "retrying after a failed attempt"
                    );
                    self.clock.wait(wait).await;
                    started = self.clock.now();
                }
            }
        }
    }

    // Every retry needs the request again: borrowed.
    async fn chat_owned(&self, request: ChatRequest) -> Result<ChatResponse, Error> {
        self.chat(&request).await
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
        let deadline = self.deadline();
        let model = model_of(request);
        let mut attempts = Vec::new();
        let mut last_sent = None;
        let mut retry = 0;
        loop {
            let started = self.clock.now();
            // An attempt lasts until its first event: only then is anything delivered.
            let attempt = with_deadline(deadline, async {
                let mut stream = self.inner.chat_stream(request).await?;
                match stream.next().await {
                    Some(Ok(first)) => Ok((first, stream)),
                    Some(Err(error)) => Err(error),
                    None => Err(Error::stream_interrupted(
                        "",
                        "the stream ended before its first event",
                    )
                    .with_provider(self.inner.name())),
                }
            });
            let result = self.bounded(attempt, deadline, model).await;
            let latency = self.clock.now().saturating_sub(started);
            match result {
                Ok((mut first, rest)) => {
                    if let StreamEvent::Start(start) = &mut first {
                        attempts.append(&mut start.attempts);
                        start.attempts = attempts;
                    }
                    let stream: ChatStream = Box::pin(stream::iter([Ok(first)]).chain(rest));
                    return Ok(stream);
                }
                Err(error) => {
                    self.record_failure(&mut attempts, &error, model, latency);
                    let Some(wait) = self.plan_retry(&error, retry, deadline) else {
                        return Err(final_error(error, last_sent).with_attempts(attempts));
                    };
                    if error.was_sent() {
                        last_sent = Some(error.clone());
                    }
                    retry += 1;
                    tracing::warn!(
                        target: "orchestra_resilience::retry",
                        provider = self.inner.name(),
                        model,
                        retry,
                        stream = true,
                        error_kind = error.kind().as_str(),
                        status = error.status(),
                        retry_after_ms = error.retry_after().map(millis),
                        wait_ms = millis(wait),
                        "retrying a stream that failed before its first event"
                    );
                    self.clock.wait(wait).await;
                }
            }
        }
    }

    async fn models(&self) -> Result<Vec<ModelInfo>, Error> {
        self.inner.models().await
    }

    async fn credits(&self) -> Result<Credits, Error> {
        self.inner.credits().await
    }
}

/// Builds [`Retry`] decorators.
///
/// ```
/// use orchestra_core::Layer;
/// use orchestra_resilience::{RetryLayer, RetryPolicy, SeededRandom};
///
/// let layer = RetryLayer::new(RetryPolicy::default().max_retries(2)).random(SeededRandom::new(7));
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
pub struct RetryLayer {
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
}

impl RetryLayer {
    /// A layer with `policy`, tokio's clock and thread-local randomness.
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            clock: Arc::new(TokioClock::new()),
            random: Arc::new(ThreadRandom),
        }
    }

    /// Uses `clock` for backoff, deadlines and latencies.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `random` for jitter.
    #[must_use]
    pub fn random(self, random: impl RandomSource + 'static) -> Self {
        self.random_arc(Arc::new(random))
    }

    /// Uses a shared `random` for jitter.
    #[must_use]
    pub fn random_arc(mut self, random: Arc<dyn RandomSource>) -> Self {
        self.random = random;
        self
    }
}

impl<P: Provider> Layer<P> for RetryLayer {
    type Provider = Retry<P>;

    fn layer(&self, inner: P) -> Retry<P> {
        Retry {
            inner,
            policy: self.policy.clone(),
            clock: Arc::clone(&self.clock),
            random: Arc::clone(&self.random),
        }
    }
}
