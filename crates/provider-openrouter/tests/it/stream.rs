//! Streaming: SSE edge cases, in-band errors, interruptions, and real timing.

use std::time::Duration;

use futures_util::StreamExt;
use orchestra_core::{
    ChatRequest, ChatStream, Error, ErrorKind, Message, Provider, StreamEvent, collect_stream,
};
use serde_json::json;
use tokio::{io::AsyncWriteExt, net::TcpListener};
use wiremock::{MockServer, ResponseTemplate};

use crate::support::{KEY, client, on_chat, sse, sse_response};

fn request() -> ChatRequest {
    ChatRequest::new(vec![Message::user("hi")]).max_tokens(100)
}

const FIRST: &str = r#"{"id":"gen-s1","provider":"OpenAI","model":"openai/gpt-4o-mini","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#;
const HI: &str = r#"{"id":"gen-s1","model":"openai/gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#;
const STOP: &str = r#"{"id":"gen-s1","model":"openai/gpt-4o-mini","choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop","native_finish_reason":"stop"}]}"#;
const USAGE: &str = r#"{"id":"gen-s1","model":"openai/gpt-4o-mini","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":2,"total_tokens":10,"cost":0.0000042}}"#;

async fn drain(stream: ChatStream) -> (Vec<StreamEvent>, Option<Error>) {
    let items: Vec<_> = stream.collect().await;
    let mut events = Vec::new();
    let mut error = None;
    for item in items {
        match item {
            Ok(event) => {
                assert!(error.is_none(), "an event after the error: {event:?}");
                events.push(event);
            }
            Err(failure) => {
                assert!(error.is_none(), "two errors");
                error = Some(failure);
            }
        }
    }
    (events, error)
}

async fn stream_body(body: impl Into<String>) -> (Vec<StreamEvent>, Option<Error>) {
    let server = MockServer::start().await;
    on_chat(&server, sse_response(body)).await;
    let stream = client(&server).chat_stream(&request()).await.unwrap();
    drain(stream).await
}

#[tokio::test]
async fn comments_crlf_multiline_reasoning_tools_usage_and_done() {
    let tool_first = r#"{"id":"gen-s1","model":"openai/gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":"}}]},"finish_reason":null}]}"#;
    let tool_rest = r#"{"id":"gen-s1","model":"openai/gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]},"finish_reason":null}]}"#;
    let reasoning = r#"{"id":"gen-s1","model":"openai/gpt-4o-mini","choices":[{"index":0,"delta":{"reasoning":"hmm"},"finish_reason":null}]}"#;
    // The `Hi` chunk split over two `data:` lines (JSON whitespace), with CRLF endings.
    let (hi_head, hi_tail) = HI.split_at(HI.find("\"choices\"").unwrap());
    let body = format!(
        ": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\r\n\r\ndata: {FIRST}\r\n\r\n\
         data: {reasoning}\n\ndata: {hi_head}\r\ndata: {hi_tail}\r\n\r\n\
         data: : OPENROUTER PROCESSING\n\n\
         data: {tool_first}\n\ndata: {tool_rest}\n\ndata: {STOP}\n\ndata: {USAGE}\n\ndata: [DONE]\n\n"
    );
    let (events, error) = stream_body(body).await;
    assert!(error.is_none(), "{error:?}");
    assert!(matches!(events.first(), Some(StreamEvent::Start(_))));
    insta::assert_json_snapshot!("stream_events", events, {"[0].id" => "[id]"});

    // The same stream collected through core's accumulator.
    let server = MockServer::start().await;
    on_chat(
        &server,
        sse_response(sse(&[FIRST, HI, STOP, USAGE, "[DONE]"])),
    )
    .await;
    let response = collect_stream(client(&server).chat_stream(&request()).await.unwrap())
        .await
        .unwrap();
    assert_eq!(response.content(), Some("Hi"));
    assert_eq!(response.model, "openai/gpt-4o-mini");
    assert_eq!(response.upstream_provider.as_deref(), Some("OpenAI"));
    assert_eq!(response.usage.unwrap().cost_usd, Some(0.0000042));

    let body = &server.received_requests().await.unwrap()[0];
    let body: serde_json::Value = serde_json::from_slice(&body.body).unwrap();
    assert_eq!(body["stream"], true);
}

#[tokio::test]
async fn a_mid_stream_error_with_choices_is_typed() {
    let error_chunk = r#"{"id":"gen-s1","object":"chat.completion.chunk","created":1,"model":"openai/gpt-4o","provider":"OpenAI","error":{"code":429,"message":"Rate limit exceeded","metadata":{"error_type":"rate_limit_exceeded"}},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}"#;
    let (events, error) = stream_body(sse(&[FIRST, HI, error_chunk])).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ErrorKind::RateLimited, "{error}");
    assert_eq!(error.status(), Some(429));
    assert_eq!(error.upstream_code(), Some("rate_limit_exceeded"));
    assert_eq!(
        error.partial_content(),
        Some("Hi"),
        "delivered text survives"
    );
    assert_eq!(events.len(), 2);
}

#[tokio::test]
async fn a_mid_stream_error_without_choices_and_a_string_code_is_typed() {
    let error_chunk = r#"{"error":{"code":"server_error","message":"Provider disconnected"}}"#;
    let (_, error) = stream_body(sse(&[FIRST, HI, error_chunk, "[DONE]"])).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ErrorKind::Server, "{error}");
    assert!(error.to_string().contains("Provider disconnected"));

    let quota = r#"{"error":{"message":"Rate limit exceeded: free-models-per-day","code":429,"metadata":{"headers":{"X-RateLimit-Reset":"4102444800000"},"provider_name":"Google AI Studio"}},"user_id":"user_1"}"#;
    let (events, error) = stream_body(sse(&[quota])).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert!(error.retry_after().is_some());
    assert_eq!(error.partial_content(), None, "nothing was delivered");
    assert!(events.is_empty());
}

