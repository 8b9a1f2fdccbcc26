//! Integration tests of the simulator, through a plain reqwest client.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers may panic"
)]

mod api;
mod chat;
mod control;
mod fallback;
mod faults;
mod quota;
mod scenario;

use orchestra_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

pub(crate) const KEY: &str = "sk-or-v1-test";

pub(crate) async fn start(config: SimConfig) -> Simulator {
    Simulator::start(config).await.unwrap()
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

pub(crate) fn body(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

pub(crate) async fn post(sim: &Simulator, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/chat/completions", sim.base_url()))
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn post_json(sim: &Simulator, body: &Value) -> (u16, Value) {
    let resp = post(sim, body).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

pub(crate) async fn get(sim: &Simulator, path: &str) -> (u16, Value) {
    let resp = client()
        .get(format!("{}{path}", sim.base_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// `data:` payloads of an SSE body (comments skipped), `[DONE]` included as a string.
pub(crate) fn sse_events(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|block| {
            block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_owned)
        })
        .collect()
}
