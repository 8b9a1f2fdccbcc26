//! Concurrent identical requests share one upstream call (single flight), and a streamed
//! miss says it was a miss. Upstream is the simulator; its request counter is the truth.
//! No sleeps: concurrency comes from polling futures together (`join_all`), and a cancelled
//! leader is a future dropped while it waits upstream.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use async_trait::async_trait;
use futures_util::{FutureExt, future::join_all};
use orchestra_cache::{CacheMode, ResponseCache};
use orchestra_core::{
    CacheStatus, ChatRequest, ChatResponse, ChatStream, ErrorKind, Layer, Message, Provider,
    Secret, StreamEvent, collect_stream,
};
use orchestra_provider_openrouter::OpenRouter;
use orchestra_sim::{Fault, ModelConfig, ScriptStep, SimConfig, Simulator};
use tokio::sync::oneshot;

const MODEL: &str = "openai/gpt-4o-mini";
const N: usize = 8;

async fn simulator() -> Simulator {
    let config = SimConfig::builder()
        .api_key("sk-or-v1-sim")
        .model(ModelConfig::new(MODEL))
        .build()
        .unwrap();
    Simulator::start(config).await.unwrap()
}

fn openrouter(sim: &Simulator) -> OpenRouter {
    OpenRouter::builder()
        .api_key(Secret::new("sk-or-v1-sim"))
        .base_url(sim.base_url())
        .default_model(MODEL)
        .build()
        .unwrap()
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new(vec![Message::user(text)])
        .model(MODEL)
        .max_tokens(16)
}

fn upstream_calls(sim: &Simulator) -> u64 {
    sim.stats().chat_requests
}

#[tokio::test]
async fn concurrent_identical_requests_make_one_upstream_call() {
    let sim = simulator().await;
    for mode in [CacheMode::Exact, CacheMode::Semantic] {
        let cache = ResponseCache::builder().mode(mode).build().unwrap();
        let provider = cache.layer(openrouter(&sim));
        let before = upstream_calls(&sim);

        // Polled together: the first registers and goes upstream, the rest join it before
        // any answer can arrive.
        let question = format!("What is the capital of France? ({mode})");
        let request = ask(&question);
        let answers = join_all((0..N).map(|_| provider.chat(&request))).await;

        assert_eq!(
            upstream_calls(&sim) - before,
            1,
            "{mode}: one upstream call"
        );
        let answers: Vec<ChatResponse> = answers.into_iter().map(Result::unwrap).collect();
        let statuses: Vec<CacheStatus> = answers.iter().map(|a| a.metadata.cache).collect();
        assert_eq!(statuses[0], CacheStatus::Miss, "{mode}: the leader missed");
        assert!(
            statuses[1..].iter().all(|s| *s == CacheStatus::Hit),
            "{mode}: followers are hits: {statuses:?}"
        );
        assert!(answers.iter().all(|a| a.content() == answers[0].content()));
        assert!(answers[1..].iter().all(|a| a.metadata.attempts.is_empty()));
        let stats = cache.stats();
        assert_eq!(stats.coalesced, (N - 1) as u64);
        assert_eq!((stats.misses, stats.hits), (1, (N - 1) as u64));

        // Different questions are not coalesced.
        let before = upstream_calls(&sim);
        let distinct = join_all((0..3).map(|i| {
            let request = ask(&format!("Question number {i} ({mode})"));
            let provider = &provider;
            async move { provider.chat(&request).await }
        }))
        .await;
        assert!(distinct.iter().all(Result::is_ok));
        assert_eq!(upstream_calls(&sim) - before, 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tasks_on_threads_make_one_upstream_call() {
    let sim = simulator().await;
    let cache = ResponseCache::builder().build().unwrap();
    let provider = Arc::new(cache.layer(openrouter(&sim)));
    let barrier = Arc::new(tokio::sync::Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let provider = Arc::clone(&provider);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                provider.chat(&ask("Why is the sky blue?")).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().unwrap().metadata.cache);
    }
    // Late arrivals may find the stored answer instead of the flight: a hit either way.
    assert_eq!(upstream_calls(&sim), 1, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == CacheStatus::Miss).count(),
        1
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == CacheStatus::Hit).count(),
        N - 1
    );
}

#[tokio::test]
async fn an_upstream_error_reaches_every_waiter_and_is_not_cached() {
    let sim = simulator().await;
    let cache = ResponseCache::builder().build().unwrap();
    let provider = cache.layer(openrouter(&sim));
    sim.push_faults(MODEL, vec![ScriptStep::fault(Fault::status(500), 1)])
        .unwrap();

    let request = ask("Is it down?");
    let answers = join_all((0..N).map(|_| provider.chat(&request))).await;
    assert_eq!(upstream_calls(&sim), 1);
    for answer in &answers {
        assert_eq!(answer.as_ref().unwrap_err().kind(), ErrorKind::Server);
    }

    let after = provider.chat(&ask("Is it down?")).await.unwrap();
    assert_eq!(
        after.metadata.cache,
        CacheStatus::Miss,
        "the error was not cached"
    );
    assert_eq!(upstream_calls(&sim), 2);
    assert_eq!(cache.stats().stores, 1);
}

