//! Quotas: several quotas never leak capacity, cancellation leaks nothing, a burst against
//! the simulator's quota gets no 429, tokens are reconciled.

use std::{sync::Arc, time::Duration};

use orchestra_config::{MapEnv, RateLimit, Settings};
use orchestra_core::{ErrorKind, Layer, Provider, RateLimitScope, Usage};
use orchestra_resilience::{Clock, ManualClock, QuotaLayer, Quotas, TokioClock};
use orchestra_sim::ModelConfig;

use crate::support::{Scripted, SteppingClock, openrouter, request, simulator};

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_request_refused_by_the_daily_quota_takes_no_minute_capacity() {
    let clock = ManualClock::new();
    let quotas = Quotas::new(
        [
            ("*", RateLimit::new().rpm(1)),
            ("paid/*", RateLimit::new().rpd(1)),
        ],
        Arc::new(clock.clone()),
    );
    assert!(quotas.try_acquire("paid/a", 0).await.unwrap().is_ok());
    clock.advance(60 * SECOND);
    // The day's only request is spent: refused, until the next UTC day.
    let wait = quotas.try_acquire("paid/a", 0).await.unwrap().unwrap_err();
    assert_eq!(wait, Duration::from_secs(86_400 - 60));
    // …and the minute's cell it did not use is still there for another model.
    assert!(quotas.try_acquire("other/b", 0).await.unwrap().is_ok());
}

#[tokio::test]
async fn a_request_refused_by_the_minute_quota_takes_no_daily_capacity() {
    let clock = ManualClock::new();
    let quotas = Quotas::new(
        [("paid/*", RateLimit::new().rpm(1).rpd(2))],
        Arc::new(clock.clone()),
    );
    assert!(quotas.try_acquire("paid/a", 0).await.unwrap().is_ok());
    for _ in 0..5 {
        clock.advance(SECOND);
        assert!(quotas.try_acquire("paid/a", 0).await.unwrap().is_err());
    }
    clock.advance(55 * SECOND);
    // Five refusals spent nothing of the two a day: the second still passes.
    assert!(quotas.try_acquire("paid/a", 0).await.unwrap().is_ok());
    clock.advance(60 * SECOND);
    assert!(quotas.try_acquire("paid/a", 0).await.unwrap().is_err());
}

#[tokio::test]
async fn exhausted_quota_waits_within_the_deadline_else_fails_without_sending() {
    let clock = ManualClock::new();
    let quotas = Arc::new(
        Quotas::new(
            [("*:free", RateLimit::new().rpm(20))],
            Arc::new(clock.clone()),
        )
        .default_deadline(Duration::from_secs(2)),
    );
    let inner = Scripted::new([]);
    let provider = QuotaLayer::new(quotas.clone()).layer(inner.clone());
    let model = "a/b:free";
    provider.chat(&request(model)).await.unwrap();
    // The next cell is 3 s away, the deadline 2 s: refused at once, nothing sent.
    let before = clock.now();
    let error = provider.chat(&request(model)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.rate_limit_scope(), Some(RateLimitScope::LocalQuota));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!(clock.now(), before);
    assert_eq!(inner.calls(), 1);
    assert_eq!(
        error.attempts()[0].outcome,
        orchestra_core::AttemptOutcome::Skipped(ErrorKind::RateLimited)
    );

    // Under a longer deadline (set by a layer above) it waits its 3 s and goes.
    orchestra_resilience::with_deadline(clock.now() + Duration::from_secs(10), async {
        provider.chat(&request(model)).await.unwrap();
    })
    .await;
    assert_eq!(clock.now() - before, Duration::from_secs(3));
    assert_eq!(inner.calls(), 2);
}

