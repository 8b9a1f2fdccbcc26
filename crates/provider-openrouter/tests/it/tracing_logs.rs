//! What the client logs: the request's facts, never the key.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use orchestra_core::{ChatRequest, Message, Provider, collect_stream};
use serde_json::json;
use wiremock::{MockServer, ResponseTemplate};

use crate::support::{KEY, client, completion, on_chat, sse, sse_response};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logs_carry_model_status_tokens_and_cost_but_never_the_key() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    on_chat(
        &server,
        ResponseTemplate::new(200).set_body_json(completion("a/served", "ok")),
    )
    .await;
    let request = ChatRequest::new(vec![Message::user("hi")]);
    client(&server).chat(&request).await.unwrap();

    let failing = MockServer::start().await;
    on_chat(
        &failing,
        ResponseTemplate::new(401)
            .set_body_json(json!({"error": {"code": 401, "message": format!("bad key {KEY}")}})),
    )
    .await;
    client(&failing).chat(&request).await.unwrap_err();

    let streaming = MockServer::start().await;
    let chunk = r#"{"id":"g","model":"a/streamed","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}"#;
    on_chat(&streaming, sse_response(sse(&[chunk, "[DONE]"]))).await;
    collect_stream(client(&streaming).chat_stream(&request).await.unwrap())
        .await
        .unwrap();

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(!logs.contains(KEY), "the key leaked into the logs:\n{logs}");
    for needle in [
        "openrouter.chat",
        "gen_ai.request.model=\"openai/gpt-4o\"",
        "gen_ai.response.model=\"a/served\"",
        "http.response.status_code=200",
        "gen_ai.usage.input_tokens=10",
        "gen_ai.usage.output_tokens=4",
        "gen_ai.usage.cost_usd=0.00014",
        "error.type=\"auth\"",
        "http.response.status_code=401",
        "gen_ai.request.stream=true",
        "gen_ai.response.model=\"a/streamed\"",
    ] {
        assert!(logs.contains(needle), "missing {needle} in:\n{logs}");
    }
}