/// Passes requests to `inner`, except the first, which reports that it reached upstream and
/// then never finishes (its caller will give up on it).
struct StallFirst<P> {
    inner: P,
    stalled: AtomicBool,
    reached: std::sync::Mutex<Option<oneshot::Sender<()>>>,
}

#[async_trait]
impl<P: Provider> Provider for StallFirst<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, orchestra_core::Error> {
        if !self.stalled.swap(true, Ordering::SeqCst) {
            if let Some(reached) = self.reached.lock().unwrap().take() {
                let _ = reached.send(());
            }
            std::future::pending::<()>().await;
        }
        self.inner.chat(request).await
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
    ) -> Result<ChatStream, orchestra_core::Error> {
        self.inner.chat_stream(request).await
    }
}

#[tokio::test]
async fn a_cancelled_leader_does_not_strand_its_followers() {
    let sim = simulator().await;
    let cache = ResponseCache::builder().build().unwrap();
    let (reached, upstream_reached) = oneshot::channel();
    let provider = cache.layer(StallFirst {
        inner: openrouter(&sim),
        stalled: AtomicBool::new(false),
        reached: std::sync::Mutex::new(Some(reached)),
    });
    let question = ask("What is the tallest mountain?");

    // The leader goes upstream and stalls there.
    let mut leader = Box::pin(provider.chat(&question));
    tokio::select! {
        _ = &mut leader => panic!("the stalled leader cannot finish"),
        reached = upstream_reached => reached.unwrap(),
    }
    // Followers join its flight (one poll each registers them).
    let mut followers: Vec<_> = (0..N).map(|_| Box::pin(provider.chat(&question))).collect();
    for follower in &mut followers {
        assert!(follower.as_mut().now_or_never().is_none(), "waiting");
    }
    assert_eq!(cache.stats().misses, 1, "only the leader has looked up");

    // The leader's caller gives up: the followers carry on by themselves, one upstream call.
    drop(leader);
    let answers = join_all(followers).await;
    let answers: Vec<ChatResponse> = answers.into_iter().map(Result::unwrap).collect();
    assert_eq!(upstream_calls(&sim), 1);
    assert_eq!(answers[0].metadata.cache, CacheStatus::Miss, "a new leader");
    assert!(
        answers[1..]
            .iter()
            .all(|a| a.metadata.cache == CacheStatus::Hit)
    );
    assert!(answers.iter().all(|a| a.content() == answers[0].content()));
    assert_eq!(cache.stats().coalesced, (N - 1) as u64);
}

#[tokio::test]
async fn a_streamed_miss_reports_miss_and_a_bypassed_stream_reports_off() {
    let sim = simulator().await;
    let cache = ResponseCache::builder().build().unwrap();
    let provider = cache.layer(openrouter(&sim));

    let mut stream = provider.chat_stream(&ask("Tell me a joke")).await.unwrap();
    let first = futures_util::StreamExt::next(&mut stream)
        .await
        .unwrap()
        .unwrap();
    let StreamEvent::Start(start) = &first else {
        panic!("a stream starts with Start: {first:?}");
    };
    assert_eq!(start.cache, CacheStatus::Miss);
    let rest = collect_stream(Box::pin(futures_util::stream::iter(
        std::iter::once(Ok(first)).chain(
            futures_util::StreamExt::collect::<Vec<_>>(stream)
                .await
                .into_iter(),
        ),
    )))
    .await
    .unwrap();
    assert_eq!(rest.metadata.cache, CacheStatus::Miss);

    let collected = collect_stream(provider.chat_stream(&ask("Tell me another")).await.unwrap())
        .await
        .unwrap();
    assert_eq!(collected.metadata.cache, CacheStatus::Miss);

    let hit = collect_stream(provider.chat_stream(&ask("Tell me a joke")).await.unwrap())
        .await
        .unwrap();
    assert_eq!(hit.metadata.cache, CacheStatus::Hit);

    let bypassed = collect_stream(
        provider
            .chat_stream(&orchestra_cache::CacheRequestExt::cache_control(
                ask("Tell me a joke"),
                orchestra_cache::CacheControl::Bypass,
            ))
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(bypassed.metadata.cache, CacheStatus::Off);
    assert_eq!(upstream_calls(&sim), 3);
}
