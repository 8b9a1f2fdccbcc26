//! Retry: exact jitter, Retry-After against the deadline, attempts, streams.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use orchestra_core::{
    AttemptOutcome, Error, ErrorKind, Layer, Provider, RateLimitScope, StreamEvent,
};
use orchestra_resilience::{Clock, ManualClock, RetryLayer, RetryPolicy, SeededRandom};
use orchestra_sim::{Fault, ModelConfig};

use crate::support::{FixedRandom, Scripted, Step, openrouter, request, simulator};

const MODEL: &str = "openai/gpt-4o-mini";

#[test]
fn full_jitter_is_uniform_below_the_capped_exponential() {
    let policy = RetryPolicy::default()
        .base_delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(10));
    let caps: Vec<u64> = (0..6)
        .map(|retry| policy.backoff_cap(retry).as_secs())
        .collect();
    assert_eq!(caps, [1, 2, 4, 8, 10, 10]);
    // Exact with an injected draw: sleep = draw × cap.
    assert_eq!(policy.backoff(2, 0.25), Duration::from_secs(1));
    assert_eq!(policy.backoff(4, 0.5), Duration::from_secs(5));
    assert_eq!(policy.backoff(0, 0.0), Duration::ZERO);
    // Any draw in [0, 1) stays below the cap.
    let random = SeededRandom::new(42);
    for retry in 0..8 {
        for _ in 0..200 {
            use orchestra_resilience::RandomSource;
            let sleep = policy.backoff(retry, random.unit());
            assert!(
                sleep < policy.backoff_cap(retry),
                "{sleep:?} at retry {retry}"
            );
        }
    }
    // No overflow for absurd retry counts.
    assert_eq!(policy.backoff_cap(u32::MAX), Duration::from_secs(10));
}

#[tokio::test]
async fn two_503s_then_200_succeeds_after_two_backoffs_in_bounds() {
    let sim = simulator([ModelConfig::new(MODEL).then_fault(Fault::status(503), 2)]).await;
    let clock = ManualClock::new();
    let started = clock.now();
    let policy = RetryPolicy::default()
        .base_delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(60));
    let provider = RetryLayer::new(policy)
        .clock(Arc::new(clock.clone()))
        .random(FixedRandom(0.5))
        .layer(openrouter(&sim, MODEL));

    let response = provider.chat(&request(MODEL)).await.unwrap();

    assert!(response.content().unwrap().starts_with(MODEL));
    let outcomes: Vec<_> = response
        .metadata
        .attempts
        .iter()
        .map(|attempt| (attempt.outcome, attempt.status))
        .collect();
    assert_eq!(
        outcomes,
        [
            (AttemptOutcome::Failed(ErrorKind::Server), Some(503)),
            (AttemptOutcome::Failed(ErrorKind::Server), Some(503)),
            (AttemptOutcome::Success, Some(200)),
        ]
    );
    // Backoff: retry 0 sleeps 0.5 × 1 s, retry 1 sleeps 0.5 × 2 s; nothing else waited.
    assert_eq!(clock.now() - started, Duration::from_millis(1500));
    assert_eq!(sim.model_stats(MODEL).requests, 3);
}

#[tokio::test]
async fn backoff_with_real_randomness_stays_within_its_caps() {
    let sim = simulator([ModelConfig::new(MODEL).then_fault(Fault::status(503), 3)]).await;
    let clock = ManualClock::new();
    let started = clock.now();
    let provider = RetryLayer::new(RetryPolicy::default())
        .clock(Arc::new(clock.clone()))
        .random(SeededRandom::new(7))
        .layer(openrouter(&sim, MODEL));
    provider.chat(&request(MODEL)).await.unwrap();
    // Three sleeps below 1 s, 2 s and 4 s.
    assert!(clock.now() - started < Duration::from_secs(7));
}

#[tokio::test]
async fn a_retry_after_longer_than_the_budget_fails_at_once() {
    let sim =
        simulator([ModelConfig::new(MODEL).then_fault(Fault::status_retry_after(429, 30), 1)])
            .await;
    let clock = ManualClock::new();
    let started = clock.now();
    let provider = RetryLayer::new(RetryPolicy::default().deadline(Duration::from_secs(10)))
        .clock(Arc::new(clock.clone()))
        .random(FixedRandom(0.5))
        .layer(openrouter(&sim, MODEL));

    let error = provider.chat(&request(MODEL)).await.unwrap_err();

    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.rate_limit_scope(), Some(RateLimitScope::Upstream));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(clock.now(), started, "no sleep at all");
    assert_eq!(sim.model_stats(MODEL).requests, 1);
    assert_eq!(error.attempts().len(), 1);
    assert_eq!(
        error.attempts()[0].outcome,
        AttemptOutcome::Failed(ErrorKind::RateLimited)
    );
}

