//! Every fault kind, scripted and random.

use std::time::{Duration, Instant};

use orchestra_sim::{Fault, ModelConfig, ScriptStep, SimConfig, Simulator};
use serde_json::{Value, json};

use crate::{KEY, body, client, post, sse_events, start};

const M: &str = "test/model";

async fn sim_with(fault: Fault) -> Simulator {
    let model = ModelConfig::new(M)
        .completion_tokens(6)
        .then_fault(fault, 1);
    start(SimConfig::builder().model(model).build().unwrap()).await
}

fn stream_body() -> Value {
    let mut b = body(M, "x");
    b["stream"] = json!(true);
    b
}

#[tokio::test]
async fn scripted_statuses_then_ok() {
    let config = SimConfig::from_toml_str(
        r#"
        [[models]]
        id = "test/model"
        script = ["429 x2", "503 retry_after=7", "ok", { fault = { kind = "status", status = 524 }, times = 1 }]
        "#,
    )
    .unwrap();
    let sim = start(config).await;
    let mut got = Vec::new();
    for _ in 0..6 {
        let resp = post(&sim, &body(M, "x")).await;
        let retry = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap();
        if status != 200 {
            assert_eq!(v["error"]["code"], status);
            assert!(v.get("choices").is_none());
        }
        got.push((status, retry));
    }
    let statuses: Vec<u16> = got.iter().map(|g| g.0).collect();
    assert_eq!(statuses, [429, 429, 503, 200, 524, 200]);
    assert_eq!(got[2].1.as_deref(), Some("7"));
    let s = sim.model_stats(M);
    assert_eq!(
        (s.rate_limited, s.errors, s.successes, s.faults),
        (2, 2, 2, 4)
    );
    assert_eq!(sim.chat_requests()[0].fault.as_deref(), Some("status_429"));
}

#[tokio::test]
async fn random_faults_follow_their_probability() {
    let model = ModelConfig::new(M).random_fault(1.0, Fault::status(500));
    let sim = start(SimConfig::builder().model(model).build().unwrap()).await;
    for _ in 0..3 {
        assert_eq!(post(&sim, &body(M, "x")).await.status(), 500);
    }
    sim.set_random_faults(M, vec![]).unwrap();
    assert_eq!(post(&sim, &body(M, "x")).await.status(), 200);
}

#[tokio::test]
async fn hang_never_answers() {
    let sim = sim_with(Fault::Hang).await;
    let err = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap()
        .post(format!("{}/chat/completions", sim.base_url()))
        .bearer_auth(KEY)
        .json(&body(M, "x"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    let rec = &sim.chat_requests()[0];
    assert_eq!((rec.status, rec.fault.as_deref()), (0, Some("hang")));
    sim.shutdown().await;
}

#[tokio::test]
async fn reset_aborts_the_connection() {
    let sim = sim_with(Fault::Reset).await;
    let err = client()
        .post(format!("{}/chat/completions", sim.base_url()))
        .bearer_auth(KEY)
        .json(&body(M, "x"))
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "{err:?}");
    // The next request on a new connection works.
    assert_eq!(post(&sim, &body(M, "x")).await.status(), 200);
}

#[tokio::test]
async fn reset_mid_body_breaks_json_and_stream_bodies() {
    let sim = sim_with(Fault::ResetMidBody { after: 2 }).await;
    let resp = post(&sim, &body(M, "x")).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.is_err());

    sim.push_faults(M, [ScriptStep::fault(Fault::ResetMidBody { after: 2 }, 1)])
        .unwrap();
    let resp = post(&sim, &stream_body()).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.is_err());
}

#[tokio::test]
async fn malformed_body() {
    let sim = sim_with(Fault::Malformed).await;
    let resp = post(&sim, &body(M, "x")).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err());

    sim.push_faults(M, [ScriptStep::fault(Fault::Malformed, 1)])
        .unwrap();
    let text = post(&sim, &stream_body()).await.text().await.unwrap();
    let events = sse_events(&text);
    assert!(
        events
            .iter()
            .any(|e| e != "[DONE]" && serde_json::from_str::<Value>(e).is_err())
    );
}

#[tokio::test]
async fn error_in_200_has_no_choices() {
    let sim = sim_with(Fault::ErrorIn200 {
        code: 502,
        message: None,
    })
    .await;
    let resp = post(&sim, &body(M, "x")).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 502);
    assert!(v.get("choices").is_none());

    sim.push_faults(
        M,
        [ScriptStep::fault(
            Fault::ErrorIn200 {
                code: 429,
                message: None,
            },
            1,
        )],
    )
    .unwrap();
    let text = post(&sim, &stream_body()).await.text().await.unwrap();
    let events = sse_events(&text);
    let e: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(e["error"]["code"], 429);
    assert!(e.get("choices").is_none());
    assert!(!events.contains(&"[DONE]".to_owned()));
}

#[tokio::test]
async fn stream_cut_without_done_or_finish_reason() {
    let sim = sim_with(Fault::StreamCut { after: 3 }).await;
    let text = post(&sim, &stream_body()).await.text().await.unwrap();
    let events = sse_events(&text);
    assert!(!events.contains(&"[DONE]".to_owned()));
    let chunks: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(chunks.len(), 4); // role chunk + 3 tokens
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null() && c.get("usage").is_none())
    );

    // JSON: the body is shorter than announced.
    sim.push_faults(M, [ScriptStep::fault(Fault::StreamCut { after: 3 }, 1)])
        .unwrap();
    assert!(post(&sim, &body(M, "x")).await.bytes().await.is_err());
}

#[tokio::test]
async fn mid_stream_error_event() {
    let fault = Fault::StreamError {
        after: 2,
        code: 429,
        message: Some("Rate limit exceeded".into()),
    };
    let sim = sim_with(fault.clone()).await;
    let text = post(&sim, &stream_body()).await.text().await.unwrap();
    let events = sse_events(&text);
    assert!(!events.contains(&"[DONE]".to_owned()));
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], 429);
    assert_eq!(last["error"]["message"], "Rate limit exceeded");
    assert_eq!(last["choices"][0]["finish_reason"], "error");
    assert_eq!(last["choices"][0]["delta"]["content"], "");

    sim.push_faults(M, [ScriptStep::fault(fault, 1)]).unwrap();
    let resp = post(&sim, &body(M, "x")).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "error");
    assert_eq!(v["choices"][0]["error"]["code"], 429);
    let partial = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(partial.starts_with(M));
    assert_eq!(partial.split(' ').count(), 2); // model id + digest: the first 2 tokens
}

#[tokio::test]
async fn stall_pauses_mid_stream() {
    let sim = sim_with(Fault::Stall { after: 1, ms: 150 }).await;
    let t = Instant::now();
    let text = post(&sim, &stream_body()).await.text().await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert_eq!(sse_events(&text).last().unwrap(), "[DONE]");
    assert_eq!(sim.model_stats(M).successes, 1);
}

#[tokio::test]
async fn oversized_answer() {
    let sim = sim_with(Fault::Oversized { bytes: 1_000_000 }).await;
    let text = post(&sim, &body(M, "x")).await.text().await.unwrap();
    assert!(text.len() > 1_000_000);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .len()
            > 1_000_000
    );
}

#[tokio::test]
async fn slow_fault_delays_the_answer() {
    let sim = sim_with(Fault::Slow { ms: 120 }).await;
    let t = Instant::now();
    assert_eq!(post(&sim, &body(M, "x")).await.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(120));
}
