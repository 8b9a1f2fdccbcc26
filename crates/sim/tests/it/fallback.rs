//! OpenRouter's `models` fallback semantics.

use orchestra_sim::{Fault, ModelConfig, SimConfig};
use serde_json::json;

use crate::{post_json, start};

fn config() -> SimConfig {
    SimConfig::builder()
        .model(ModelConfig::new("paid/primary").price("0.00001", "0.00002"))
        .model(ModelConfig::new("free/a:free"))
        .model(ModelConfig::new("free/b:free"))
        .build()
        .unwrap()
}

#[tokio::test]
async fn model_first_then_models_in_order() {
    let sim = start(config()).await;
    sim.push_faults(
        "paid/primary",
        [orchestra_sim::ScriptStep::fault(Fault::status(503), 1)],
    )
    .unwrap();
    sim.push_faults(
        "free/a:free",
        [orchestra_sim::ScriptStep::fault(Fault::status(429), 1)],
    )
    .unwrap();
    let req = json!({"model": "paid/primary", "models": ["free/a:free", "free/b:free"],
                     "messages": [{"role": "user", "content": "hi"}]});
    let (status, v) = post_json(&sim, &req).await;
    assert_eq!(status, 200);
    assert_eq!(v["model"], "free/b:free");
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with("free/b:free")
    );
    let rec = &sim.chat_requests()[0];
    assert_eq!(rec.served.as_deref(), Some("free/b:free"));
    let tried: Vec<(&str, u16)> = rec
        .attempts
        .iter()
        .map(|a| (a.model.as_str(), a.status))
        .collect();
    assert_eq!(
        tried,
        [
            ("paid/primary", 503),
            ("free/a:free", 429),
            ("free/b:free", 200)
        ]
    );
    assert_eq!(sim.model_stats("free/a:free").rate_limited, 1);
    assert_eq!(sim.model_stats("paid/primary").errors, 1);

    // Next request: faults used up, the primary answers.
    let (_, v) = post_json(&sim, &req).await;
    assert_eq!(v["model"], "paid/primary");
}

#[tokio::test]
async fn unknown_models_fall_through_and_last_error_is_returned() {
    let sim = start(config()).await;
    let req = json!({"model": "nope/x", "models": ["free/a:free"],
                     "messages": [{"role": "user", "content": "hi"}]});
    let (status, v) = post_json(&sim, &req).await;
    assert_eq!(status, 200);
    assert_eq!(v["model"], "free/a:free");

    sim.push_faults(
        "free/a:free",
        [orchestra_sim::ScriptStep::fault(Fault::status(502), 1)],
    )
    .unwrap();
    let (status, v) = post_json(&sim, &req).await;
    assert_eq!(status, 502);
    assert_eq!(v["error"]["code"], 502);
}

#[tokio::test]
async fn models_without_model_and_more_than_three_is_400() {
    let sim = start(config()).await;
    let req = json!({"models": ["free/a:free", "free/b:free"],
                     "messages": [{"role": "user", "content": "hi"}]});
    let (status, v) = post_json(&sim, &req).await;
    assert_eq!(status, 200);
    assert_eq!(v["model"], "free/a:free");

    let req = json!({"model": "paid/primary",
                     "models": ["free/a:free", "free/b:free", "free/a:free", "free/b:free"],
                     "messages": [{"role": "user", "content": "hi"}]});
    let (status, v) = post_json(&sim, &req).await;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"]["message"],
        "'models' array must have 3 items or fewer."
    );
    // Three is fine.
    let req = json!({"model": "paid/primary",
                     "models": ["free/a:free", "free/b:free", "free/a:free"],
                     "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(post_json(&sim, &req).await.0, 200);
}

#[tokio::test]
async fn streaming_falls_back_before_the_first_token() {
    let sim = start(config()).await;
    sim.push_faults(
        "paid/primary",
        [orchestra_sim::ScriptStep::fault(Fault::status(429), 1)],
    )
    .unwrap();
    let req = json!({"model": "paid/primary", "models": ["free/a:free"], "stream": true,
                     "messages": [{"role": "user", "content": "hi"}]});
    let text = crate::post(&sim, &req).await.text().await.unwrap();
    let events = crate::sse_events(&text);
    let first: serde_json::Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(first["model"], "free/a:free");
    assert!(sim.chat_requests()[0].stream);
}
