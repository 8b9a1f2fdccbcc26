//! Nothing an upstream sends is buffered without bound: every limit of the shared HTTP path
//! is reached here, against the simulator's `oversized` fault and a scripted server, and
//! each ends in a typed error that names the limit.

use std::time::Duration;

use orchestra_core::{ErrorKind, StreamEvent};
use orchestra_openai_compat::{
    MAX_RESPONSE_BODY_BYTES, MAX_SSE_LINE_BYTES, MAX_STREAM_CHOICES, StreamSetup, parse_completion,
    read_body,
};
use orchestra_sim::{Fault, ModelConfig, SimConfig, Simulator};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::support::{TestMapper, drain, open_stream, post, scripted};

const M: &str = "test/model";

/// A guard against a hang (the behaviour under test is "does not wait"); never reached
/// when the code is right.
const HANG: Duration = Duration::from_secs(20);

async fn sim_with(fault: Fault) -> Simulator {
    let model = ModelConfig::new(M)
        .completion_tokens(6)
        .then_fault(fault, 1);
    Simulator::start(SimConfig::builder().model(model).build().unwrap())
        .await
        .unwrap()
}

fn chat(stream: bool) -> Value {
    json!({"model": M, "stream": stream, "messages": [{"role": "user", "content": "x"}]})
}

fn chat_url(sim: &Simulator) -> String {
    format!("{}/chat/completions", sim.base_url())
}

#[tokio::test]
async fn an_answer_over_the_body_limit_is_a_decode_error_naming_the_limit() {
    let sim = sim_with(Fault::Oversized { bytes: 300_000 }).await;
    let response = post(&chat_url(&sim), &chat(false)).await;
    assert_eq!(response.status(), 200);
    let error = read_body(response, 256 << 10, false, &TestMapper, Some(M))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert!(
        error
            .message()
            .contains("exceeds the limit of 256 KiB (262144 bytes)"),
        "{error}"
    );
    assert_eq!(error.model(), Some(M));
    assert_eq!(error.provider(), Some("test"));
}

#[tokio::test]
async fn a_large_answer_within_the_default_limit_is_read_whole() {
    let sim = sim_with(Fault::Oversized { bytes: 2 << 20 }).await;
    let response = post(&chat_url(&sim), &chat(false)).await;
    let body = read_body(
        response,
        MAX_RESPONSE_BODY_BYTES,
        false,
        &TestMapper,
        Some(M),
    )
    .await
    .unwrap();
    let answer =
        parse_completion(&body, 200, &HeaderMap::new(), &TestMapper, Some(M), None).unwrap();
    assert!(answer.content().unwrap_or_default().len() > 2 << 20);
}

#[tokio::test]
async fn an_announced_length_over_the_limit_fails_before_reading() {
    // The server announces 10 GiB and sends nothing: reading would wait forever.
    let (url, _hold) = scripted(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 10737418240",
        Vec::new(),
    )
    .await;
    let response = post(&url, &chat(false)).await;
    let error = tokio::time::timeout(
        HANG,
        read_body(response, MAX_RESPONSE_BODY_BYTES, false, &TestMapper, None),
    )
    .await
    .expect("read_body waited for a body it should have refused")
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert!(
        error
            .message()
            .contains("(10737418240 bytes) exceeds the limit of 64 MiB"),
        "{error}"
    );
}

#[tokio::test]
async fn an_unannounced_body_over_the_limit_fails_at_the_limit() {
    // No Content-Length, the body runs on and the connection stays open.
    let (url, _hold) = scripted(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked",
        format!("{:x}\r\n{}\r\n", 4096, "x".repeat(4096)).into_bytes(),
    )
    .await;
    let response = post(&url, &chat(false)).await;
    let error = tokio::time::timeout(HANG, read_body(response, 1024, false, &TestMapper, None))
        .await
        .expect("read_body kept reading past its limit")
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert!(error.message().contains("limit of 1 KiB"), "{error}");
}

#[tokio::test]
async fn an_error_body_is_cut_at_its_limit_not_refused() {
    let (url, _hold) = scripted(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 5000",
        "e".repeat(5000).into_bytes(),
    )
    .await;
    let response = post(&url, &chat(false)).await;
    let body = read_body(response, 1024, true, &TestMapper, None)
        .await
        .unwrap();
    assert_eq!(body.len(), 1024);
}

