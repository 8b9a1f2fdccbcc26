//! The composed stack: router, resilience, cache and ledger, as the settings say.

use futures_util::StreamExt;
use orchestra_llm::{
    CacheStatus, CreditStatus, ErrorKind, LlmClient, Message, StreamAccumulator,
    config::{MapEnv, Settings},
};
use orchestra_sim::{Fault, ModelConfig, SimConfig, Simulator};

const KEY: &str = "sk-or-v1-umbrella-test-key";

async fn simulator() -> Simulator {
    let config = SimConfig::builder()
        .api_key(KEY)
        .credits(20.0)
        .model(ModelConfig::new("paid/primary").price("0.000001", "0.000002"))
        .model(ModelConfig::new("paid/researcher").price("0.000003", "0.000006"))
        .model(ModelConfig::new("free/backup:free"))
        .build()
        .unwrap();
    Simulator::start(config).await.unwrap()
}

fn settings(sim: &Simulator, extra: &[(&str, &str)]) -> Settings {
    let base_url = sim.base_url();
    let mut env = vec![
        ("OPENROUTER_API_KEY", KEY),
        ("OPENROUTER_BASE_URL", base_url.as_str()),
        ("OPENROUTER_DEFAULT_MODEL", "paid/primary"),
        ("OPENROUTER_FREE_FALLBACKS", "free/backup:free"),
        ("AGENT_MODEL_MAP", r#"{"researcher": "paid/researcher"}"#),
        ("LLM_MAX_RETRIES", "0"),
    ];
    env.extend_from_slice(extra);
    Settings::load(&MapEnv::from_iter(env)).unwrap().settings
}

#[tokio::test]
async fn agent_types_route_to_their_models_and_the_ledger_counts_them() {
    let sim = simulator().await;
    let client = LlmClient::from_settings(settings(&sim, &[])).unwrap();

    let response = client
        .generate_chat_completion([Message::user("Find sources on tidal energy.")])
        .agent_type("researcher")
        .max_tokens(32)
        .await
        .unwrap();
    assert_eq!(response.model, "paid/researcher");
    let response = client
        .generate_chat_completion([Message::user("Hello")])
        .await
        .unwrap();
    assert_eq!(response.model, "paid/primary");

    // The router, not OpenRouter, does the fallbacks: no `models` list goes upstream.
    for request in sim.chat_requests() {
        assert_eq!(request.requested.len(), 1, "{:?}", request.requested);
    }
    let usage = client.usage();
    assert_eq!((usage.requests, usage.failed_requests), (2, 0));
    assert_eq!(usage.models["paid/researcher"].served, 1);
    assert_eq!(usage.models["paid/primary"].served, 1);
    let billed = sim.model_stats("paid/researcher");
    assert_eq!(
        usage.models["paid/researcher"].prompt_tokens,
        billed.prompt_tokens
    );
    assert!((usage.models["paid/researcher"].cost_usd - billed.cost).abs() < 1e-12);
}

#[tokio::test]
async fn a_rate_limited_primary_falls_back_then_cools_down() {
    let sim = simulator().await;
    sim.set_model(
        ModelConfig::new("paid/primary").then_fault(Fault::status_retry_after(429, 60), 1),
    )
    .unwrap();
    // Without client-side quotas: the free model's 20/min would space these calls 3 s apart.
    let client = LlmClient::from_settings(settings(&sim, &[("LLM_RATE_LIMITS", "{}")])).unwrap();

    for _ in 0..3 {
        let response = client
            .generate_chat_completion([Message::user("Plan the week.")])
            .await
            .unwrap();
        assert_eq!(response.model, "free/backup:free");
    }
    // One 429, then the cooldown keeps the primary from being asked again.
    assert_eq!(sim.model_stats("paid/primary").requests, 1);
    let usage = client.usage();
    let primary = &usage.models["paid/primary"];
    assert_eq!(
        (primary.sent, primary.rate_limited, primary.held_back),
        (1, 1, 2)
    );
    assert_eq!(usage.models["free/backup:free"].fallbacks, 3);
    assert!(
        client
            .cooldowns()
            .unwrap()
            .remaining("openrouter", "paid/primary")
            .is_some()
    );
}

#[tokio::test]
async fn the_cache_answers_repeats_without_a_call_and_streams_replay() {
    let sim = simulator().await;
    let client = LlmClient::from_settings(settings(&sim, &[("LLM_CACHE", "exact")])).unwrap();
    let ask = || {
        client
            .generate_chat_completion([Message::user("What is the capital of France?")])
            .max_tokens(16)
    };
    assert_eq!(ask().await.unwrap().metadata.cache, CacheStatus::Miss);
    assert_eq!(ask().await.unwrap().metadata.cache, CacheStatus::Hit);
    let mut stream = ask().stream().await.unwrap();
    let mut accumulator = StreamAccumulator::default();
    while let Some(event) = stream.next().await {
        accumulator.push(&event.unwrap());
    }
    assert!(accumulator.is_finished());
    assert_eq!(accumulator.into_response().metadata.cache, CacheStatus::Hit);

    assert_eq!(sim.model_stats("paid/primary").requests, 1);
    let usage = client.usage();
    assert_eq!(usage.models["paid/primary"].cache_hits, 2);
    assert_eq!(
        usage.models["paid/primary"].tokens_saved,
        2 * usage.models["paid/primary"].total_tokens()
    );
    assert_eq!(client.cache_stats().unwrap().hits, 2);
}

#[tokio::test]
async fn streams_are_routed_and_metered() {
    let sim = simulator().await;
    let client = LlmClient::from_settings(settings(&sim, &[])).unwrap();
    let mut stream = client
        .generate_chat_completion([Message::user("Tell me a story.")])
        .agent_type("researcher")
        .stream()
        .await
        .unwrap();
    let mut accumulator = StreamAccumulator::default();
    while let Some(event) = stream.next().await {
        accumulator.push(&event.unwrap());
    }
    drop(stream);
    let response = accumulator.into_response();
    assert_eq!(response.model, "paid/researcher");
    let usage = client.usage();
    assert_eq!(usage.models["paid/researcher"].served, 1);
    assert!(usage.models["paid/researcher"].completion_tokens > 0);
}

#[tokio::test]
async fn providers_and_credits_are_reachable_by_name() {
    let sim = simulator().await;
    let client = LlmClient::from_settings(settings(&sim, &[])).unwrap();
    let openrouter = client.get_llm_provider("openrouter").unwrap();
    assert_eq!(openrouter.as_provider().name(), "openrouter");
    let error = client.get_llm_provider("portkey").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.to_string().contains("PORTKEY_API_KEY"), "{error}");
    let error = client.get_llm_provider("anthropic").unwrap_err();
    assert!(error.to_string().contains("openrouter, portkey"), "{error}");

    let CreditStatus::OpenRouter(report) = client.monitor_credits().await.unwrap() else {
        panic!("OpenRouter is preferred");
    };
    assert_eq!(report.balance(), Some(20.0));
    // $20 bought: free models get 1,000 requests a day, and the quota table follows.
    assert_eq!(
        client.quotas().unwrap().rate_limits()["*:free"].rpd,
        Some(1000)
    );
}

