//! Auth, `/models`, `/key`, `/credits`, `/generation`.

use orchestra_sim::{ModelConfig, SimConfig};
use serde_json::Value;

use crate::{KEY, body, client, get, post, post_json, start};

#[tokio::test]
async fn any_key_is_accepted_without_configured_key_but_one_is_required() {
    let sim = start(SimConfig::default()).await;
    let (status, _) = post_json(&sim, &body("openai/gpt-4o", "x")).await;
    assert_eq!(status, 200);
    let resp = client()
        .post(format!("{}/chat/completions", sim.base_url()))
        .json(&body("openai/gpt-4o", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 401);
    assert!(v["error"]["message"].is_string());
}

#[tokio::test]
async fn configured_key_is_enforced_everywhere() {
    let sim = start(
        SimConfig::builder()
            .default_models()
            .api_key(KEY)
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(post(&sim, &body("openai/gpt-4o", "x")).await.status(), 200);
    for path in [
        "/chat/completions",
        "/models",
        "/key",
        "/credits",
        "/generation?id=x",
    ] {
        let resp = client()
            .get(format!("{}{path}", sim.base_url()))
            .bearer_auth("sk-wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{path}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], 401);
    }
    assert_eq!(sim.stats().unauthorized, 5);
}

#[tokio::test]
async fn models_lists_prices_as_strings() {
    let sim = start(SimConfig::default()).await;
    let (status, v) = get(&sim, "/models").await;
    assert_eq!(status, 200);
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), SimConfig::default().models.len());
    let free = data
        .iter()
        .find(|m| m["id"] == "google/gemini-2.5-flash:free")
        .unwrap();
    assert_eq!(free["pricing"]["prompt"], "0");
    assert_eq!(free["pricing"]["completion"], "0");
    let opus = data
        .iter()
        .find(|m| m["id"] == "anthropic/claude-3-opus-20k")
        .unwrap();
    assert_eq!(opus["pricing"]["prompt"], "0.000015");
    assert_eq!(opus["pricing"]["completion"], "0.000075");
    for field in [
        "canonical_slug",
        "name",
        "created",
        "context_length",
        "architecture",
        "top_provider",
        "per_request_limits",
        "supported_parameters",
        "default_parameters",
        "links",
    ] {
        assert!(opus.get(field).is_some(), "missing {field}");
    }
    assert_eq!(opus["context_length"], 128_000);

    // A model added at run time shows up.
    sim.set_model(ModelConfig::new("new/model").price("0.000001", "0.000002"))
        .unwrap();
    let (_, v) = get(&sim, "/models").await;
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "new/model")
    );
}

#[tokio::test]
async fn key_and_credits_track_usage() {
    let sim = start(
        SimConfig::builder()
            .default_models()
            .credits(25.0)
            .build()
            .unwrap(),
    )
    .await;
    let (_, v) = post_json(&sim, &body("anthropic/claude-3-opus-20k", "spend")).await;
    let cost = v["usage"]["cost"].as_f64().unwrap();
    assert!(cost > 0.0);
    let (status, credits) = get(&sim, "/credits").await;
    assert_eq!(status, 200);
    assert_eq!(credits["data"]["total_credits"], 25.0);
    assert!((credits["data"]["total_usage"].as_f64().unwrap() - cost).abs() < 1e-12);
    let (status, key) = get(&sim, "/key").await;
    assert_eq!(status, 200);
    assert_eq!(key["data"]["limit"], 25.0);
    assert!((key["data"]["limit_remaining"].as_f64().unwrap() - (25.0 - cost)).abs() < 1e-9);
    assert_eq!(key["data"]["is_free_tier"], false);
    let (status, _) = get(&sim, "/auth/key").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn generation_stats_of_past_answers() {
    let sim = start(SimConfig::default()).await;
    let (_, v) = post_json(&sim, &body("openai/gpt-4o", "remember me")).await;
    let id = v["id"].as_str().unwrap();
    let (status, g) = get(&sim, &format!("/generation?id={id}")).await;
    assert_eq!(status, 200);
    assert_eq!(g["data"]["id"], id);
    assert_eq!(g["data"]["model"], "openai/gpt-4o");
    assert_eq!(g["data"]["tokens_completion"], 16);
    assert_eq!(g["data"]["total_cost"], v["usage"]["cost"]);
    assert_eq!(g["data"]["streamed"], false);
    assert!(sim.generation(id).is_some());
    let (status, e) = get(&sim, "/generation?id=gen-unknown").await;
    assert_eq!(status, 404);
    assert_eq!(e["error"]["code"], 404);
}

#[tokio::test]
async fn request_log_and_counters() {
    let sim = start(SimConfig::default()).await;
    post_json(&sim, &body("openai/gpt-4o", "x")).await;
    get(&sim, "/models").await;
    let log = sim.requests();
    assert_eq!(log.len(), 2);
    let chat = &log[0];
    assert_eq!(chat.path, "/api/v1/chat/completions");
    assert_eq!(chat.requested, vec!["openai/gpt-4o".to_owned()]);
    assert_eq!(chat.served.as_deref(), Some("openai/gpt-4o"));
    assert_eq!(chat.status, 200);
    assert!(!chat.stream);
    assert_eq!(chat.fault, None);
    assert_eq!(log[1].path, "/api/v1/models");
    let stats = sim.stats();
    assert_eq!(stats.http_requests, 2);
    assert_eq!(stats.chat_requests, 1);
    let m = stats.model("openai/gpt-4o");
    assert_eq!((m.requests, m.successes, m.completion_tokens), (1, 1, 16));
    sim.reset_counters();
    assert!(sim.requests().is_empty());
    assert_eq!(sim.model_stats("openai/gpt-4o").requests, 0);
}
