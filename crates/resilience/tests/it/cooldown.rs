//! Cooldowns: a 429 rests the model, a probe goes first after it, the table is observable,
//! and a cancelled probe frees its slot.

use std::{sync::Arc, time::Duration};

use orchestra_core::{AttemptOutcome, Error, ErrorKind, Layer, Provider, RateLimitScope};
use orchestra_resilience::{
    Clock, CooldownLayer, CooldownPolicy, CooldownReason, CooldownTarget, Cooldowns, ManualClock,
    ResilienceStack, with_deadline,
};

use crate::support::{FixedRandom, Scripted, Step, request};

const MODEL: &str = "openai/gpt-4o";

fn upstream_429(retry_after: u64) -> Error {
    Error::rate_limited(RateLimitScope::Upstream, "Rate limit exceeded")
        .with_status(429)
        .with_retry_after(Duration::from_secs(retry_after))
}

fn table(clock: &ManualClock) -> Arc<Cooldowns> {
    Arc::new(Cooldowns::with_clock(
        CooldownPolicy::default(),
        Arc::new(clock.clone()),
    ))
}

#[tokio::test]
async fn an_upstream_429_rests_the_model_then_one_probe_goes_first() {
    let clock = ManualClock::new();
    let cooldowns = table(&clock);
    let inner = Scripted::new([Step::Fail(upstream_429(10)), Step::Ok, Step::Held]);
    let provider = Arc::new(CooldownLayer::new(cooldowns.clone()).layer(inner.clone()));

    assert!(provider.chat(&request(MODEL)).await.is_err());
    let snapshot = cooldowns.snapshot();
    assert_eq!(snapshot.len(), 1);
    assert_eq!(
        snapshot[0].target,
        CooldownTarget::Model {
            provider: "scripted".into(),
            model: MODEL.into()
        }
    );
    assert_eq!(snapshot[0].reason, CooldownReason::RateLimited);
    assert_eq!(
        snapshot[0].until,
        std::time::UNIX_EPOCH + clock.now() + Duration::from_secs(10)
    );
    assert!(!snapshot[0].probing);
    let json = serde_json::to_value(&snapshot[0]).unwrap();
    assert_eq!(json["target"]["scope"], "model");
    assert_eq!(json["reason"], "rate_limited");

    // While cooling: refused without being sent, with the time left.
    clock.advance(Duration::from_secs(4));
    let error = provider.chat(&request(MODEL)).await.unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(6)));
    assert_eq!(error.rate_limit_scope(), Some(RateLimitScope::LocalQuota));
    assert_eq!(
        error.attempts()[0].outcome,
        AttemptOutcome::Skipped(ErrorKind::RateLimited)
    );
    assert_eq!(inner.calls(), 1);
    // Other models are not affected.
    provider.chat(&request("openai/other")).await.unwrap();
    assert_eq!(inner.calls(), 2);

    // Over: the next request is the probe (held in flight here)…
    clock.advance(Duration::from_secs(6));
    let probe = tokio::spawn({
        let provider = Arc::clone(&provider);
        async move { provider.chat(&request(MODEL)).await }
    });
    while inner.calls() < 3 {
        tokio::task::yield_now().await;
    }
    assert!(cooldowns.snapshot()[0].probing);
    // …others fail fast without a deadline to wait in…
    let error = provider.chat(&request(MODEL)).await.unwrap_err();
    assert!(error.message().contains("probed"), "{error}");
    // …or wait for the probe when they have one.
    let waiter = tokio::spawn({
        let provider = Arc::clone(&provider);
        let deadline = clock.now() + Duration::from_secs(30);
        async move { with_deadline(deadline, provider.chat(&request(MODEL))).await }
    });
    tokio::task::yield_now().await;
    assert_eq!(inner.calls(), 3, "the waiter is held back");
    inner.release();
    probe.await.unwrap().unwrap();
    waiter.await.unwrap().unwrap();
    assert!(cooldowns.snapshot().is_empty());
    assert_eq!(inner.calls(), 4);
}

