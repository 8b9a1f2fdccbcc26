//! Chat completions: JSON and SSE formats, usage and cost, deterministic content.

use std::time::{Duration, Instant};

use orchestra_sim::{Latency, ModelConfig, SimConfig};
use serde_json::{Value, json};

use crate::{body, post, post_json, sse_events, start};

#[tokio::test]
async fn json_answer_has_openrouter_shape() {
    let sim = start(SimConfig::default()).await;
    let resp = post(&sim, &body("openai/gpt-4o-mini", "Hello there")).await;
    assert_eq!(resp.status(), 200);
    let gen_header = resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["id"], gen_header.as_str());
    assert!(gen_header.starts_with("gen-"));
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "openai/gpt-4o-mini");
    assert_eq!(v["provider"], "OpenAI");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    let content = choice["message"]["content"].as_str().unwrap();
    assert!(content.starts_with("openai/gpt-4o-mini "), "{content}");
    let usage = &v["usage"];
    assert_eq!(usage["completion_tokens"], 16);
    let prompt = usage["prompt_tokens"].as_u64().unwrap();
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), prompt + 16);
    let expected = prompt as f64 * 0.000_000_15 + 16.0 * 0.000_000_6;
    assert!((usage["cost"].as_f64().unwrap() - expected).abs() < 1e-12);
    assert_eq!(sim.model_stats("openai/gpt-4o-mini").successes, 1);
}

#[tokio::test]
async fn content_is_deterministic_per_model_and_prompt() {
    let sim = start(SimConfig::default()).await;
    let text = |v: Value| {
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (_, a) = post_json(&sim, &body("openai/gpt-4o", "same question")).await;
    let (_, b) = post_json(&sim, &body("openai/gpt-4o", "same question")).await;
    let (_, c) = post_json(&sim, &body("openai/gpt-4o", "other question")).await;
    assert_eq!(text(a.clone()), text(b));
    assert_ne!(text(a), text(c));
}

#[tokio::test]
async fn max_tokens_caps_the_answer_with_length_finish() {
    let sim = start(SimConfig::default()).await;
    let mut b = body("openai/gpt-4o", "hi");
    b["max_tokens"] = json!(3);
    let (status, v) = post_json(&sim, &b).await;
    assert_eq!(status, 200);
    assert_eq!(v["usage"]["completion_tokens"], 3);
    assert_eq!(v["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn stream_has_comments_chunks_usage_and_done() {
    let sim = start(SimConfig::default()).await;
    let mut b = body("anthropic/claude-sonnet-4.5", "stream please");
    b["stream"] = json!(true);
    let resp = post(&sim, &b).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let gen_id = resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let text = resp.text().await.unwrap();
    assert!(text.starts_with(": OPENROUTER PROCESSING\n\n"), "{text}");
    let events = sse_events(&text);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert!(chunks.iter().all(|c| c["id"] == gen_id.as_str()));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[0]["model"], "anthropic/claude-sonnet-4.5");
    assert_eq!(chunks[0]["provider"], "Anthropic");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(content.starts_with("anthropic/claude-sonnet-4.5 "));
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["completion_tokens"], 16);
    assert!(last["usage"]["cost"].as_f64().unwrap() > 0.0);
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    // 1 role chunk + 16 tokens + finish + usage
    assert_eq!(chunks.len(), 19);

    // Streaming and JSON answers carry the same content.
    let (_, v) = post_json(&sim, &body("anthropic/claude-sonnet-4.5", "stream please")).await;
    assert_eq!(v["choices"][0]["message"]["content"], content.as_str());
}

#[tokio::test]
async fn latency_is_applied() {
    let model = ModelConfig::new("slow/model")
        .completion_tokens(4)
        .latency(Latency::new(
            Duration::from_millis(120),
            Duration::from_millis(20),
        ));
    let sim = start(
        SimConfig::builder()
            .model(model)
            .keepalive(Duration::from_millis(50))
            .build()
            .unwrap(),
    )
    .await;
    let t = Instant::now();
    let (status, _) = post_json(&sim, &body("slow/model", "x")).await;
    assert_eq!(status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(180),
        "{:?}",
        t.elapsed()
    );

    let mut b = body("slow/model", "x");
    b["stream"] = json!(true);
    let t = Instant::now();
    let text = post(&sim, &b).await.text().await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(180));
    // Keep-alive comments while waiting for the first token (every 50 ms of 120 ms).
    assert!(
        text.matches(": OPENROUTER PROCESSING").count() >= 3,
        "{text}"
    );
}

#[tokio::test]
async fn openai_compatible_path_serves_chat() {
    let sim = start(SimConfig::default()).await;
    let resp = crate::client()
        .post(format!("{}/chat/completions", sim.openai_base_url()))
        .bearer_auth("anything")
        .json(&body("openai/gpt-4o", "via portkey"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["model"], "openai/gpt-4o");
    assert_eq!(sim.chat_requests()[0].path, "/v1/chat/completions");
}

#[tokio::test]
async fn bad_requests_get_400() {
    let sim = start(SimConfig::default()).await;
    let resp = crate::client()
        .post(format!("{}/chat/completions", sim.base_url()))
        .bearer_auth("k")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (status, v) = post_json(&sim, &json!({"model": "openai/gpt-4o"})).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], 400);
    let (status, v) = post_json(&sim, &body("nobody/nothing", "x")).await;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"]["message"],
        "nobody/nothing is not a valid model ID"
    );
}

#[tokio::test]
async fn unavailable_model_is_404() {
    let sim = start(
        SimConfig::builder()
            .model(ModelConfig::new("gone/model").unavailable())
            .build()
            .unwrap(),
    )
    .await;
    let (status, v) = post_json(&sim, &body("gone/model", "x")).await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["message"], "No endpoints found for gone/model.");
}

/// HTTP/2 with prior knowledge (h2c): the same answers, many streams on one connection.
#[tokio::test]
async fn serves_http2_with_prior_knowledge() {
    let sim = start(SimConfig::default()).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let url = format!("{}/chat/completions", sim.base_url());
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..300 {
        let mut request = body("openai/gpt-4o-mini", &format!("question {i}"));
        let stream = i % 2 == 1;
        if stream {
            request["stream"] = json!(true);
        }
        let sent = client
            .post(&url)
            .bearer_auth(crate::KEY)
            .json(&request)
            .send();
        calls.spawn(async move {
            let response = sent.await.unwrap();
            assert_eq!(response.version(), reqwest::Version::HTTP_2);
            assert_eq!(response.status(), 200);
            (stream, response.text().await.unwrap())
        });
    }
    while let Some(joined) = calls.join_next().await {
        let (stream, text) = joined.unwrap();
        if stream {
            assert_eq!(sse_events(&text).last().map(String::as_str), Some("[DONE]"));
        } else {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["model"], "openai/gpt-4o-mini");
        }
    }
    assert_eq!(sim.model_stats("openai/gpt-4o-mini").successes, 300);
}
