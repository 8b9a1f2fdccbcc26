//! `models()`, `credits()`, `generation()`.

use std::time::Duration;

use orchestra_core::{ErrorKind, Provider};
use orchestra_provider_openrouter::{FreeModelQuota, QuotaBasis};
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path, query_param},
};

use crate::support::{KEY, builder, client};

async fn on_get(server: &MockServer, at: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/{at}")))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(response)
        .mount(server)
        .await;
}

#[tokio::test]
async fn models_parse_prices_leniently() {
    let server = MockServer::start().await;
    on_get(
        &server,
        "models",
        ResponseTemplate::new(200).set_body_json(json!({"data": [
            {"id": "openai/gpt-4", "canonical_slug": "openai/gpt-4", "name": "GPT-4", "created": 1_692_901_234,
             "context_length": 8192,
             "pricing": {"prompt": "0.00003", "completion": "0.00006", "request": "0", "image": "0"},
             "top_provider": {"context_length": 8192, "max_completion_tokens": 4096, "is_moderated": true}},
            {"id": "openrouter/auto", "name": "Auto Router", "context_length": 2_000_000,
             "pricing": {"prompt": "-1", "completion": "-1"}},
            {"id": "google/gemini-2.5-flash:free", "pricing": {"prompt": "0", "completion": "0"},
             "context_length": null, "top_provider": {"context_length": 1_048_576, "max_completion_tokens": null}},
            {"id": "numbers/as-numbers", "pricing": {"prompt": 0.000001, "completion": 0.000002, "request": 0.01}},
            {"id": "broken/pricing", "pricing": {"prompt": "abc"}},
            {"name": "no id, skipped"},
            "not an object"
        ], "total_count": 7})),
    )
    .await;
    let models = client(&server).models().await.unwrap();
    assert_eq!(models.len(), 5);
    assert!(models[2].is_free());
    insta::assert_json_snapshot!("models", models);

    // Exact decimals: 3 × 0.00003 is 0.00009, where f64 gives 0.00009000000000000001.
    let gpt4 = models[0].pricing.unwrap();
    assert_eq!(gpt4.prompt.to_string(), "0.00003");
    assert_eq!(gpt4.estimate(3, 0).to_string(), "0.00009");
    assert_eq!(models[3].pricing.unwrap().request.to_string(), "0.01");
    assert_eq!(
        models[1].pricing, None,
        "\"-1\" means variable, not a price"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn models_are_cached_for_the_configured_time_and_fetched_once_under_contention() {
    let server = MockServer::start().await;
    on_get(
        &server,
        "models",
        ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": "a/b"}]})),
    )
    .await;
    let client = builder(&server)
        .models_cache_ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    let fetches = || async { server.received_requests().await.unwrap().len() };

    let concurrent = futures_util::future::join_all((0..8).map(|_| client.models())).await;
    assert!(
        concurrent
            .iter()
            .all(|models| models.as_ref().unwrap()[0].id == "a/b")
    );
    assert_eq!(
        fetches().await,
        1,
        "eight concurrent callers share one fetch"
    );
    client.models().await.unwrap();
    assert_eq!(fetches().await, 1, "fresh: answered from memory");

    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(61)).await;
    tokio::time::resume();
    client.models().await.unwrap();
    assert_eq!(fetches().await, 2, "expired: fetched again");
    client.refresh_models().await.unwrap();
    assert_eq!(fetches().await, 3, "refresh always fetches");

    let uncached = builder(&server)
        .models_cache_ttl(Duration::ZERO)
        .build()
        .unwrap();
    uncached.models().await.unwrap();
    uncached.models().await.unwrap();
    assert_eq!(fetches().await, 5, "a zero time to live disables the cache");
}

#[tokio::test]
async fn credits_combine_account_and_key() {
    let server = MockServer::start().await;
    on_get(
        &server,
        "credits",
        ResponseTemplate::new(200)
            .set_body_json(json!({"data": {"total_credits": 100.5, "total_usage": 25.75}})),
    )
    .await;
    on_get(
        &server,
        "key",
        ResponseTemplate::new(200).set_body_json(json!({"data": {
            "label": "sk-or-v1-au7...890", "limit": 100, "limit_remaining": 74.5, "limit_reset": "monthly",
            "usage": 25.5, "usage_daily": 25.5, "is_free_tier": false, "is_management_key": false,
            "rate_limit": {"requests": -1, "interval": "10s"}}})),
    )
    .await;
    let credits = client(&server).credits().await.unwrap();
    assert_eq!(credits.balance(), Some(74.75));
    insta::assert_json_snapshot!("credits_full", credits);

    let report = client(&server).monitor_credits().await.unwrap();
    assert_eq!(report.balance(), Some(74.75));
    assert_eq!(
        report.spendable(),
        Some(74.5),
        "the key's cap is tighter than the balance"
    );
    assert_eq!(
        report.free_models.requests_per_day, 1000,
        "100.5 USD bought"
    );
    assert_eq!(report.account_unavailable, None);
    insta::assert_json_snapshot!("credit_report_full", report);
}

#[tokio::test]
async fn credits_degrade_on_403_and_fall_back_to_auth_key() {
    let server = MockServer::start().await;
    on_get(
        &server,
        "credits",
        ResponseTemplate::new(403).set_body_json(json!({"error": {"code": 403, "message": "Only management keys can perform this operation"}})),
    )
    .await;
    on_get(
        &server,
        "key",
        ResponseTemplate::new(404).set_body_string("Not Found"),
    )
    .await;
    on_get(
        &server,
        "auth/key",
        ResponseTemplate::new(200).set_body_json(
            json!({"data": {"label": "x", "limit": null, "usage": 1.25, "is_free_tier": true}}),
        ),
    )
    .await;
    let credits = client(&server).credits().await.unwrap();
    assert_eq!(credits.total_credits, None);
    assert_eq!(credits.key_limit, None);
    assert_eq!(credits.key_usage, Some(1.25));
    assert_eq!(credits.is_free_tier, Some(true));
    assert_eq!(credits.provider, "openrouter");

    let report = client(&server).monitor_credits().await.unwrap();
    assert!(
        report
            .account_unavailable
            .as_deref()
            .unwrap()
            .contains("management key"),
        "{report:?}"
    );
    assert_eq!(report.spendable(), None, "no cap and no balance: unknown");
    assert_eq!(
        report.free_models,
        FreeModelQuota::from_account(None, Some(true))
    );
    assert_eq!(report.free_models.basis, QuotaBasis::FreeTier);
    assert_eq!(
        (
            report.free_models.requests_per_minute,
            report.free_models.requests_per_day
        ),
        (20, 50)
    );
    let key = client(&server).key_info().await.unwrap();
    assert_eq!(key.usage, Some(1.25));
    assert_eq!(key.label.as_deref(), Some("x"));
}

#[tokio::test]
async fn credits_fail_when_both_endpoints_fail() {
    let server = MockServer::start().await;
    for at in ["credits", "key"] {
        on_get(
            &server,
            at,
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": {"code": 401, "message": "User not found."}})),
        )
        .await;
    }
    let error = client(&server).credits().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Auth);
}