#[tokio::test]
async fn a_choice_finishing_with_error_fails_the_stream() {
    let failed = r#"{"id":"gen-s1","model":"a/b","choices":[{"index":0,"delta":{},"finish_reason":"error"}]}"#;
    let (_, error) = stream_body(sse(&[FIRST, HI, failed])).await;
    assert_eq!(error.unwrap().kind(), ErrorKind::Server);
}

#[tokio::test]
async fn a_stream_without_done_is_interrupted_with_the_partial_text() {
    let (events, error) = stream_body(sse(&[FIRST, HI, STOP, USAGE])).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ErrorKind::StreamInterrupted, "{error}");
    assert_eq!(error.partial_content(), Some("Hi"));
    assert_eq!(events.len(), 4);

    // Cut inside an event: the half chunk is dropped, the text so far kept.
    let (_, error) = stream_body(format!(
        "data: {FIRST}\n\ndata: {HI}\n\ndata: {{\"id\":\"gen"
    ))
    .await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ErrorKind::StreamInterrupted);
    assert_eq!(error.partial_content(), Some("Hi"));
}

#[tokio::test]
async fn done_without_a_finish_reason_is_interrupted() {
    let (_, error) = stream_body(sse(&[FIRST, HI, "[DONE]"])).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ErrorKind::StreamInterrupted);
    assert_eq!(error.partial_content(), Some("Hi"));
    // And an empty stream that only says [DONE].
    let (_, error) = stream_body("data: [DONE]").await;
    assert_eq!(error.unwrap().kind(), ErrorKind::StreamInterrupted);
}

#[tokio::test]
async fn an_oversized_line_is_a_decode_error() {
    let huge = format!(
        "data: {{\"pad\":\"{}\"}}\n\n",
        "x".repeat(orchestra_provider_openrouter::MAX_SSE_LINE_BYTES)
    );
    let (_, error) = stream_body(format!("data: {FIRST}\n\n{huge}")).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ErrorKind::Decode, "{error}");
    let (_, error) = stream_body("data: {not json}\n\n").await;
    assert_eq!(error.unwrap().kind(), ErrorKind::Decode);
}

#[tokio::test]
async fn errors_before_the_stream_are_returned_by_chat_stream() {
    let server = MockServer::start().await;
    on_chat(
        &server,
        ResponseTemplate::new(401)
            .set_body_json(json!({"error": {"code": 401, "message": "No auth credentials found"}})),
    )
    .await;
    let error = client(&server).chat_stream(&request()).await.err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Auth);
    assert!(!error.to_string().contains(KEY));

    let server = MockServer::start().await;
    on_chat(
        &server,
        ResponseTemplate::new(200)
            .set_body_json(json!({"error": {"code": 503, "message": "No instances available"}})),
    )
    .await;
    let error = client(&server).chat_stream(&request()).await.err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Server);
    assert_eq!(error.status(), Some(503));
}

/// A one-shot HTTP/1.1 server that writes `parts` with `pause` between them, then either
/// closes or stalls for `stall`.
async fn raw_server(parts: Vec<String>, pause: Duration, stall: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        // Read the request head and body (small; one read is enough on loopback).
        let mut buffer = vec![0u8; 64 * 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buffer).await;
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
        socket.write_all(head.as_bytes()).await.unwrap();
        for part in parts {
            socket.write_all(part.as_bytes()).await.unwrap();
            socket.flush().await.unwrap();
            tokio::time::sleep(pause).await;
        }
        tokio::time::sleep(stall).await;
    });
    format!("http://{address}/api/v1")
}

fn raw_client(base_url: String, timeout: Duration) -> orchestra_provider_openrouter::OpenRouter {
    orchestra_provider_openrouter::OpenRouter::builder()
        .api_key(KEY.to_owned().into())
        .base_url(base_url)
        .default_model("openai/gpt-4o-mini")
        .request_timeout(timeout)
        .build()
        .unwrap()
}

#[tokio::test]
async fn events_split_across_tcp_writes_arrive_as_they_come() {
    let body = sse(&[FIRST, HI, STOP, USAGE, "[DONE]"]);
    // Cut the body into 7-byte writes, CR and LF of one line end in different writes.
    let parts: Vec<String> = body
        .replace('\n', "\r\n")
        .as_bytes()
        .chunks(7)
        .map(|chunk| String::from_utf8(chunk.to_vec()).unwrap())
        .collect();
    let base = raw_server(parts, Duration::from_millis(1), Duration::ZERO).await;
    let stream = raw_client(base, Duration::from_secs(5))
        .chat_stream(&request())
        .await
        .unwrap();
    let response = collect_stream(stream).await.unwrap();
    assert_eq!(response.content(), Some("Hi"));
}

#[tokio::test]
async fn a_stalled_stream_is_interrupted_after_the_timeout_not_hung() {
    let parts = vec![
        ": OPENROUTER PROCESSING\n\n".to_owned(),
        format!("data: {FIRST}\n\n"),
        format!("data: {HI}\n\n"),
    ];
    // Keep-alives and chunks 100 ms apart stay under the 400 ms limit; then silence.
    let base = raw_server(parts, Duration::from_millis(100), Duration::from_secs(3)).await;
    let started = std::time::Instant::now();
    let stream = raw_client(base, Duration::from_millis(400))
        .chat_stream(&request())
        .await
        .unwrap();
    let (events, error) = drain(stream).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ErrorKind::StreamInterrupted, "{error}");
    assert_eq!(error.partial_content(), Some("Hi"));
    assert_eq!(events.len(), 2);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(600) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
}