#[tokio::test]
async fn a_cancelled_probe_frees_the_probe_slot() {
    let clock = ManualClock::new();
    let cooldowns = table(&clock);
    let inner = Scripted::new([Step::Fail(upstream_429(1)), Step::Held]);
    let provider = Arc::new(CooldownLayer::new(cooldowns.clone()).layer(inner.clone()));
    assert!(provider.chat(&request(MODEL)).await.is_err());
    clock.advance(Duration::from_secs(1));

    let probe = tokio::spawn({
        let provider = Arc::clone(&provider);
        async move { provider.chat(&request(MODEL)).await }
    });
    while inner.calls() < 2 {
        tokio::task::yield_now().await;
    }
    assert!(cooldowns.snapshot()[0].probing);
    probe.abort();
    assert!(probe.await.unwrap_err().is_cancelled());
    assert!(!cooldowns.snapshot()[0].probing, "the slot is free again");
    // The next request becomes the probe and succeeds.
    provider.chat(&request(MODEL)).await.unwrap();
    assert!(cooldowns.snapshot().is_empty());
}

#[tokio::test]
async fn server_errors_in_a_row_rest_the_model_and_a_failed_probe_rests_it_again() {
    let clock = ManualClock::new();
    let cooldowns = table(&clock);
    let server = || Step::Fail(Error::new(ErrorKind::Server, "down").with_status(503));
    let inner = Scripted::new([server(), server(), server(), server()]);
    let provider = CooldownLayer::new(cooldowns.clone()).layer(inner.clone());
    for _ in 0..2 {
        assert!(provider.chat(&request(MODEL)).await.is_err());
        assert!(cooldowns.snapshot().is_empty(), "under the threshold");
    }
    assert!(provider.chat(&request(MODEL)).await.is_err());
    assert_eq!(cooldowns.snapshot()[0].reason, CooldownReason::ServerErrors);
    clock.advance(Duration::from_secs(30));
    // The probe fails too: a new cooldown at once, not after three more errors.
    assert!(provider.chat(&request(MODEL)).await.is_err());
    let entry = &cooldowns.snapshot()[0];
    assert_eq!(entry.reason, CooldownReason::ServerErrors);
    assert_eq!(
        entry.until,
        std::time::UNIX_EPOCH + clock.now() + Duration::from_secs(30)
    );
    assert_eq!(inner.calls(), 4);
}

/// A model that fails now and then keeps serving, even when three failures come in a row
/// (at volume they do, every few hundred calls); one that fails most of its recent answers
/// rests, however well it did before.
#[tokio::test]
async fn occasional_server_errors_do_not_rest_a_model_but_failing_half_its_answers_does() {
    let clock = ManualClock::new();
    let cooldowns = table(&clock);
    let server = || Step::Fail(Error::new(ErrorKind::Server, "down").with_status(502));
    let mut script = Vec::new();
    script.extend((0..40).map(|_| Step::Ok));
    for _ in 0..6 {
        // 30% failures, in runs of three.
        script.extend([server(), server(), server()]);
        script.extend((0..7).map(|_| Step::Ok));
    }
    script.extend((0..32).map(|_| server()));
    let inner = Scripted::new(script);
    let provider = CooldownLayer::new(cooldowns.clone()).layer(inner.clone());
    for call in 0..100 {
        let _ = provider.chat(&request(MODEL)).await;
        assert!(cooldowns.snapshot().is_empty(), "rested after call {call}");
    }
    // Then it goes down. After 10 failures the window of 32 holds them and the 22 answers
    // before (6 failures): 16 of 32, half.
    let mut calls_until_rest = 0;
    while cooldowns.snapshot().is_empty() {
        let _ = provider.chat(&request(MODEL)).await;
        calls_until_rest += 1;
        assert!(calls_until_rest <= 32, "never rested");
    }
    assert_eq!(calls_until_rest, 10);
    assert_eq!(cooldowns.snapshot()[0].reason, CooldownReason::ServerErrors);
}