#[tokio::test]
async fn a_retry_after_that_fits_is_waited_at_least() {
    let sim =
        simulator([ModelConfig::new(MODEL).then_fault(Fault::status_retry_after(429, 5), 1)]).await;
    let clock = ManualClock::new();
    let started = clock.now();
    let provider = RetryLayer::new(RetryPolicy::default())
        .clock(Arc::new(clock.clone()))
        .random(FixedRandom(0.1))
        .layer(openrouter(&sim, MODEL));
    let response = provider.chat(&request(MODEL)).await.unwrap();
    assert_eq!(response.metadata.attempts.len(), 2);
    // The backoff (0.1 s) is shorter than Retry-After: Retry-After wins.
    assert_eq!(clock.now() - started, Duration::from_secs(5));
}

#[tokio::test]
async fn non_retryable_and_unlisted_classes_are_not_retried() {
    let inner = Scripted::new([Step::Fail(
        Error::new(ErrorKind::BadRequest, "bad").with_status(400),
    )]);
    let clock = Arc::new(ManualClock::new());
    let provider = RetryLayer::new(RetryPolicy::default())
        .clock(clock.clone())
        .layer(inner.clone());
    assert_eq!(
        provider.chat(&request(MODEL)).await.unwrap_err().kind(),
        ErrorKind::BadRequest
    );
    assert_eq!(inner.calls(), 1);

    // LLM_RETRYABLE_ERRORS without service_error: a 503 is final.
    let inner = Scripted::new([Step::Fail(Error::new(ErrorKind::Server, "down"))]);
    let policy = RetryPolicy::default().retryable([orchestra_core::ErrorClass::Timeout]);
    let provider = RetryLayer::new(policy).clock(clock).layer(inner.clone());
    assert!(provider.chat(&request(MODEL)).await.is_err());
    assert_eq!(inner.calls(), 1);
}

#[tokio::test]
async fn retries_stop_after_max_retries_with_every_attempt_recorded() {
    let failures = (0..10).map(|_| Step::Fail(Error::new(ErrorKind::Timeout, "slow")));
    let inner = Scripted::new(failures);
    let provider = RetryLayer::new(RetryPolicy::default().max_retries(2))
        .clock(Arc::new(ManualClock::new()))
        .random(FixedRandom(0.0))
        .layer(inner.clone());
    let error = provider.chat(&request(MODEL)).await.unwrap_err();
    assert_eq!(inner.calls(), 3);
    assert_eq!(error.attempts().len(), 3);
    assert!(
        error
            .to_string()
            .contains("scripted/openai/gpt-4o-mini: timeout")
    );
}

#[tokio::test]
async fn streams_are_retried_before_their_first_event_only() {
    let sim = simulator([ModelConfig::new(MODEL).then_fault(Fault::status(502), 1)]).await;
    let clock = ManualClock::new();
    let provider = RetryLayer::new(RetryPolicy::default())
        .clock(Arc::new(clock.clone()))
        .random(FixedRandom(0.5))
        .layer(openrouter(&sim, MODEL));
    let mut stream = provider.chat_stream(&request(MODEL)).await.unwrap();
    let Some(Ok(StreamEvent::Start(start))) = stream.next().await else {
        panic!("the first event is Start");
    };
    assert_eq!(start.attempts.len(), 1, "the failed pre-stream attempt");
    assert_eq!(start.attempts[0].status, Some(502));
    let response = orchestra_core::collect_stream(Box::pin(
        futures_util::stream::iter([Ok(StreamEvent::Start(start))]).chain(stream),
    ))
    .await
    .unwrap();
    assert!(response.content().unwrap().starts_with(MODEL));

    // A stream cut after its first events is not retried: the caller already has them.
    let sim = simulator([
        ModelConfig::new(MODEL).then_fault(Fault::parse("stream_cut after=2").unwrap(), 1)
    ])
    .await;
    let provider = RetryLayer::new(RetryPolicy::default())
        .clock(Arc::new(clock.clone()))
        .layer(openrouter(&sim, MODEL));
    let stream = provider.chat_stream(&request(MODEL)).await.unwrap();
    let error = orchestra_core::collect_stream(stream).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::StreamInterrupted);
    assert_eq!(sim.model_stats(MODEL).requests, 1);
}
