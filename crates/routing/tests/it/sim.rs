//! Routing through the real OpenRouter provider against the simulator.

use std::{collections::BTreeMap, sync::Arc};

use orchestra_config::{MapEnv, Settings};
use orchestra_core::{ChatRequest, ErrorKind, Message, Provider, Secret};
use orchestra_provider_openrouter::OpenRouter;
use orchestra_routing::{CostAware, Router, Target};
use orchestra_sim::{Fault, ModelConfig, SimConfig, Simulator};

pub(crate) const KEY: &str = "sk-or-v1-routing-test";

pub(crate) async fn simulator(models: Vec<ModelConfig>) -> Simulator {
    let mut config = SimConfig::builder().api_key(KEY).credits(50.0);
    for model in models {
        config = config.model(model);
    }
    Simulator::start(config.build().unwrap()).await.unwrap()
}

/// An OpenRouter client without its own fallbacks: the router chooses every model.
pub(crate) fn openrouter(sim: &Simulator) -> Arc<dyn Provider> {
    Arc::new(
        OpenRouter::builder()
            .api_key(Secret::new(KEY))
            .base_url(sim.base_url())
            .build()
            .unwrap(),
    )
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![Message::user("What is the capital of France?")]).max_tokens(64)
}

#[tokio::test]
async fn fallback_moves_past_a_rate_limited_target_and_reports_both_attempts() {
    let sim = simulator(vec![
        ModelConfig::new("paid/primary").then_fault(Fault::status_retry_after(429, 20), 1),
        ModelConfig::new("free/backup:free"),
    ])
    .await;
    let provider = openrouter(&sim);
    let router = Router::builder()
        .target(Target::new(provider.clone(), "paid/primary"))
        .target(Target::new(provider.clone(), "free/backup:free"))
        .build()
        .unwrap();

    let response = router.chat(&request()).await.unwrap();
    assert_eq!(response.model, "free/backup:free");
    let attempts = &response.metadata.attempts;
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        (
            attempts[0].model.as_str(),
            attempts[0].outcome.to_string(),
            attempts[0].status
        ),
        ("paid/primary", "rate_limited".to_owned(), Some(429))
    );
    assert_eq!(attempts[1].outcome.to_string(), "success");
    assert_eq!(sim.model_stats("paid/primary").rate_limited, 1);

    // The primary is cooling down for its Retry-After: the next call does not ask it.
    let response = router.chat(&request()).await.unwrap();
    assert_eq!(response.model, "free/backup:free");
    assert_eq!(sim.model_stats("paid/primary").requests, 1);
    assert_eq!(
        response.metadata.attempts[0].outcome.to_string(),
        "skipped:rate_limited"
    );
}

#[tokio::test]
async fn cost_aware_uses_the_providers_prices_and_skips_small_contexts() {
    let sim = simulator(vec![
        ModelConfig::new("big/expensive").price("0.000015", "0.000075"),
        ModelConfig::new("tiny/cheap")
            .price("0.0000001", "0.0000001")
            .context_length(16),
        ModelConfig::new("mid/cheaper").price("0.00000015", "0.0000006"),
    ])
    .await;
    let provider = openrouter(&sim);
    let router = Router::builder()
        .targets(
            ["big/expensive", "tiny/cheap", "mid/cheaper"]
                .map(|model| Target::new(provider.clone(), model)),
        )
        .strategy(CostAware)
        .build()
        .unwrap();
    let response = router.chat(&request()).await.unwrap();
    assert_eq!(
        response.model, "mid/cheaper",
        "tiny/cheap cannot hold prompt + max_tokens"
    );

    // Nothing left to spend and no free model: nothing is sent.
    router.set_spendable_usd(Some(0.0));
    let before = sim.chat_requests().len();
    let error = router.chat(&request()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AllTargetsFailed);
    assert_eq!(sim.chat_requests().len(), before);
}

#[tokio::test]
async fn from_settings_reads_strategy_targets_and_the_agent_map() {
    let sim = simulator(vec![
        ModelConfig::new("openai/gpt-4o-mini"),
        ModelConfig::new("google/gemini-2.5-flash:free"),
        ModelConfig::new("anthropic/claude-3-opus"),
    ])
    .await;
    let env = MapEnv::from_iter([
        ("LLM_ROUTING_STRATEGY", "loadbalance"),
        (
            "LLM_ROUTING_TARGETS",
            r#"[{"provider":"openrouter","model":"openai/gpt-4o-mini","weight":70},
                {"provider":"openrouter","model":"google/gemini-2.5-flash:free","weight":30}]"#,
        ),
        (
            "AGENT_MODEL_MAP",
            r#"{"researcher":"anthropic/claude-3-opus"}"#,
        ),
    ]);
    let settings = Settings::load(&env).unwrap().settings;
    let providers = BTreeMap::from([("openrouter".to_owned(), openrouter(&sim))]);
    let router = Router::from_settings(&settings, &providers).unwrap();
    assert_eq!(router.strategy_name(), "loadbalance");
    assert_eq!(router.targets().len(), 2);
    assert_eq!(router.targets()[0].weight_value(), 70.0);

    let response = router
        .chat(&request().agent_type("researcher"))
        .await
        .unwrap();
    assert_eq!(response.model, "anthropic/claude-3-opus");
    assert_eq!(
        response.metadata.attempts[0].model,
        "anthropic/claude-3-opus"
    );

    // Without LLM_ROUTING_TARGETS: the default model, then the free fallbacks.
    let env = MapEnv::from_iter([
        ("OPENROUTER_DEFAULT_MODEL", "openai/gpt-4o-mini"),
        ("OPENROUTER_FREE_FALLBACKS", "google/gemini-2.5-flash:free"),
    ]);
    let settings = Settings::load(&env).unwrap().settings;
    let router = Router::from_settings(&settings, &providers).unwrap();
    let models: Vec<&str> = router.targets().iter().map(Target::model).collect();
    assert_eq!(
        models,
        ["openai/gpt-4o-mini", "google/gemini-2.5-flash:free"]
    );
    assert_eq!(router.strategy_name(), "fallback");

    let unknown = BTreeMap::new();
    let error = Router::from_settings(&settings, &unknown).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
}
