//! A usage ledger: what every request through a stack cost and how it was served.
//!
//! [`UsageLedger`] reads only what the contract already carries — the response's
//! [`Attempt`]s, [`Usage`] and [`CacheStatus`], or the error's attempts — so it works over any
//! stack of providers and decorators. [`Metered`] is the decorator that feeds it; put it
//! outermost so it sees cache hits and every attempt below.
//!
//! ```
//! use orchestra_core::{
//!     Attempt, AttemptOutcome, ChatResponse, Choice, ErrorKind, FinishReason, Message, Usage,
//!     usage::UsageLedger,
//! };
//! use std::time::Duration;
//!
//! let ledger = UsageLedger::new();
//! let mut response = ChatResponse::new(
//!     "gen-1",
//!     "google/gemini-2.5-flash:free",
//!     "openrouter",
//!     vec![Choice::new(0, Message::assistant("hi"), Some(FinishReason::Stop))],
//! );
//! response.usage = Some(Usage::new(12, 3));
//! response.metadata.attempts = vec![Attempt::new(
//!     "openrouter",
//!     "openai/gpt-4o",
//!     AttemptOutcome::Failed(ErrorKind::RateLimited),
//!     Duration::from_millis(40),
//! )
//! .with_status(Some(429))];
//! ledger.record_response(&response, Duration::from_millis(120));
//!
//! let usage = ledger.snapshot();
//! assert_eq!(usage.models["openai/gpt-4o"].rate_limited, 1);
//! assert_eq!(usage.models["google/gemini-2.5-flash:free"].fallbacks, 1);
//! assert_eq!(usage.totals.total_tokens(), 15);
//! ```

use std::{
    collections::{BTreeMap, VecDeque},
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use futures_core::Stream;
use serde::Serialize;

use crate::{
    Attempt, AttemptOutcome, CacheStatus, ChatRequest, ChatResponse, ChatStream, Credits, Error,
    ErrorKind, Layer, ModelInfo, Provider, RateLimitScope, StreamEvent, Usage,
};

/// Latency samples kept per model: quantiles describe the most recent responses and the
/// ledger's memory stays bounded however long the process runs.
pub const LATENCY_WINDOW: usize = 4096;

/// Shared, thread-safe usage counters per model. Cloning shares the same ledger.
#[derive(Clone, Debug, Default)]
pub struct UsageLedger {
    inner: Arc<Mutex<LedgerState>>,
}

#[derive(Debug, Default)]
struct LedgerState {
    models: BTreeMap<String, ModelState>,
    requests: u64,
    failed_requests: u64,
}

#[derive(Debug, Default)]
struct ModelState {
    usage: ModelUsage,
    latencies: VecDeque<Duration>,
}

/// Counters of one model (or of all models, in [`UsageSnapshot::totals`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ModelUsage {
    /// Requests sent upstream to this model (retries included, cache hits excluded).
    pub sent: u64,
    /// Responses this model produced.
    pub served: u64,
    /// Sent requests answered with a rate limit (HTTP 429) by the upstream.
    pub rate_limited: u64,
    /// Sent requests that failed for any reason, rate limits included.
    pub failed: u64,
    /// Requests never sent to this model: our own quota or a cooldown held them back.
    pub held_back: u64,
    /// Retries of this model within one call.
    pub retries: u64,
    /// Responses this model served after another model failed or was skipped.
    pub fallbacks: u64,
    /// Answers served from the cache instead of this model (exact or semantic).
    pub cache_hits: u64,
    /// Of which semantic.
    pub semantic_cache_hits: u64,
    /// Prompt tokens paid for.
    pub prompt_tokens: u64,
    /// Completion tokens paid for.
    pub completion_tokens: u64,
    /// Cost paid, in USD, as the upstream reported it.
    pub cost_usd: f64,
    /// Tokens the cache answered without a call.
    pub tokens_saved: u64,
    /// Cost the cache avoided, in USD.
    pub cost_saved_usd: f64,
    /// Median latency of served responses (recent window).
    #[serde(rename = "p50_ms", with = "crate::response::duration_ms")]
    pub p50: Duration,
    /// 99th percentile latency of served responses (recent window).
    #[serde(rename = "p99_ms", with = "crate::response::duration_ms")]
    pub p99: Duration,
}