#[test]
fn a_missing_key_is_a_config_error_that_points_to_the_demo() {
    let settings = Settings::load(&MapEnv::from_iter([("OPENROUTER_DEFAULT_MODEL", "m/x")]))
        .unwrap()
        .settings;
    let error = LlmClient::from_settings(settings).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.to_string().contains("OPENROUTER_API_KEY"));
    assert!(error.to_string().contains("orchestra demo"));
}

#[tokio::test]
async fn a_rate_limit_goes_to_the_fallback_instead_of_waiting_for_retry_after() {
    let sim = simulator().await;
    sim.set_model(
        ModelConfig::new("paid/primary").then_fault(Fault::status_retry_after(429, 5), 1),
    )
    .unwrap();
    // Retries are on and 5 s fits the deadline, but the router has a fallback ready: the
    // retry layer must hand the rate limit back rather than wait it out.
    let client = LlmClient::from_settings(settings(
        &sim,
        &[("LLM_MAX_RETRIES", "3"), ("LLM_RATE_LIMITS", "{}")],
    ))
    .unwrap();
    let response = client
        .generate_chat_completion([Message::user("Summarise the news.")])
        .await
        .unwrap();
    assert_eq!(response.model, "free/backup:free");
    assert_eq!(sim.model_stats("paid/primary").requests, 1);
    let outcomes: Vec<String> = response
        .metadata
        .attempts
        .iter()
        .map(|attempt| format!("{}:{}", attempt.model, attempt.outcome))
        .collect();
    assert_eq!(
        outcomes,
        ["paid/primary:rate_limited", "free/backup:free:success"]
    );
}

#[tokio::test]
async fn a_server_error_is_retried_on_the_same_model_first() {
    let sim = simulator().await;
    sim.set_model(ModelConfig::new("paid/primary").then_fault(Fault::status(503), 1))
        .unwrap();
    let client = LlmClient::from_settings(settings(
        &sim,
        &[("LLM_MAX_RETRIES", "2"), ("LLM_RETRY_DELAY", "0.001")],
    ))
    .unwrap();
    let response = client
        .generate_chat_completion([Message::user("Summarise the news.")])
        .await
        .unwrap();
    assert_eq!(response.model, "paid/primary");
    assert_eq!(sim.model_stats("paid/primary").requests, 2);
    let usage = client.usage();
    let primary = &usage.models["paid/primary"];
    assert_eq!((primary.sent, primary.retries, primary.failed), (2, 1, 1));
}

#[tokio::test]
async fn debug_output_and_errors_never_show_the_key() {
    let sim = simulator().await;
    let settings = settings(&sim, &[("PORTKEY_API_KEY", KEY), ("LLM_CACHE", "semantic")]);
    let builder = LlmClient::builder(settings.clone());
    let client = LlmClient::from_settings(settings.clone()).unwrap();
    let provider = client.get_llm_provider("openrouter").unwrap();
    sim.set_model(ModelConfig::new("paid/primary").then_fault(Fault::status(401), 1))
        .unwrap();
    let error = client
        .generate_chat_completion([Message::user("hi")])
        .await
        .unwrap_err();
    for shown in [
        format!("{settings:?}"),
        format!("{builder:?}"),
        format!("{client:?}"),
        format!("{provider:?}"),
        format!("{error:?}"),
        error.to_string(),
        format!("{:?}", client.providers().keys()),
    ] {
        assert!(!shown.contains(KEY), "{shown}");
    }
}
