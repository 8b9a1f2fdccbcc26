//! `models()`, `credits()`, `generation()`.

use orchestra_core::{ErrorKind, Provider};
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path, query_param},
};

use crate::support::{KEY, client};

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