impl ModelUsage {
    /// Prompt plus completion tokens.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    fn add(&mut self, other: &ModelUsage) {
        self.sent += other.sent;
        self.served += other.served;
        self.rate_limited += other.rate_limited;
        self.failed += other.failed;
        self.held_back += other.held_back;
        self.retries += other.retries;
        self.fallbacks += other.fallbacks;
        self.cache_hits += other.cache_hits;
        self.semantic_cache_hits += other.semantic_cache_hits;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cost_usd += other.cost_usd;
        self.tokens_saved += other.tokens_saved;
        self.cost_saved_usd += other.cost_saved_usd;
    }
}

/// A copy of the ledger at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct UsageSnapshot {
    /// Calls recorded (successful or not).
    pub requests: u64,
    /// Calls that ended in an error.
    pub failed_requests: u64,
    /// Per model, in name order.
    pub models: BTreeMap<String, ModelUsage>,
    /// Sums over every model; its latencies are over every served response.
    pub totals: ModelUsage,
}

impl UsageLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// A [`Layer`] that records every call of the provider it wraps into this ledger.
    pub fn layer(&self) -> MeteredLayer {
        MeteredLayer {
            ledger: self.clone(),
        }
    }

    /// Records a successful call that took `latency`.
    pub fn record_response(&self, response: &ChatResponse, latency: Duration) {
        self.record(Served {
            model: &response.model,
            attempts: &response.metadata.attempts,
            usage: response.usage.as_ref(),
            cache: response.metadata.cache,
            latency,
        });
    }

    /// Records a failed call.
    pub fn record_error(&self, error: &Error) {
        let mut state = self.lock();
        state.requests += 1;
        state.failed_requests += 1;
        let attempts = error.attempts();
        if attempts.is_empty() {
            // A failure below every layer that records attempts still happened to a model.
            let model = error.model().unwrap_or("unknown");
            let usage = &mut state.models.entry(model.to_owned()).or_default().usage;
            if error.rate_limit_scope() == Some(RateLimitScope::LocalQuota) {
                usage.held_back += 1;
            } else {
                usage.sent += 1;
                usage.failed += 1;
                if error.kind() == ErrorKind::RateLimited {
                    usage.rate_limited += 1;
                }
            }
            return;
        }
        state.count_attempts(attempts);
    }

    /// The counters now, with latency quantiles.
    pub fn snapshot(&self) -> UsageSnapshot {
        let state = self.lock();
        let mut snapshot = UsageSnapshot {
            requests: state.requests,
            failed_requests: state.failed_requests,
            ..UsageSnapshot::default()
        };
        let mut all = Vec::new();
        for (model, model_state) in &state.models {
            let mut usage = model_state.usage.clone();
            let mut latencies: Vec<Duration> = model_state.latencies.iter().copied().collect();
            latencies.sort_unstable();
            usage.p50 = quantile(&latencies, 0.50);
            usage.p99 = quantile(&latencies, 0.99);
            all.extend_from_slice(&latencies);
            snapshot.totals.add(&usage);
            snapshot.models.insert(model.clone(), usage);
        }
        all.sort_unstable();
        snapshot.totals.p50 = quantile(&all, 0.50);
        snapshot.totals.p99 = quantile(&all, 0.99);
        snapshot
    }

    /// Forgets everything recorded so far.
    pub fn reset(&self) {
        *self.lock() = LedgerState::default();
    }

    fn record(&self, served: Served<'_>) {
        let mut state = self.lock();
        state.requests += 1;
        if let CacheStatus::Hit | CacheStatus::SemanticHit { .. } = served.cache {
            let usage = &mut state
                .models
                .entry(served.model.to_owned())
                .or_default()
                .usage;
            usage.cache_hits += 1;
            if let CacheStatus::SemanticHit { .. } = served.cache {
                usage.semantic_cache_hits += 1;
            }
            if let Some(paid) = served.usage {
                usage.tokens_saved += u64::from(paid.total_tokens);
                usage.cost_saved_usd += paid.cost_usd.unwrap_or(0.0);
            }
            return;
        }
        state.count_attempts(served.attempts);
        // The model asked for on the successful attempt, for retry and fallback detection;
        // the response's model may be more specific (`openrouter/auto` → the real one).
        let asked = served
            .attempts
            .iter()
            .rev()
            .find(|attempt| attempt.outcome == AttemptOutcome::Success)
            .map_or(served.model, |attempt| attempt.model.as_str());
        let before: Vec<&Attempt> = served
            .attempts
            .iter()
            .filter(|attempt| attempt.outcome != AttemptOutcome::Success)
            .collect();
        let Some(model_state) = state.model(served.model) else {
            return;
        };
        let usage = &mut model_state.usage;
        usage.sent += 1;
        usage.served += 1;
        if before.iter().any(|attempt| {
            attempt.model == asked && matches!(attempt.outcome, AttemptOutcome::Failed(_))
        }) {
            usage.retries += 1;
        }
        if before.iter().any(|attempt| attempt.model != asked) {
            usage.fallbacks += 1;
        }
        if let Some(paid) = served.usage {
            usage.prompt_tokens += u64::from(paid.prompt_tokens);
            usage.completion_tokens += u64::from(paid.completion_tokens);
            usage.cost_usd += paid.cost_usd.unwrap_or(0.0);
        }
        if model_state.latencies.len() == LATENCY_WINDOW {
            model_state.latencies.pop_front();
        }
        model_state.latencies.push_back(served.latency);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LedgerState> {
        // Counters stay meaningful after a panic elsewhere: take them as they are.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Served<'a> {
    model: &'a str,
    attempts: &'a [Attempt],
    usage: Option<&'a Usage>,
    cache: CacheStatus,
    latency: Duration,
}

impl LedgerState {
    /// Counts the failed and skipped attempts (successes are counted by the caller).
    /// The state of `model`, created on first sight: the name is copied once per model,
    /// not once per call. Never `None`.
    fn model(&mut self, model: &str) -> Option<&mut ModelState> {
        if !self.models.contains_key(model) {
            self.models.insert(model.to_owned(), ModelState::default());
        }
        self.models.get_mut(model)
    }

    fn count_attempts(&mut self, attempts: &[Attempt]) {
        for (index, attempt) in attempts.iter().enumerate() {
            let retried = attempts[..index].iter().any(|earlier| {
                earlier.model == attempt.model
                    && matches!(earlier.outcome, AttemptOutcome::Failed(_))
            });
            let Some(ModelState { usage, .. }) = self.model(&attempt.model) else {
                continue;
            };
            match attempt.outcome {
                AttemptOutcome::Success => {}
                AttemptOutcome::Failed(kind) => {
                    usage.sent += 1;
                    usage.failed += 1;
                    if kind == ErrorKind::RateLimited {
                        usage.rate_limited += 1;
                    }
                    if retried {
                        usage.retries += 1;
                    }
                }
                AttemptOutcome::Skipped(_) => usage.held_back += 1,
            }
        }
    }
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank: the smallest sample with at least q of the samples at or below it.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Wraps providers in [`Metered`]; from [`UsageLedger::layer`].
#[derive(Clone, Debug)]
pub struct MeteredLayer {
    ledger: UsageLedger,
}

impl<P: Provider> Layer<P> for MeteredLayer {
    type Provider = Metered<P>;

    fn layer(&self, inner: P) -> Metered<P> {
        Metered {
            inner,
            ledger: self.ledger.clone(),
        }
    }
}

/// A decorator recording every call into a [`UsageLedger`]; streams are recorded when they
/// end (finished, failed, or dropped unfinished — the last counts as a failed request).
#[derive(Debug)]
pub struct Metered<P> {
    inner: P,
    ledger: UsageLedger,
}

impl<P> Metered<P> {
    /// Wraps `inner`, recording into `ledger`.
    pub fn new(inner: P, ledger: UsageLedger) -> Self {
        Self { inner, ledger }
    }

    /// The ledger.
    pub fn ledger(&self) -> &UsageLedger {
        &self.ledger
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }
}

impl<P> Metered<P> {
    /// Records a call that started at `started` in the ledger; hands its result back.
    fn record(
        &self,
        started: Instant,
        result: Result<ChatResponse, Error>,
    ) -> Result<ChatResponse, Error> {
        match &result {
            Ok(response) => self.ledger.record_response(response, started.elapsed()),
            Err(error) => self.ledger.record_error(error),
        }
        result
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<P: Provider> Provider for Metered<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
        let started = Instant::now();
        let result = self.inner.chat(request).await;
        self.record(started, result)
    }

    async fn chat_owned(&self, request: ChatRequest) -> Result<ChatResponse, Error> {
        let started = Instant::now();
        let result = self.inner.chat_owned(request).await;
        self.record(started, result)
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
        let started = Instant::now();
        match self.inner.chat_stream(request).await {
            Ok(stream) => Ok(Box::pin(MeteredStream {
                inner: stream,
                ledger: self.ledger.clone(),
                started,
                seen: StreamSeen::default(),
                recorded: false,
            })),
            Err(error) => {
                self.ledger.record_error(&error);
                Err(error)
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

#[derive(Default)]
struct StreamSeen {
    model: String,
    attempts: Vec<Attempt>,
    cache: CacheStatus,
    usage: Option<Usage>,
    finished: bool,
}

struct MeteredStream {
    inner: ChatStream,
    ledger: UsageLedger,
    started: Instant,
    seen: StreamSeen,
    recorded: bool,
}

impl MeteredStream {
    fn finish(&mut self, error: Option<&Error>) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let seen = &self.seen;
        match error {
            None if seen.finished => self.ledger.record(Served {
                model: &seen.model,
                attempts: &seen.attempts,
                usage: seen.usage.as_ref(),
                cache: seen.cache,
                latency: self.started.elapsed(),
            }),
            None => {
                let error = Error::stream_interrupted("", "the stream ended unfinished")
                    .with_model(seen.model.clone())
                    .with_attempts(seen.attempts.clone());
                self.ledger.record_error(&error);
            }
            Some(error) => {
                let mut attempts = seen.attempts.clone();
                attempts.extend_from_slice(error.attempts());
                let error = error.clone().with_attempts(attempts);
                self.ledger.record_error(&error);
            }
        }
    }
}

impl Stream for MeteredStream {
    type Item = Result<StreamEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(event))) => match event {
                StreamEvent::Start(start) => {
                    self.seen.model.clone_from(&start.model);
                    self.seen.attempts.clone_from(&start.attempts);
                    self.seen.cache = start.cache;
                }
                StreamEvent::Usage(usage) => self.seen.usage = Some(*usage),
                StreamEvent::Finish { .. } => self.seen.finished = true,
                _ => {}
            },
            Poll::Ready(Some(Err(error))) => {
                let error = error.clone();
                self.finish(Some(&error));
            }
            Poll::Ready(None) => self.finish(None),
            Poll::Pending => {}
        }
        polled
    }
}

impl Drop for MeteredStream {
    fn drop(&mut self) {
        if !self.recorded {
            // Dropped by the caller before the end: a cancelled request, not a served one.
            self.finish(None);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{Choice, FinishReason, Message};

    fn response(model: &str, attempts: Vec<Attempt>) -> ChatResponse {
        let mut response = ChatResponse::new(
            "gen",
            model,
            "openrouter",
            vec![Choice::new(
                0,
                Message::assistant("ok"),
                Some(FinishReason::Stop),
            )],
        );
        response.usage = Some(Usage::new(10, 5).with_cost(0.25));
        response.metadata.attempts = attempts;
        response
    }

    fn failed(model: &str, kind: ErrorKind) -> Attempt {
        Attempt::new(
            "openrouter",
            model,
            AttemptOutcome::Failed(kind),
            Duration::ZERO,
        )
    }

    #[test]
    fn a_retry_then_success_counts_one_retry_and_two_sends() {
        let ledger = UsageLedger::new();
        ledger.record_response(
            &response(
                "m",
                vec![
                    failed("m", ErrorKind::Server),
                    Attempt::new("openrouter", "m", AttemptOutcome::Success, Duration::ZERO),
                ],
            ),
            Duration::from_millis(5),
        );
        let usage = &ledger.snapshot().models["m"];
        assert_eq!((usage.sent, usage.served, usage.failed), (2, 1, 1));
        assert_eq!((usage.retries, usage.fallbacks), (1, 0));
        assert_eq!(usage.cost_usd, 0.25);
    }

    #[test]
    fn skipped_attempts_are_held_back_and_the_server_counts_a_fallback() {
        let ledger = UsageLedger::new();
        let skipped = Attempt::new(
            "openrouter",
            "paid",
            AttemptOutcome::Skipped(ErrorKind::RateLimited),
            Duration::ZERO,
        );
        ledger.record_response(&response("free", vec![skipped]), Duration::from_millis(5));
        let snapshot = ledger.snapshot();
        assert_eq!(snapshot.models["paid"].held_back, 1);
        assert_eq!(snapshot.models["paid"].sent, 0);
        assert_eq!(snapshot.models["free"].fallbacks, 1);
        assert_eq!(snapshot.totals.sent, 1);
    }

    #[test]
    fn cache_hits_count_savings_not_spend() {
        let ledger = UsageLedger::new();
        let mut hit = response("m", Vec::new());
        hit.metadata.cache = CacheStatus::SemanticHit { similarity: 0.97 };
        ledger.record_response(&hit, Duration::from_micros(30));
        let usage = &ledger.snapshot().models["m"];
        assert_eq!((usage.cache_hits, usage.semantic_cache_hits), (1, 1));
        assert_eq!((usage.tokens_saved, usage.cost_saved_usd), (15, 0.25));
        assert_eq!(
            (usage.sent, usage.prompt_tokens, usage.cost_usd),
            (0, 0, 0.0)
        );
    }

    #[test]
    fn quantiles_use_nearest_rank_over_the_window() {
        let ledger = UsageLedger::new();
        for millis in 1..=100 {
            ledger.record_response(&response("m", Vec::new()), Duration::from_millis(millis));
        }
        let usage = &ledger.snapshot().models["m"];
        assert_eq!(usage.p50, Duration::from_millis(50));
        assert_eq!(usage.p99, Duration::from_millis(99));
        for _ in 0..LATENCY_WINDOW {
            ledger.record_response(&response("m", Vec::new()), Duration::from_millis(7));
        }
        assert_eq!(ledger.snapshot().models["m"].p99, Duration::from_millis(7));
    }

    /// Streams a start, one piece of text and — when `finish` — the end.
    struct Streaming {
        finish: bool,
    }

    #[async_trait]
    impl Provider for Streaming {
        fn name(&self) -> &str {
            "streaming"
        }

        async fn chat(&self, _request: &ChatRequest) -> Result<ChatResponse, Error> {
            Err(Error::unsupported("chat"))
        }

        async fn chat_stream(&self, _request: &ChatRequest) -> Result<ChatStream, Error> {
            let mut events = vec![
                Ok(StreamEvent::Start(crate::StreamStart::new(
                    "id",
                    "m",
                    "streaming",
                ))),
                Ok(StreamEvent::ContentDelta {
                    choice: 0,
                    text: "hel".into(),
                }),
            ];
            if self.finish {
                events.push(Ok(StreamEvent::Usage(Usage::new(3, 1))));
                events.push(Ok(StreamEvent::Finish {
                    choice: 0,
                    reason: FinishReason::Stop,
                }));
            }
            Ok(Box::pin(futures_util::stream::iter(events)))
        }
    }

    #[tokio::test]
    async fn a_finished_stream_is_served_and_a_dropped_one_is_a_failed_request() {
        use futures_util::StreamExt;

        let ledger = UsageLedger::new();
        let request = ChatRequest::new(vec![Message::user("hi")]);
        let finished = ledger.layer().layer(Streaming { finish: true });
        let mut stream = finished.chat_stream(&request).await.unwrap();
        while stream.next().await.is_some() {}
        let usage = ledger.snapshot();
        assert_eq!((usage.requests, usage.failed_requests), (1, 0));
        assert_eq!(usage.models["m"].total_tokens(), 4);

        // The caller stops reading after the first event: counted once, as a failure.
        let cut = ledger.layer().layer(Streaming { finish: false });
        let mut stream = cut.chat_stream(&request).await.unwrap();
        stream.next().await.unwrap().unwrap();
        drop(stream);
        let usage = ledger.snapshot();
        assert_eq!((usage.requests, usage.failed_requests), (2, 1));
        assert_eq!(usage.models["m"].served, 1);
    }

    #[test]
    fn an_error_without_attempts_is_charged_to_its_model() {
        let ledger = UsageLedger::new();
        ledger.record_error(&Error::rate_limited(RateLimitScope::Upstream, "429").with_model("m"));
        ledger.record_error(
            &Error::rate_limited(RateLimitScope::LocalQuota, "quota").with_model("m"),
        );
        let snapshot = ledger.snapshot();
        assert_eq!((snapshot.requests, snapshot.failed_requests), (2, 2));
        assert_eq!(snapshot.models["m"].rate_limited, 1);
        assert_eq!(
            (snapshot.models["m"].sent, snapshot.models["m"].held_back),
            (1, 1)
        );
    }
}