#[tokio::test]
async fn with_a_fallback_ready_an_exhausted_quota_refuses_instead_of_queueing() {
    let clock = ManualClock::new();
    let quotas = Arc::new(Quotas::new(
        [("*:free", RateLimit::new().rpm(20))],
        Arc::new(clock.clone()),
    ));
    let inner = Scripted::new([]);
    let provider = QuotaLayer::new(quotas).layer(inner.clone());
    let model = "a/b:free";
    provider.chat(&request(model)).await.unwrap();
    let before = clock.now();
    let far = before + Duration::from_secs(60);
    // A router with another target says so: the 3 s wait would fit the deadline, but the
    // request goes back at once so the fallback can answer it now.
    let error = orchestra_resilience::with_deadline(
        far,
        orchestra_resilience::with_fallback_available(true, provider.chat(&request(model))),
    )
    .await
    .unwrap_err();
    assert_eq!(error.rate_limit_scope(), Some(RateLimitScope::LocalQuota));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!((clock.now(), inner.calls()), (before, 1));
    // The last target (no fallback left) still waits its turn.
    orchestra_resilience::with_deadline(
        far,
        orchestra_resilience::with_fallback_available(false, provider.chat(&request(model))),
    )
    .await
    .unwrap();
    assert_eq!(
        (clock.now() - before, inner.calls()),
        (Duration::from_secs(3), 2)
    );
}

#[tokio::test(start_paused = true)]
async fn cancelled_waiting_calls_leak_no_capacity() {
    // tokio's paused clock (no sockets here): waits really block until time advances.
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
    let quotas = Arc::new(Quotas::new(
        [("*", RateLimit::new().rpm(1).rpd(3))],
        clock.clone(),
    ));
    let inner = Scripted::new([]);
    let provider = Arc::new(QuotaLayer::new(quotas.clone()).layer(inner.clone()));
    provider.chat(&request("m/a")).await.unwrap();

    // Ten calls queue for the next minute's cell; all are cancelled while waiting.
    let waiting: Vec<_> = (0..10)
        .map(|_| {
            let provider = Arc::clone(&provider);
            tokio::spawn(async move { provider.chat(&request("m/a")).await })
        })
        .collect();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    for task in &waiting {
        task.abort();
    }
    for task in waiting {
        assert!(task.await.unwrap_err().is_cancelled());
    }
    assert_eq!(inner.calls(), 1);

    // A minute later the cell is there, and two of three daily requests remain.
    tokio::time::advance(Duration::from_secs(60)).await;
    assert!(quotas.try_acquire("m/a", 0).await.unwrap().is_ok());
    tokio::time::advance(Duration::from_secs(60)).await;
    assert!(quotas.try_acquire("m/a", 0).await.unwrap().is_ok());
    tokio::time::advance(Duration::from_secs(60)).await;
    let wait = quotas.try_acquire("m/a", 0).await.unwrap().unwrap_err();
    assert!(
        wait > Duration::from_secs(3600),
        "the day's three are used: {wait:?}"
    );
}

#[tokio::test]
async fn token_quota_charges_an_estimate_and_reconciles_with_usage() {
    let clock = ManualClock::new();
    let quotas = Arc::new(Quotas::new(
        [("*", RateLimit::new().tpm(1000))],
        Arc::new(clock.clone()),
    ));
    // 20 characters → 5 prompt tokens, plus max_tokens 495: an estimate of 500.
    let request =
        orchestra_core::ChatRequest::new(vec![orchestra_core::Message::user("x".repeat(20))])
            .model("m/a")
            .max_tokens(495);
    assert_eq!(orchestra_resilience::estimate_tokens(&request), 500);

    // The response used only 100 tokens: 400 are refunded.
    let inner = Scripted::with_usage([], Usage::new(60, 40));
    let provider = QuotaLayer::new(quotas.clone()).layer(inner.clone());
    provider.chat(&request).await.unwrap();
    // 900 of 1000 tokens are left: another 500-token estimate fits at once, twice not.
    let permit = quotas.try_acquire("m/a", 500).await.unwrap().unwrap();
    assert_eq!(permit.estimated_tokens(), 500);
    let wait = quotas.try_acquire("m/a", 500).await.unwrap().unwrap_err();
    // 100 tokens short at 1000/min: 6 s.
    assert_eq!(wait, Duration::from_secs(6));

    // A request over the whole budget is clamped to it, so it can pass alone.
    clock.advance(Duration::from_secs(60));
    assert!(quotas.try_acquire("m/a", 50_000).await.unwrap().is_ok());
}

