//! The local sentence-embedding model (`LLM_CACHE_EMBEDDER=local`, feature `local-embed`).
//! Without the feature, asking for it is a configuration error, never a silent fallback.

use orchestra_cache::{CacheEmbedder, ResponseCache};
use orchestra_config::{MapEnv, Settings};

fn local_settings() -> orchestra_cache::CacheSettings {
    let env = MapEnv::from_iter([("LLM_CACHE", "semantic"), ("LLM_CACHE_EMBEDDER", "local")]);
    let settings = Settings::load(&env).unwrap().settings.cache;
    assert_eq!(settings.embedder, CacheEmbedder::Local);
    settings
}

#[cfg(not(feature = "local-embed"))]
#[test]
fn without_the_feature_the_local_embedder_is_a_config_error() {
    let error = ResponseCache::from_settings(&local_settings()).unwrap_err();
    assert_eq!(error.kind(), orchestra_core::ErrorKind::Config);
    assert!(error.to_string().contains("local-embed"), "{error}");
}

#[cfg(feature = "local-embed")]
mod model {
    use orchestra_cache::{Embedder, LocalEmbedder, cosine};
    use orchestra_core::{
        CacheStatus, ChatRequest, ChatResponse, ChatStream, Choice, Error, FinishReason, Layer,
        Message, Provider,
    };

    use super::*;

    /// Answers with the question, instantly.
    struct Echo;

    #[async_trait::async_trait]
    impl Provider for Echo {
        fn name(&self) -> &str {
            "echo"
        }

        async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
            let text = request.last_user_text().unwrap_or_default().into_owned();
            let choice = Choice::new(0, Message::assistant(text), Some(FinishReason::Stop));
            Ok(ChatResponse::new("e", "m", "echo", vec![choice]))
        }

        async fn chat_stream(&self, _: &ChatRequest) -> Result<ChatStream, Error> {
            Err(Error::unsupported("stream"))
        }
    }

    #[tokio::test]
    async fn the_bundled_model_embeds_meaning_offline() {
        let embedder = LocalEmbedder::bundled().unwrap();
        assert!(embedder.is_bundled());
        assert!(
            embedder.id().starts_with("pocket-encoder/"),
            "{}",
            embedder.id()
        );
        assert_eq!(embedder.dims(), 384);
        let vectors = embedder
            .embed(&[
                "How do I learn Python?",
                "What is the best way to study Python?",
                "Explain TCP congestion control",
                "   ",
            ])
            .await
            .unwrap();
        assert_eq!(vectors.len(), 4);
        for vector in &vectors[..3] {
            let norm: f32 = vector.iter().map(|x| x * x).sum();
            assert!((norm - 1.0).abs() < 1e-3, "{norm}");
        }
        assert!(
            vectors[3].iter().all(|x| *x == 0.0),
            "blank text embeds as zero"
        );
        let paraphrase = cosine(&vectors[0], &vectors[1]);
        let unrelated = cosine(&vectors[0], &vectors[2]);
        assert!(paraphrase > unrelated + 0.3, "{paraphrase} vs {unrelated}");
        // Outside a runtime too (no blocking pool).
        let again = std::thread::spawn(move || {
            futures_util::FutureExt::now_or_never(embedder.embed(&["How do I learn Python?"]))
                .unwrap()
                .unwrap()
        })
        .join()
        .unwrap();
        assert!(cosine(&again[0], &vectors[0]) > 0.999);
    }

    #[tokio::test]
    async fn llm_cache_embedder_local_serves_rewordings_and_refuses_near_misses() {
        // A rewording with a word changed (the lexical guard refuses it) and three near
        // misses: another name, another question word, a negation.
        let settings = local_settings();
        assert_eq!(
            settings.similarity,
            CacheEmbedder::Local.default_similarity()
        );
        let cache = ResponseCache::from_settings(&settings).unwrap();
        assert!(format!("{cache:?}").contains("pocket-encoder"), "{cache:?}");
        let provider = cache.layer(Echo);
        let ask = |text: &str| ChatRequest::new(vec![Message::user(text)]).model("m");

        let first = provider
            .chat(&ask("Which is the best college for MBA in Delhi?"))
            .await
            .unwrap();
        assert_eq!(first.metadata.cache, CacheStatus::Miss);
        let reworded = provider
            .chat(&ask("Which is the best college to do an MBA in Delhi?"))
            .await
            .unwrap();
        assert!(
            matches!(reworded.metadata.cache, CacheStatus::SemanticHit { .. }),
            "{:?}",
            reworded.metadata.cache
        );
        assert_eq!(
            reworded.content(),
            Some("Which is the best college for MBA in Delhi?")
        );
        for other in [
            "Which is the best college for MBA in Mumbai?",
            "Why is it the best college for MBA in Delhi?",
            "Which is not the best college for MBA in Delhi?",
        ] {
            let response = provider.chat(&ask(other)).await.unwrap();
            assert_eq!(response.metadata.cache, CacheStatus::Miss, "{other}");
        }
    }
}