#[tokio::test]
async fn credit_and_auth_errors_rest_the_whole_provider() {
    let clock = ManualClock::new();
    let cooldowns = table(&clock);
    let inner = Scripted::new([Step::Fail(
        Error::new(ErrorKind::InsufficientCredits, "no credits").with_status(402),
    )]);
    let provider = CooldownLayer::new(cooldowns.clone()).layer(inner.clone());
    assert!(provider.chat(&request(MODEL)).await.is_err());
    assert_eq!(
        cooldowns.snapshot()[0].target,
        CooldownTarget::Provider {
            provider: "scripted".into()
        }
    );
    let error = provider
        .chat(&request("any/other-model"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InsufficientCredits);
    assert_eq!(inner.calls(), 1);
    assert!(cooldowns.is_cooling("scripted", "any/model"));
}

#[tokio::test]
async fn the_full_stack_retries_through_a_cooldown_when_the_deadline_allows() {
    let clock = ManualClock::new();
    let settings = orchestra_config::Settings::default();
    let stack = ResilienceStack::builder(&settings)
        .clock(Arc::new(clock.clone()))
        .random(FixedRandom(0.5))
        .build()
        .unwrap();
    let inner = Scripted::new([Step::Fail(upstream_429(20))]);
    let provider = stack.wrap(inner.clone());
    let started = clock.now();
    let response = provider.chat(&request(MODEL)).await.unwrap();
    // 429 → cooldown 20 s → the retry waits the 20 s (Retry-After) and goes as the probe.
    assert_eq!(clock.now() - started, Duration::from_secs(20));
    let outcomes: Vec<_> = response
        .metadata
        .attempts
        .iter()
        .map(|attempt| attempt.outcome)
        .collect();
    assert_eq!(
        outcomes,
        [AttemptOutcome::Failed(ErrorKind::RateLimited)],
        "the scripted provider records no success attempt of its own"
    );
    assert!(stack.cooldowns().snapshot().is_empty());
    assert_eq!(inner.calls(), 2);
}

/// The last retry meets the cooldown that the failures before it started: the call ends with
/// the failure that was sent ("could not connect"), not with the refusal, and keeps the
/// cooldown's retry hint.
#[tokio::test]
async fn a_call_refused_by_its_own_cooldown_reports_the_failure_that_caused_it() {
    let clock = ManualClock::new();
    let settings = orchestra_config::Settings::default();
    let stack = ResilienceStack::builder(&settings)
        .clock(Arc::new(clock.clone()))
        .random(FixedRandom(0.0))
        .build()
        .unwrap();
    let refused = || Step::Fail(Error::new(ErrorKind::Connection, "could not connect"));
    let inner = Scripted::new([refused(), refused(), refused(), refused()]);
    let provider = stack.wrap(inner.clone());
    let error = provider.chat(&request(MODEL)).await.unwrap_err();
    assert_eq!(
        inner.calls(),
        3,
        "the fourth try was refused by the cooldown"
    );
    assert_eq!(error.kind(), ErrorKind::Connection);
    assert_eq!(error.message(), "could not connect");
    let retry_after = error.retry_after().unwrap();
    assert!(
        retry_after > Duration::ZERO && retry_after <= Duration::from_secs(30),
        "{retry_after:?}"
    );
    let outcomes: Vec<_> = error
        .attempts()
        .iter()
        .map(|attempt| attempt.outcome)
        .collect();
    assert_eq!(
        outcomes,
        [
            AttemptOutcome::Failed(ErrorKind::Connection),
            AttemptOutcome::Failed(ErrorKind::Connection),
            AttemptOutcome::Failed(ErrorKind::Connection),
            AttemptOutcome::Skipped(ErrorKind::Server),
        ]
    );
}
