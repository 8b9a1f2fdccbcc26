//! Quotas shared through a real `redis-server` (started per test on a free port): several
//! client instances together never exceed the quota.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use orchestra_config::RateLimit;
use orchestra_core::{ErrorKind, RateLimitScope, Secret};
use orchestra_resilience::{Clock, ManualClock, Quotas};

use crate::support::{RedisServer, SteppingClock};

const MODEL: &str = "google/gemini-2.5-flash:free";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_redis_stay_under_the_quota_together() {
    let server = RedisServer::start();
    let url = Secret::new(server.url.clone());
    // Virtual time that moves only when every task waits (see `SteppingClock`).
    let clock = SteppingClock::new(ManualClock::DEFAULT_START, None);
    let start = clock.now();
    let limits = [("*:free", RateLimit::new().rpm(20).rpd(30))];
    // Five processes' worth of clients, each with its own connection.
    let instances: Vec<Arc<Quotas>> = (0..5)
        .map(|_| {
            Arc::new(
                Quotas::redis_with_client_time(
                    limits,
                    &url,
                    "test:shared",
                    Arc::new(clock.clone()),
                )
                .unwrap(),
            )
        })
        .collect();
    let admitted_at = Arc::new(std::sync::Mutex::new(Vec::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let deadline = start + Duration::from_secs(3600);
    let mut tasks = Vec::new();
    for quotas in &instances {
        for _ in 0..8 {
            let quotas = Arc::clone(quotas);
            let clock = clock.clone();
            let admitted_at = Arc::clone(&admitted_at);
            let refused = Arc::clone(&refused);
            let participant = clock.participant();
            tasks.push(tokio::spawn(async move {
                let _participant = participant;
                for _ in 0..2 {
                    match quotas.acquire(MODEL, 0, deadline).await {
                        Ok(_) => admitted_at.lock().unwrap().push(clock.now() - start),
                        Err(error) => {
                            assert_eq!(error.kind(), ErrorKind::RateLimited);
                            assert_eq!(error.rate_limit_scope(), Some(RateLimitScope::LocalQuota));
                            refused.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let admitted = admitted_at.lock().unwrap().clone();
    // 80 wanted, 30 a day allowed: exactly 30 went, the rest were refused.
    assert_eq!(admitted.len(), 30, "{admitted:?}");
    assert_eq!(refused.load(Ordering::SeqCst), 50);
    // 20 a minute, evenly spaced: never more than 20 in the first minute.
    let first_minute = admitted
        .iter()
        .filter(|at| **at < Duration::from_secs(60))
        .count();
    assert_eq!(first_minute, 20, "{admitted:?}");
    assert!(admitted.iter().all(|at| *at < Duration::from_secs(90)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_instances_on_server_time_admit_exactly_the_daily_quota() {
    let server = RedisServer::start();
    let url = Secret::new(server.url.clone());
    let limits = [("*", RateLimit::new().rpd(10))];
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
    let instances: Vec<Arc<Quotas>> = (0..3)
        .map(|_| Arc::new(Quotas::redis(limits, &url, "test:server-time", clock.clone()).unwrap()))
        .collect();
    let mut tasks = Vec::new();
    for round in 0..30 {
        let quotas = Arc::clone(&instances[round % instances.len()]);
        tasks.push(tokio::spawn(async move {
            quotas.try_acquire(MODEL, 0).await.unwrap().is_ok()
        }));
    }
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.unwrap());
    }
    assert_eq!(admitted, 10);
}

#[tokio::test]
async fn token_quota_in_redis_is_reconciled() {
    let server = RedisServer::start();
    let url = Secret::new(server.url.clone());
    let clock = ManualClock::new();
    let quotas = Quotas::redis_with_client_time(
        [("*", RateLimit::new().tpm(1000))],
        &url,
        "test:tokens",
        Arc::new(clock.clone()),
    )
    .unwrap();
    let permit = quotas.try_acquire(MODEL, 800).await.unwrap().unwrap();
    assert!(quotas.try_acquire(MODEL, 300).await.unwrap().is_err());
    // The request used 100 tokens, not 800: 700 come back.
    quotas.reconcile(&permit, 100).await;
    assert!(quotas.try_acquire(MODEL, 300).await.unwrap().is_ok());
}

#[tokio::test]
async fn an_unreachable_redis_is_a_connection_error_without_the_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = Secret::new(format!("redis://:hunter2@127.0.0.1:{port}/0"));
    let quotas = Quotas::redis(
        [("*", RateLimit::new().rpm(1))],
        &url,
        "test:down",
        Arc::new(ManualClock::new()),
    )
    .unwrap();
    let error = quotas.try_acquire(MODEL, 0).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection);
    assert!(!format!("{error} {error:?}").contains("hunter2"));
}
