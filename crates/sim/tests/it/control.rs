//! Run-time control: in-process handle and the HTTP control API.

use std::time::Duration;

use orchestra_sim::{Fault, ModelConfig, ScriptStep, SimConfig};
use serde_json::{Value, json};

use crate::{KEY, body, client, post, post_json, start};

#[tokio::test]
async fn handle_replaces_behaviour_and_keeps_counters() {
    let sim = start(
        SimConfig::builder()
            .manual_clock()
            .model(ModelConfig::new("a/b"))
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(post(&sim, &body("a/b", "x")).await.status(), 200);
    sim.set_model(
        ModelConfig::new("a/b")
            .completion_tokens(3)
            .then_fault(Fault::status(529), 1),
    )
    .unwrap();
    assert_eq!(post(&sim, &body("a/b", "x")).await.status(), 529);
    let (_, v) = post_json(&sim, &body("a/b", "x")).await;
    assert_eq!(v["usage"]["completion_tokens"], 3);
    assert_eq!(sim.model_stats("a/b").requests, 3);
    assert!(sim.push_faults("zz/unknown", [ScriptStep::ok(1)]).is_err());
    assert!(
        sim.set_model(ModelConfig::new("x/y:free").price("1", "1"))
            .is_err()
    );
    assert!(sim.remove_model("a/b"));
    assert_eq!(post(&sim, &body("a/b", "x")).await.status(), 400);
}

async fn control(
    sim: &orchestra_sim::Simulator,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client()
        .request(method, format!("{}/{path}", sim.control_url()))
        .bearer_auth(KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn http_control_api() {
    use reqwest::Method;
    let config = SimConfig::builder()
        .manual_clock()
        .api_key(KEY)
        .default_models()
        .build()
        .unwrap();
    let sim = start(config).await;
    let m = "openai/gpt-4o";

    let (status, _) = control(&sim, Method::GET, "health", None).await;
    assert_eq!(status, 200);
    // Auth applies to the control API too (health excepted).
    let resp = client()
        .get(format!("{}/stats", sim.control_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let (status, _) = control(
        &sim,
        Method::POST,
        "faults",
        Some(json!({"model": m, "script": ["500", "429 x1"]})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, pending) = control(&sim, Method::GET, "faults?model=openai/gpt-4o", None).await;
    assert_eq!(pending.as_array().unwrap().len(), 2);
    assert_eq!(post(&sim, &body(m, "x")).await.status(), 500);
    assert_eq!(post(&sim, &body(m, "x")).await.status(), 429);
    assert_eq!(post(&sim, &body(m, "x")).await.status(), 200);

    let (status, v) = control(
        &sim,
        Method::POST,
        "faults",
        Some(json!({"model": "nope/x", "script": ["500"]})),
    )
    .await;
    assert_eq!(status, 404, "{v}");
    let (status, v) = control(
        &sim,
        Method::POST,
        "faults",
        Some(json!({"model": m, "script": ["teapot"]})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown fault")
    );

    let (status, _) = control(
        &sim,
        Method::PUT,
        "models",
        Some(json!({"id": "new/one:free", "requests_per_minute": 1})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(post(&sim, &body("new/one:free", "x")).await.status(), 200);
    assert_eq!(post(&sim, &body("new/one:free", "x")).await.status(), 429);
    let (_, clock) = control(&sim, Method::POST, "advance", Some(json!({"seconds": 60}))).await;
    assert_eq!(
        clock["now_ms"],
        orchestra_sim::MANUAL_CLOCK_START_MS + 60_000
    );
    assert_eq!(post(&sim, &body("new/one:free", "x")).await.status(), 200);

    let (_, stats) = control(&sim, Method::GET, "stats", None).await;
    assert_eq!(stats["models"][m]["requests"], 3);
    assert_eq!(stats["models"]["new/one:free"]["rate_limited"], 1);
    let (_, log) = control(&sim, Method::GET, "log", None).await;
    assert_eq!(log.as_array().unwrap().len(), 6);

    let (_, credits) = control(&sim, Method::POST, "credits", Some(json!({"credits": 0.0}))).await;
    assert_eq!(credits["total"], 0.0);
    assert_eq!(post(&sim, &body(m, "x")).await.status(), 402);
    let (_, credits) = control(
        &sim,
        Method::POST,
        "credits",
        Some(json!({"credits": null})),
    )
    .await;
    assert!(credits["total"].is_null());

    let (status, _) = control(&sim, Method::POST, "reset", Some(json!({"quotas": true}))).await;
    assert_eq!(status, 200);
    assert_eq!(sim.stats().chat_requests, 0);
    assert!(sim.requests().is_empty());

    let (status, _) = control(&sim, Method::DELETE, "models?id=new/one:free", None).await;
    assert_eq!(status, 200);
    assert!(sim.model("new/one:free").is_none());
    sim.shutdown().await;
    assert!(
        client()
            .get(format!("{}/health", sim.control_url()))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_err()
    );
}
