//! End to end: `Cache<OpenRouter>` against the simulator. A hit never reaches the simulator.

use std::time::Duration;

use orchestra_cache::{CacheControl, CacheMode, CacheRequestExt, ManualClock, ResponseCache};
use orchestra_core::{
    CacheStatus, ChatRequest, ErrorKind, Layer, Message, Provider, Secret, StreamEvent,
    collect_stream,
};
use orchestra_provider_openrouter::OpenRouter;
use orchestra_sim::{Fault, ModelConfig, ScriptStep, SimConfig, Simulator};

const MODEL: &str = "openai/gpt-4o-mini";

async fn simulator() -> Simulator {
    let config = SimConfig::builder()
        .api_key("sk-or-v1-sim")
        .model(ModelConfig::new(MODEL).price("0.00000015", "0.0000006"))
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
    ChatRequest::new(vec![Message::system("Be brief."), Message::user(text)])
        .model(MODEL)
        .max_tokens(16)
}

fn upstream_calls(sim: &Simulator) -> u64 {
    sim.stats().chat_requests
}

#[tokio::test]
async fn repeated_and_reworded_questions_are_served_without_upstream_calls() {
    let sim = simulator().await;
    let cache = ResponseCache::builder()
        .mode(CacheMode::Semantic)
        .build()
        .unwrap();
    let provider = cache.layer(openrouter(&sim));

    let first = provider
        .chat(&ask("What is the capital of France?"))
        .await
        .unwrap();
    assert_eq!(first.metadata.cache, CacheStatus::Miss);
    assert_eq!(upstream_calls(&sim), 1);

    let exact = provider
        .chat(&ask("What is the capital of France?"))
        .await
        .unwrap();
    assert_eq!(exact.metadata.cache, CacheStatus::Hit);
    assert_eq!(exact.content(), first.content());
    assert!(exact.metadata.attempts.is_empty());

    let reworded = provider
        .chat(&ask("what's the capital of france"))
        .await
        .unwrap();
    let CacheStatus::SemanticHit { similarity } = reworded.metadata.cache else {
        panic!("expected a semantic hit, got {:?}", reworded.metadata.cache);
    };
    assert!(similarity > 0.8 && similarity <= 1.0, "{similarity}");
    assert_eq!(reworded.content(), first.content());
    assert_eq!(upstream_calls(&sim), 1, "hits never reach the simulator");

    // Near misses go upstream.
    for other in [
        "What is the capital of Germany?",
        "What is not the capital of France?",
        "What was the capital of France in 1900?",
    ] {
        let response = provider.chat(&ask(other)).await.unwrap();
        assert_eq!(response.metadata.cache, CacheStatus::Miss, "{other}");
    }
    assert_eq!(upstream_calls(&sim), 4);

    // So do the same words in another scope: system prompt, parameters, model, agent.
    let mut other_system = ask("What is the capital of France?");
    other_system.messages[0] = Message::system("Answer in French.");
    for request in [
        other_system,
        ask("What is the capital of France?").temperature(1.2),
        ask("What is the capital of France?").max_tokens(8),
        ask("What is the capital of France?").agent_type("researcher"),
    ] {
        let response = provider.chat(&request).await.unwrap();
        assert_eq!(response.metadata.cache, CacheStatus::Miss, "{request:?}");
    }
    assert_eq!(upstream_calls(&sim), 8);

    let stats = cache.stats();
    assert_eq!((stats.hits, stats.semantic_hits, stats.misses), (1, 1, 8));
    assert!(stats.tokens_saved > 0);
    assert!(
        stats.cost_saved_usd > 0.0,
        "the simulator reports cost: {stats:?}"
    );
}

