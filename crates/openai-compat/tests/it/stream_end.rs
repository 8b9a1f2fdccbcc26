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