#[tokio::test]
async fn an_oversized_stream_event_from_the_simulator_ends_in_a_decode_error() {
    let sim = sim_with(Fault::Oversized {
        bytes: MAX_SSE_LINE_BYTES + 1000,
    })
    .await;
    let response = post(&chat_url(&sim), &chat(true)).await;
    let (stream, heard) = open_stream(response, StreamSetup::new(Some(M.into()))).await;
    let items = drain(stream.unwrap()).await;
    let error = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert!(
        error
            .message()
            .contains("line grew past the limit of 1 MiB (1048576 bytes)"),
        "{error}"
    );
    // The tokens before the oversized chunk arrived, and ride on the error.
    let text: String = items
        .iter()
        .filter_map(|item| match item {
            Ok(StreamEvent::ContentDelta { text, .. }) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(!text.is_empty());
    assert_eq!(error.partial_content(), Some(text.as_str()));
    assert_eq!(heard.endings(), [Err(ErrorKind::Decode)]);
}

#[tokio::test]
async fn a_stream_line_without_end_fails_at_the_line_limit_without_waiting() {
    // `data: xxxx…` past the limit and no line break, the connection left open.
    let mut body = b"data: ".to_vec();
    body.resize(MAX_SSE_LINE_BYTES + 4096, b'x');
    let (url, _hold) = scripted("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream", body).await;
    let response = post(&url, &chat(true)).await;
    let (stream, heard) = open_stream(response, StreamSetup::new(Some(M.into()))).await;
    let items = tokio::time::timeout(HANG, drain(stream.unwrap()))
        .await
        .expect("the stream waited for a line break past its line limit");
    assert_eq!(items.len(), 1);
    let error = items[0].as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert!(error.message().contains("without a line break"), "{error}");
    assert_eq!(heard.endings(), [Err(ErrorKind::Decode)]);
}

fn sse(events: &[Value]) -> Vec<u8> {
    events
        .iter()
        .map(|event| format!("data: {event}\n\n"))
        .collect::<String>()
        .into_bytes()
}

#[tokio::test]
async fn a_stream_over_its_text_limit_ends_in_a_decode_error_with_the_text_so_far() {
    let delta =
        |text: &str| json!({"id": "gen-1", "choices": [{"index": 0, "delta": {"content": text}}]});
    let body = sse(&[
        delta("0123456789"),
        delta("abcdefghij"),
        delta("KLMNOPQRST"),
    ]);
    let (url, _hold) = scripted("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream", body).await;
    let response = post(&url, &chat(true)).await;
    let mut setup = StreamSetup::new(Some(M.into()));
    setup.max_text_bytes = 25;
    let (stream, heard) = open_stream(response, setup).await;
    let items = tokio::time::timeout(HANG, drain(stream.unwrap()))
        .await
        .expect("the stream did not end at its text limit");
    let error = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert!(
        error
            .message()
            .contains("text grew past the limit of 25 bytes"),
        "{error}"
    );
    assert_eq!(error.partial_content(), Some("0123456789abcdefghij"));
    assert_eq!(heard.endings(), [Err(ErrorKind::Decode)]);
}

#[tokio::test]
async fn a_stream_naming_too_many_choices_ends_in_a_decode_error() {
    let choices: Vec<Value> = (0..=MAX_STREAM_CHOICES)
        .map(|index| json!({"index": index, "delta": {"content": "x"}}))
        .collect();
    let body = sse(&[json!({"id": "gen-1", "choices": choices})]);
    let (url, _hold) = scripted("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream", body).await;
    let response = post(&url, &chat(true)).await;
    let (stream, _heard) = open_stream(response, StreamSetup::new(Some(M.into()))).await;
    let items = tokio::time::timeout(HANG, drain(stream.unwrap()))
        .await
        .expect("the stream did not end at its choice limit");
    let error = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert!(
        error
            .message()
            .contains(&format!("more than {MAX_STREAM_CHOICES} choices")),
        "{error}"
    );
}