#[tokio::test]
async fn streams_are_stored_when_finished_and_replayed_as_streams() {
    let sim = simulator().await;
    let cache = ResponseCache::builder().build().unwrap();
    let provider = cache.layer(openrouter(&sim));

    let streamed = collect_stream(provider.chat_stream(&ask("Tell me a joke")).await.unwrap())
        .await
        .unwrap();
    assert_eq!(upstream_calls(&sim), 1);

    // Replayed as a stream: Start, several deltas, Finish, Usage, no upstream call.
    let mut replay = provider.chat_stream(&ask("Tell me a joke")).await.unwrap();
    let mut events = Vec::new();
    while let Some(event) = futures_util::StreamExt::next(&mut replay).await {
        events.push(event.unwrap());
    }
    assert!(matches!(events[0], StreamEvent::Start(_)));
    let deltas = events
        .iter()
        .filter(|event| matches!(event, StreamEvent::ContentDelta { .. }))
        .count();
    assert!(deltas > 1, "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StreamEvent::Finish { .. }))
    );
    assert!(events.iter().any(|e| matches!(e, StreamEvent::Usage(_))));
    let replayed = collect_stream(Box::pin(futures_util::stream::iter(
        events.into_iter().map(Ok),
    )))
    .await
    .unwrap();
    assert_eq!(replayed.content(), streamed.content());
    assert_eq!(replayed.model, streamed.model);
    assert_eq!(
        replayed.metadata.cache,
        CacheStatus::Hit,
        "the replay says where it came from"
    );

    // A streamed answer also serves a plain chat call, and the other way round.
    let chat = provider.chat(&ask("Tell me a joke")).await.unwrap();
    assert_eq!(chat.metadata.cache, CacheStatus::Hit);
    provider.chat(&ask("Tell me a story")).await.unwrap();
    let stream = collect_stream(provider.chat_stream(&ask("Tell me a story")).await.unwrap())
        .await
        .unwrap();
    assert!(stream.content().is_some());
    assert_eq!(upstream_calls(&sim), 2);
    assert_eq!(cache.stats().hits, 3);
}

#[tokio::test]
async fn failures_and_cut_streams_are_never_stored() {
    let sim = simulator().await;
    let cache = ResponseCache::builder().build().unwrap();
    let provider = cache.layer(openrouter(&sim));

    sim.push_faults(MODEL, vec![ScriptStep::fault(Fault::status(500), 1)])
        .unwrap();
    let error = provider.chat(&ask("Is it down?")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Server);
    let ok = provider.chat(&ask("Is it down?")).await.unwrap();
    assert_eq!(
        ok.metadata.cache,
        CacheStatus::Miss,
        "the error was not cached"
    );

    sim.push_faults(
        MODEL,
        vec![ScriptStep::fault(Fault::StreamCut { after: 2 }, 1)],
    )
    .unwrap();
    let cut = collect_stream(provider.chat_stream(&ask("A long story")).await.unwrap()).await;
    assert_eq!(cut.unwrap_err().kind(), ErrorKind::StreamInterrupted);
    let again = provider.chat(&ask("A long story")).await.unwrap();
    assert_eq!(
        again.metadata.cache,
        CacheStatus::Miss,
        "the cut stream was not cached"
    );

    // A stream the caller drops early is not stored either.
    let stream = provider.chat_stream(&ask("Dropped early")).await.unwrap();
    drop(stream);
    let after_drop = provider.chat(&ask("Dropped early")).await.unwrap();
    assert_eq!(after_drop.metadata.cache, CacheStatus::Miss);
    assert_eq!(upstream_calls(&sim), 6);
}

#[tokio::test]
async fn bypass_and_refresh_per_request_and_the_control_never_goes_upstream() {
    let sim = simulator().await;
    let cache = ResponseCache::builder().build().unwrap();
    let provider = cache.layer(openrouter(&sim));
    let question = || ask("What time is it?");

    provider.chat(&question()).await.unwrap();
    let bypassed = provider
        .chat(&question().cache_control(CacheControl::Bypass))
        .await
        .unwrap();
    assert_eq!(bypassed.metadata.cache, CacheStatus::Off);
    let refreshed = provider
        .chat(&question().cache_control(CacheControl::Refresh))
        .await
        .unwrap();
    assert_eq!(refreshed.metadata.cache, CacheStatus::Miss);
    assert_eq!(upstream_calls(&sim), 3);
    let hit = provider.chat(&question()).await.unwrap();
    assert_eq!(hit.metadata.cache, CacheStatus::Hit);
    assert_eq!(hit.id, refreshed.id, "refresh replaced the stored answer");

    // Exact-only: a reworded question misses.
    let reworded = provider
        .chat(&ask("what time is it").cache_control(CacheControl::ExactOnly))
        .await
        .unwrap();
    assert_eq!(reworded.metadata.cache, CacheStatus::Miss);

    assert_eq!(cache.stats().bypassed, 1);
}

