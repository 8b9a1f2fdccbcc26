//! How a stream ends, replaying the `stream` fuzz target's findings.

use futures_util::StreamExt;
use orchestra_core::ErrorKind;
use orchestra_openai_compat::StreamSetup;

use crate::support::{open_stream, post, scripted};

/// Fuzz finding (target `stream`, input `data: [DONE]`): polled again after its end, the
/// stream panicked ("Unfold must not be polled after it returned `Poll::Ready(None)`").
#[tokio::test]
async fn a_stream_polled_after_its_end_keeps_saying_none() {
    let (url, _hold) = scripted(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 14",
        b"data: [DONE]\n\n".to_vec(),
    )
    .await;
    let response = post(&url, &serde_json::json!({"stream": true})).await;
    let (stream, heard) = open_stream(response, StreamSetup::new(Some("m".into()))).await;
    let mut stream = stream.unwrap();
    let error = stream.next().await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::StreamInterrupted, "{error}");
    for _ in 0..3 {
        assert!(stream.next().await.is_none());
    }
    assert_eq!(heard.endings(), [Err(ErrorKind::StreamInterrupted)]);
}

/// Fuzz finding (target `stream`): events that came before a broken line in the same read
/// were dropped, so what the caller got (and the partial text on the error) depended on how
/// the network cut the bytes.
#[tokio::test]
async fn events_before_a_broken_line_in_the_same_read_are_delivered() {
    let mut body =
        br#"data: {"id":"gen-1","choices":[{"index":0,"delta":{"content":"a"}}]}"#.to_vec();
    body.extend_from_slice(b"\n\ndata: {\"id\":\xff\xff}\n\n");
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}",
        body.len()
    );
    let (url, _hold) = scripted(&head, body).await;
    let response = post(&url, &serde_json::json!({"stream": true})).await;
    let (stream, heard) = open_stream(response, StreamSetup::new(Some("m".into()))).await;
    let items = crate::support::drain(stream.unwrap()).await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(matches!(
        &items[1],
        Ok(orchestra_core::StreamEvent::ContentDelta { choice: 0, text }) if text == "a"
    ));
    let error = items[2].as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode, "{error}");
    assert!(error.message().contains("not UTF-8"), "{error}");
    assert_eq!(error.partial_content(), Some("a"));
    assert_eq!(heard.endings(), [Err(ErrorKind::Decode)]);
}