#[tokio::test]
async fn free_tier_daily_quota_follows_the_credits_bought() {
    let quotas = Quotas::new(
        Settings::default().resilience.rate_limits,
        Arc::new(ManualClock::new()),
    );
    let mut credits = orchestra_core::Credits::new("openrouter");
    credits.total_credits = Some(5.0);
    assert!(!quotas.apply_credits(&credits), "still 50/day");
    credits.total_credits = Some(10.0);
    assert!(quotas.apply_credits(&credits));
    assert_eq!(
        quotas.rate_limits()["*:free"],
        RateLimit::new().rpm(20).rpd(1000)
    );
    // A custom daily quota is the user's choice and is left alone.
    quotas.set_rate_limit("*:free", RateLimit::new().rpd(7));
    assert!(!quotas.set_free_daily_limit(1000));
}

/// The simulator enforces 20/min and 50/day on a `:free` model; `LLM_RATE_LIMITS` says the
/// same. Sixty requests fired at once, on a shared virtual clock that only moves when every
/// request is waiting, must see no upstream 429 and use the whole quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_at_the_simulators_quota_gets_no_429_and_uses_it_all() {
    const MODEL: &str = "google/gemini-2.5-flash:free";
    const BURST: usize = 60;
    let sim = simulator([ModelConfig::new(MODEL).rpm(20).rpd(50)]).await;
    let env = MapEnv::from_iter([
        ("LLM_RATE_LIMITS", r#"{"*:free": {"rpm": 20, "rpd": 50}}"#),
        ("LLM_REQUEST_DEADLINE", "172800"),
    ]);
    let settings = Settings::load(&env).unwrap().settings;
    let start = Duration::from_millis(sim.now_epoch_ms());
    let clock = SteppingClock::new(start, Some(sim.clone()));
    let quotas =
        Arc::new(Quotas::from_settings(&settings.resilience, Arc::new(clock.clone())).unwrap());
    let provider = Arc::new(QuotaLayer::new(quotas).layer(openrouter(&sim, MODEL)));

    let tasks: Vec<_> = (0..BURST)
        .map(|_| {
            let participant = clock.participant();
            let provider = Arc::clone(&provider);
            tokio::spawn(async move {
                let result = provider.chat(&request(MODEL)).await;
                drop(participant);
                result
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    let stats = sim.model_stats(MODEL);
    assert_eq!(stats.rate_limited, 0, "no upstream 429");
    assert_eq!(stats.successes, BURST as u64);
    let served: Vec<u64> = sim
        .chat_requests()
        .iter()
        .map(|record| record.at_ms)
        .collect();
    let start_ms = u64::try_from(start.as_millis()).unwrap();
    let in_window = |from: u64, length: u64| {
        served
            .iter()
            .filter(|at| (start_ms + from..start_ms + from + length).contains(at))
            .count()
    };
    // The first day: all 50 requests of the daily quota (100 % ≥ 95 %)…
    assert_eq!(in_window(0, 86_400_000), 50);
    // …at 20 in each full minute (100 % of the per-minute quota), never more.
    assert_eq!(in_window(0, 60_000), 20);
    assert_eq!(in_window(60_000, 60_000), 20);
    for minute in 0..3 {
        assert!(in_window(minute * 60_000, 60_000) <= 20);
    }
    // The ten left went at the next UTC midnight.
    assert_eq!(in_window(86_400_000, 60_000), 10);
}