#[tokio::test]
async fn generation_is_typed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/generation"))
        .and(query_param("id", "gen-1 2&x"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "id": "gen-1 2&x", "upstream_id": "chatcmpl-1", "total_cost": 0.0015, "usage": 0.0015,
            "cache_discount": null, "created_at": "2026-01-01T00:00:00Z", "model": "openai/gpt-4o",
            "provider_name": "OpenAI", "streamed": true, "cancelled": false, "latency": 812,
            "generation_time": 640.5, "finish_reason": "stop", "native_finish_reason": "stop",
            "tokens_prompt": 10, "tokens_completion": 20, "native_tokens_prompt": 11,
            "native_tokens_completion": 21, "native_tokens_reasoning": 0, "is_byok": false,
            "provider_responses": [{"provider": "OpenAI", "status": 200}], "router": null, "api_type": "completions"}})))
        .mount(&server)
        .await;
    let generation = client(&server).generation("gen-1 2&x").await.unwrap();
    assert_eq!(generation.model.as_deref(), Some("openai/gpt-4o"));
    assert_eq!(generation.total_cost, Some(0.0015));
    assert_eq!(generation.tokens_completion, Some(20));
    assert_eq!(generation.latency, Some(812.0));
    assert_eq!(
        generation.provider_responses.as_ref().map(Vec::len),
        Some(1)
    );
    assert_eq!(generation.extra["api_type"], "completions");

    // Stats not ready yet: 404.
    let error = client(&server).generation("gen-unknown").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ModelNotFound);
}
