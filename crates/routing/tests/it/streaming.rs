//! Streaming failover against the simulator (peers get this wrong: see
//! ../shared/reference/peers.md, section 4): invisible before the first content token,
//! an honest interruption with the partial text after it.

use std::time::Duration;

use futures_util::StreamExt;
use orchestra_core::{
    ChatRequest, Error, ErrorKind, Message, Provider, StreamEvent, collect_stream,
};
use orchestra_routing::{Router, Target};
use orchestra_sim::{Fault, ModelConfig, Simulator};

use crate::sim::{openrouter, simulator};

/// A router over `primary` (with `fault` once) then `backup`, with a short idle timeout.
async fn setup(fault: Fault) -> (Simulator, Router) {
    let sim = simulator(vec![
        ModelConfig::new("primary/model").then_fault(fault, 1),
        ModelConfig::new("backup/model"),
    ])
    .await;
    let provider = openrouter(&sim);
    let router = Router::builder()
        .target(Target::new(provider.clone(), "primary/model"))
        .target(Target::new(provider, "backup/model"))
        .idle_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    (sim, router)
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![Message::user("Tell me a story")]).max_tokens(64)
}

/// Streams `request` through `router`: the events before the failure and the failure.
async fn stream(router: &Router) -> (Vec<StreamEvent>, Option<Error>) {
    let mut stream = router.chat_stream(&request()).await.unwrap();
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => events.push(event),
            Err(error) => {
                assert!(stream.next().await.is_none(), "nothing after an error");
                return (events, Some(error));
            }
        }
    }
    (events, None)
}

#[tokio::test]
async fn failures_before_the_first_token_fail_over_invisibly() {
    for fault in [
        Fault::status(503),
        Fault::StreamCut { after: 0 },
        Fault::Malformed,
        Fault::StreamError {
            after: 0,
            code: 502,
            message: None,
        },
        Fault::Stall {
            after: 0,
            ms: 5_000,
        },
    ] {
        let label = fault.label();
        let (sim, router) = setup(fault).await;
        let response = collect_stream(router.chat_stream(&request()).await.unwrap())
            .await
            .unwrap_or_else(|error| panic!("{label}: {error}"));
        assert_eq!(response.model, "backup/model", "{label}");
        assert!(
            response.content().unwrap().starts_with("backup/model"),
            "{label}"
        );
        let attempts = &response.metadata.attempts;
        assert_eq!(attempts.len(), 2, "{label}: {attempts:?}");
        assert_eq!(attempts[0].model, "primary/model");
        assert!(attempts[0].outcome.to_string() != "success", "{label}");
        assert_eq!(sim.model_stats("backup/model").requests, 1, "{label}");
    }
}

#[tokio::test]
async fn failures_after_content_end_with_an_interruption_carrying_the_partial_text() {
    for fault in [
        Fault::StreamCut { after: 3 },
        Fault::StreamError {
            after: 3,
            code: 502,
            message: None,
        },
        Fault::ResetMidBody { after: 3 },
        Fault::Stall {
            after: 3,
            ms: 5_000,
        },
    ] {
        let label = fault.label();
        let (sim, router) = setup(fault).await;
        let (events, error) = stream(&router).await;
        let error = error.unwrap_or_else(|| panic!("{label}: the stream ended cleanly"));
        assert_eq!(
            error.kind(),
            ErrorKind::StreamInterrupted,
            "{label}: {error}"
        );
        let delivered: String = events
            .iter()
            .filter_map(|event| match event {
                StreamEvent::ContentDelta { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert!(!delivered.is_empty(), "{label}");
        assert_eq!(error.partial_content(), Some(delivered.as_str()), "{label}");
        assert_eq!(
            sim.model_stats("backup/model").requests,
            0,
            "{label}: no silent restart after content was shown"
        );
    }
}
