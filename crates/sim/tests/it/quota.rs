//! Quotas on simulated time, and credits (402).

use std::time::Duration;

use orchestra_sim::{Fault, Latency, MANUAL_CLOCK_START_MS, ModelConfig, SimConfig};
use serde_json::{Value, json};

use crate::{body, post, post_json, start};

fn manual(model: ModelConfig) -> SimConfig {
    SimConfig::builder()
        .manual_clock()
        .model(model)
        .build()
        .unwrap()
}

#[tokio::test]
async fn per_minute_quota_with_headers_and_manual_clock() {
    let sim = start(manual(ModelConfig::new("g/free:free").rpm(3))).await;
    let req = body("g/free:free", "x");
    for _ in 0..3 {
        assert_eq!(post(&sim, &req).await.status(), 200);
    }
    sim.advance(Duration::from_secs(15));
    let resp = post(&sim, &req).await;
    assert_eq!(resp.status(), 429);
    let h = resp.headers().clone();
    let reset = MANUAL_CLOCK_START_MS + 60_000;
    assert_eq!(h["retry-after"], "45");
    assert_eq!(h["x-ratelimit-limit"], "3");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["x-ratelimit-reset"], reset.to_string().as_str());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 429);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("free-models-per-min")
    );
    let copy = &v["error"]["metadata"]["headers"];
    assert_eq!(copy["X-RateLimit-Limit"], "3");
    assert_eq!(copy["X-RateLimit-Remaining"], "0");
    assert_eq!(copy["X-RateLimit-Reset"], reset.to_string().as_str());
    assert_eq!(sim.model_stats("g/free:free").rate_limited, 1);
    assert_eq!(
        sim.chat_requests()[3].fault.as_deref(),
        Some("quota_minute")
    );

    sim.advance(Duration::from_secs(45));
    assert_eq!(post(&sim, &req).await.status(), 200);
}

#[tokio::test]
async fn per_day_quota_resets_at_simulated_midnight() {
    let sim = start(manual(ModelConfig::new("g/free:free").rpm(20).rpd(2))).await;
    let req = body("g/free:free", "x");
    assert_eq!(post(&sim, &req).await.status(), 200);
    assert_eq!(post(&sim, &req).await.status(), 200);
    sim.advance(Duration::from_secs(3600));
    let resp = post(&sim, &req).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(
        resp.headers()["retry-after"],
        (23 * 3600).to_string().as_str()
    );
    assert_eq!(
        resp.headers()["x-ratelimit-reset"],
        (MANUAL_CLOCK_START_MS + 86_400_000).to_string().as_str()
    );
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("free-models-per-day")
    );
    sim.advance(Duration::from_secs(23 * 3600));
    assert_eq!(post(&sim, &req).await.status(), 200);
}

#[tokio::test]
async fn failed_requests_count_toward_the_quota() {
    let model = ModelConfig::new("g/free:free")
        .rpd(2)
        .then_fault(Fault::status(500), 1);
    let sim = start(manual(model)).await;
    let req = body("g/free:free", "x");
    assert_eq!(post(&sim, &req).await.status(), 500);
    assert_eq!(post(&sim, &req).await.status(), 200);
    assert_eq!(post(&sim, &req).await.status(), 429);
}

#[tokio::test]
async fn time_scale_shortens_retry_after() {
    // One simulated minute per real second: a minute window resets within 1 real second.
    let config = SimConfig::builder()
        .time_scale(60.0)
        .model(
            ModelConfig::new("p/paid")
                .price("0.000001", "0.000001")
                .rpm(1),
        )
        .build()
        .unwrap();
    let sim = start(config).await;
    let req = body("p/paid", "x");
    let mut limited = None;
    for _ in 0..3 {
        let resp = post(&sim, &req).await;
        if resp.status() == 429 {
            limited = Some(resp);
            break;
        }
    }
    let resp = limited.expect("a 429 within 3 requests");
    assert_eq!(resp.headers()["retry-after"], "1");
    let reset: u64 = resp.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > sim.now_epoch_ms() - 1000 && reset.is_multiple_of(60_000));
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit_rpm/p/paid")
    );
}

#[tokio::test]
async fn credits_pre_check_names_affordable_tokens() {
    let config = SimConfig::builder()
        .default_models()
        .credits(0.01)
        .build()
        .unwrap();
    let sim = start(config).await;
    // "hi": 5 prompt tokens at 0.000015 = 0.000075; (0.01 - 0.000075) / 0.000075 = 132.3
    let (status, v) = post_json(&sim, &body("anthropic/claude-3-opus-20k", "hi")).await;
    assert_eq!(status, 402);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("You requested up to 4096 tokens, but can only afford 132"),
        "{msg}"
    );
    let mut b = body("anthropic/claude-3-opus-20k", "hi");
    b["max_tokens"] = json!(100);
    let (status, v) = post_json(&sim, &b).await;
    assert_eq!(status, 200);
    let cost = v["usage"]["cost"].as_f64().unwrap();
    assert!((sim.credits().usage - cost).abs() < 1e-12);

    // An unaffordable primary falls back to a free model.
    let req = json!({"model": "anthropic/claude-3-opus-20k", "models": ["mistralai/mixtral-8x7b:free"],
                     "messages": [{"role": "user", "content": "hi"}]});
    let (status, v) = post_json(&sim, &req).await;
    assert_eq!(status, 200);
    assert_eq!(v["model"], "mistralai/mixtral-8x7b:free");
}

#[tokio::test]
async fn empty_balance_blocks_even_free_models() {
    let sim = start(SimConfig::default()).await;
    sim.set_credits(Some(1.0));
    sim.set_usage(1.0);
    let (status, v) = post_json(&sim, &body("google/gemini-2.5-flash:free", "x")).await;
    assert_eq!(status, 402);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Insufficient credits")
    );
    sim.set_credits(None);
    let (status, _) = post_json(&sim, &body("google/gemini-2.5-flash:free", "x")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn origin_scenario_primary_rate_limited_then_free_fallbacks() {
    let mut config = SimConfig::from_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/openrouter-free-fallback.toml"
    ))
    .unwrap();
    // Exact counts: no time passes, no latency, no random faults.
    config.manual_clock = true;
    for m in &mut config.models {
        m.latency = Latency::ZERO;
        m.random.clear();
    }
    let sim = start(config).await;
    let req = json!({"model": "anthropic/claude-3-opus-20k",
                     "models": ["google/gemini-2.5-flash:free", "mistralai/mixtral-8x7b:free"],
                     "max_tokens": 256,
                     "messages": [{"role": "user", "content": "hi"}]});
    let mut served = Vec::new();
    for _ in 0..45 {
        let resp = post(&sim, &req).await;
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap();
        served.push((status, v["model"].as_str().unwrap_or("").to_owned()));
    }
    let count = |m: &str| served.iter().filter(|(s, x)| *s == 200 && x == m).count();
    // The primary allows 5 per minute, each free model 20.
    assert_eq!(count("anthropic/claude-3-opus-20k"), 5);
    assert_eq!(count("google/gemini-2.5-flash:free"), 20);
    assert_eq!(count("mistralai/mixtral-8x7b:free"), 20);
    let resp = post(&sim, &req).await;
    assert_eq!(resp.status(), 429);
    // The free models' daily quota (50) is hit next, after a simulated minute.
    sim.advance(Duration::from_secs(60));
    assert_eq!(
        post_json(&sim, &req).await.1["model"],
        "anthropic/claude-3-opus-20k"
    );
}
