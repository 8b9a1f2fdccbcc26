//! Shared helpers: servers, clients, canned bodies.

use std::time::Duration;

use orchestra_core::Secret;
use orchestra_provider_openrouter::{OpenRouter, OpenRouterBuilder};
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

/// The key every test client uses; tests assert it never leaks.
pub(crate) const KEY: &str = "sk-or-v1-test-0123456789abcdef";

/// A builder pointed at `server`'s `/api/v1`.
pub(crate) fn builder(server: &MockServer) -> OpenRouterBuilder {
    OpenRouter::builder()
        .api_key(Secret::new(KEY))
        .base_url(format!("{}/api/v1", server.uri()))
        .request_timeout(Duration::from_secs(5))
}

/// A client with `openai/gpt-4o` as the default model.
pub(crate) fn client(server: &MockServer) -> OpenRouter {
    builder(server)
        .default_model("openai/gpt-4o")
        .build()
        .unwrap()
}

/// Answers `POST /api/v1/chat/completions` with `response`.
pub(crate) async fn on_chat(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/api/v1/chat/completions"))
        .respond_with(response)
        .mount(server)
        .await;
}

/// A successful completion served by `model`.
pub(crate) fn completion(model: &str, text: &str) -> Value {
    json!({
        "id": "gen-1739458867-kUKFjpDGCEBBvK6V46PX",
        "object": "chat.completion",
        "created": 1_739_458_867,
        "model": model,
        "provider": "OpenAI",
        "choices": [{
            "index": 0,
            "finish_reason": "stop",
            "native_finish_reason": "stop",
            "message": {"role": "assistant", "content": text, "reasoning": null}
        }],
        "usage": {
            "prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14,
            "cost": 0.00014, "is_byok": false
        }
    })
}

/// An SSE body from `data:` payloads, each closed by a blank line.
pub(crate) fn sse(events: &[&str]) -> String {
    events
        .iter()
        .map(|event| format!("data: {event}\n\n"))
        .collect()
}

/// A 200 `text/event-stream` response with `body`.
pub(crate) fn sse_response(body: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into().into_bytes(), "text/event-stream")
}