#[tokio::test]
async fn the_control_key_is_removed_before_the_request_is_sent() {
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "gen-1",
            "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Noon."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
        })))
        .mount(&server)
        .await;
    let provider = OpenRouter::builder()
        .api_key(Secret::new("sk-or-v1-test"))
        .base_url(format!("{}/api/v1", server.uri()))
        .build()
        .unwrap();
    let cache = ResponseCache::builder().build().unwrap();
    let provider = cache.layer(provider);
    for control in [
        CacheControl::Bypass,
        CacheControl::Refresh,
        CacheControl::ExactOnly,
    ] {
        provider
            .chat(&ask("What time is it?").cache_control(control))
            .await
            .unwrap();
    }
    // Bypass and refresh go upstream; exact-only then finds the refreshed answer.
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    for request in requests {
        let body = String::from_utf8(request.body).unwrap();
        assert!(!body.contains("orchestra_cache"), "{body}");
    }
}

#[tokio::test]
async fn entries_expire_after_the_ttl_and_the_least_recently_used_are_evicted() {
    let sim = simulator().await;
    let clock = ManualClock::new(1_700_000_000_000);
    let cache = ResponseCache::builder()
        .ttl(Duration::from_secs(60))
        .max_entries(2)
        .clock(clock.clone())
        .build()
        .unwrap();
    let provider = cache.layer(openrouter(&sim));

    provider.chat(&ask("one")).await.unwrap();
    clock.advance(Duration::from_secs(59));
    assert_eq!(
        provider.chat(&ask("one")).await.unwrap().metadata.cache,
        CacheStatus::Hit
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        provider.chat(&ask("one")).await.unwrap().metadata.cache,
        CacheStatus::Miss
    );

    provider.chat(&ask("two")).await.unwrap();
    provider.chat(&ask("one")).await.unwrap(); // "two" is now the least recently used
    provider.chat(&ask("three")).await.unwrap();
    assert_eq!(cache.len(), 2);
    assert_eq!(
        provider.chat(&ask("one")).await.unwrap().metadata.cache,
        CacheStatus::Hit
    );
    assert_eq!(
        provider.chat(&ask("two")).await.unwrap().metadata.cache,
        CacheStatus::Miss
    );
    assert!(cache.stats().evictions >= 1);
}

#[tokio::test]
async fn exact_mode_and_off_mode() {
    let sim = simulator().await;
    let exact = ResponseCache::builder()
        .mode(CacheMode::Exact)
        .build()
        .unwrap();
    let provider = exact.layer(openrouter(&sim));
    provider.chat(&ask("What is Rust?")).await.unwrap();
    let reworded = provider.chat(&ask("what is rust")).await.unwrap();
    assert_eq!(reworded.metadata.cache, CacheStatus::Miss);
    // Whitespace is normalised in the exact key.
    let spaced = provider.chat(&ask("  What is   Rust? ")).await.unwrap();
    assert_eq!(spaced.metadata.cache, CacheStatus::Hit);

    let off = ResponseCache::builder()
        .mode(CacheMode::Off)
        .build()
        .unwrap();
    let provider = off.layer(openrouter(&sim));
    provider.chat(&ask("What is Rust?")).await.unwrap();
    let again = provider.chat(&ask("What is Rust?")).await.unwrap();
    assert_eq!(again.metadata.cache, CacheStatus::Off);
    assert_eq!(off.stats().lookups(), 0);
}

#[test]
fn from_settings_and_invalid_builders() {
    let env = orchestra_config::MapEnv::from_iter([
        ("LLM_CACHE", "exact"),
        ("LLM_CACHE_TTL", "5m"),
        ("LLM_CACHE_MAX_ENTRIES", "7"),
    ]);
    let settings = orchestra_config::Settings::load(&env).unwrap().settings;
    let cache = ResponseCache::from_settings(&settings.cache).unwrap();
    assert_eq!(cache.mode(), CacheMode::Exact);
    assert!(ResponseCache::builder().similarity(1.5).build().is_err());
    assert!(
        ResponseCache::builder()
            .ttl(Duration::ZERO)
            .build()
            .is_err()
    );
    assert!(ResponseCache::builder().max_entries(0).build().is_err());
    #[cfg(not(feature = "redis"))]
    {
        let error = ResponseCache::builder()
            .redis_url(Secret::new("redis://:hunter2@127.0.0.1:1"))
            .build()
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(!error.to_string().contains("hunter2"));
    }
}
