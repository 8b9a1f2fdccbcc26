//! `HttpEmbedder` against a scripted OpenAI-compatible `/embeddings` server.

use orchestra_cache::{CacheMode, Embedder, HttpEmbedder, ResponseCache};
use orchestra_core::{ErrorKind, Secret};
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{header, method, path},
};

fn embedder(server: &MockServer) -> HttpEmbedder {
    HttpEmbedder::builder(format!("{}/v1", server.uri()), "test/embed-3")
        .api_key(Secret::new("sk-embed-secret"))
        .dims(3)
        .send_dimensions(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn sends_the_openai_shape_and_returns_normalised_vectors_in_input_order() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(header("authorization", "Bearer sk-embed-secret"))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(body["model"], "test/embed-3");
            assert_eq!(body["dimensions"], 3);
            assert_eq!(body["input"], json!(["first", "second"]));
            // Out of order on purpose: `index` decides.
            ResponseTemplate::new(200).set_body_json(json!({
                "object": "list",
                "data": [
                    {"object": "embedding", "index": 1, "embedding": [0.0, 3.0, 4.0]},
                    {"object": "embedding", "index": 0, "embedding": [2.0, 0.0, 0.0]}
                ],
                "model": "test/embed-3"
            }))
        })
        .expect(1)
        .mount(&server)
        .await;
    let vectors = embedder(&server).embed(&["first", "second"]).await.unwrap();
    assert_eq!(vectors, vec![vec![1.0, 0.0, 0.0], vec![0.0, 0.6, 0.8]]);
}

#[tokio::test]
async fn errors_are_classified_and_never_show_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(json!({"error": {"message": "slow down", "code": 429}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [{"index": 0, "embedding": [1.0, 0.0]}]
        })))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("not json"))
        .with_priority(3)
        .mount(&server)
        .await;
    let embedder = embedder(&server);
    let limited = embedder.embed(&["x"]).await.unwrap_err();
    assert_eq!(limited.kind(), ErrorKind::RateLimited);
    assert!(limited.to_string().contains("slow down"));
    let wrong_length = embedder.embed(&["x"]).await.unwrap_err();
    assert_eq!(wrong_length.kind(), ErrorKind::Decode);
    let malformed = embedder.embed(&["x"]).await.unwrap_err();
    assert_eq!(malformed.kind(), ErrorKind::Decode);
    for error in [limited, wrong_length, malformed] {
        assert!(!format!("{error} {error:?}").contains("sk-embed-secret"));
    }
    assert!(!format!("{embedder:?}").contains("sk-embed-secret"));
    assert!(
        HttpEmbedder::builder("ftp://example.com", "m")
            .dims(3)
            .build()
            .is_err()
    );
    assert!(
        HttpEmbedder::builder("http://127.0.0.1:1", "m")
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn a_cache_with_the_http_embedder_matches_by_the_served_vectors() {
    let server = MockServer::start().await;
    // A toy model: "capital" questions all map near one direction, the rest elsewhere.
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let data: Vec<Value> = body["input"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(index, text)| {
                    let text = text.as_str().unwrap().to_lowercase();
                    let embedding = if text.contains("capital") {
                        json!([1.0, 0.05, 0.0])
                    } else {
                        json!([0.0, 0.0, 1.0])
                    };
                    json!({"index": index, "embedding": embedding})
                })
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({ "data": data }))
        })
        .mount(&server)
        .await;
    let cache = ResponseCache::builder()
        .mode(CacheMode::Semantic)
        .embedder(embedder(&server))
        .similarity(0.95)
        .build()
        .unwrap();
    struct Answer;
    #[async_trait::async_trait]
    impl orchestra_core::Provider for Answer {
        fn name(&self) -> &str {
            "answer"
        }
        async fn chat(
            &self,
            request: &orchestra_core::ChatRequest,
        ) -> Result<orchestra_core::ChatResponse, orchestra_core::Error> {
            let text = request.last_user_text().unwrap_or_default().into_owned();
            let choice = orchestra_core::Choice::new(
                0,
                orchestra_core::Message::assistant(format!("answer to {text}")),
                Some(orchestra_core::FinishReason::Stop),
            );
            Ok(orchestra_core::ChatResponse::new(
                "id",
                "m",
                "answer",
                vec![choice],
            ))
        }
        async fn chat_stream(
            &self,
            _: &orchestra_core::ChatRequest,
        ) -> Result<orchestra_core::ChatStream, orchestra_core::Error> {
            Err(orchestra_core::Error::unsupported("stream"))
        }
    }
    use orchestra_core::{CacheStatus, ChatRequest, Message, Provider};
    let provider = cache.wrap(Answer);
    let ask = |text: &str| ChatRequest::new(vec![Message::user(text)]).model("m");
    provider
        .chat(&ask("What is the capital of France?"))
        .await
        .unwrap();
    // Same vector, and the guard agrees: a semantic hit.
    let hit = provider
        .chat(&ask("what is the capital of France"))
        .await
        .unwrap();
    assert!(matches!(
        hit.metadata.cache,
        CacheStatus::SemanticHit { .. }
    ));
    // Same vector, but the guard sees another name: a miss.
    let germany = provider
        .chat(&ask("What is the capital of Germany?"))
        .await
        .unwrap();
    assert_eq!(germany.metadata.cache, CacheStatus::Miss);
    assert_eq!(
        germany.content(),
        Some("answer to What is the capital of Germany?")
    );

    // With the wording check off, the same-vector candidate is found and the names check
    // refuses it.
    let mut guard = orchestra_cache::Guard::default();
    guard.wording = false;
    let loose = ResponseCache::builder()
        .embedder(embedder(&server))
        .similarity(0.95)
        .guard(guard)
        .build()
        .unwrap();
    let provider = loose.wrap(Answer);
    provider
        .chat(&ask("What is the capital of France?"))
        .await
        .unwrap();
    let germany = provider
        .chat(&ask("What is the capital of Germany?"))
        .await
        .unwrap();
    assert_eq!(germany.metadata.cache, CacheStatus::Miss);
    assert_eq!(loose.stats().guard_rejections, 1);
}

#[tokio::test]
async fn an_unreachable_embedder_only_skips_the_semantic_tier() {
    let server = MockServer::start().await;
    let embedder = embedder(&server);
    drop(server); // nothing listens there any more
    let cache = ResponseCache::builder().embedder(embedder).build().unwrap();
    let request = orchestra_core::ChatRequest::new(vec![orchestra_core::Message::user("hi")]);
    assert!(cache.lookup("p", &request).await.is_none());
    assert_eq!(cache.stats().errors, 1);
}
