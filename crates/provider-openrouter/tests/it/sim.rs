//! Against the orchestra simulator: a real OpenRouter-shaped server.

use orchestra_core::{ChatRequest, ErrorKind, Message, Provider, Secret, collect_stream};
use orchestra_provider_openrouter::OpenRouter;
use orchestra_sim::{Fault, ModelConfig, SimConfig, Simulator};

async fn simulator() -> Simulator {
    let config = SimConfig::builder()
        .api_key("sk-or-v1-sim")
        .credits(10.0)
        .model(ModelConfig::new("openai/gpt-4o-mini").price("0.00000015", "0.0000006"))
        .model(ModelConfig::new("google/gemini-2.5-flash:free").then_fault(Fault::status(429), 1))
        .model(ModelConfig::new("meta/llama:free"))
        .build()
        .unwrap();
    Simulator::start(config).await.unwrap()
}

fn client(sim: &Simulator) -> OpenRouter {
    OpenRouter::builder()
        .api_key(Secret::new("sk-or-v1-sim"))
        .base_url(sim.base_url())
        .default_model("google/gemini-2.5-flash:free")
        .fallback_models(vec!["meta/llama:free".into()])
        .build()
        .unwrap()
}

#[tokio::test]
async fn chat_stream_models_and_credits_against_the_simulator() {
    let sim = simulator().await;
    let client = client(&sim);

    // The default model is rate limited once: the simulator falls back server-side.
    let request = ChatRequest::new(vec![Message::user("hello")]).max_tokens(16);
    let response = client.chat(&request).await.unwrap();
    assert_eq!(response.model, "meta/llama:free");
    assert!(response.content().unwrap().starts_with("meta/llama:free"));
    assert!(response.id.starts_with("gen-"));
    assert!(response.usage.is_some());

    let paid = request.clone().model("openai/gpt-4o-mini");
    let stream = client.chat_stream(&paid).await.unwrap();
    let streamed = collect_stream(stream).await.unwrap();
    assert_eq!(streamed.model, "openai/gpt-4o-mini");
    assert!(
        streamed
            .content()
            .unwrap()
            .starts_with("openai/gpt-4o-mini")
    );
    assert!(streamed.usage.unwrap().cost_usd.unwrap() > 0.0);

    let models = client.models().await.unwrap();
    assert_eq!(models.len(), 3);
    let credits = client.credits().await.unwrap();
    assert!(
        credits.total_credits.is_some() || credits.key_limit.is_some(),
        "{credits:?}"
    );

    let wrong_key = OpenRouter::builder()
        .api_key(Secret::new("sk-or-v1-wrong"))
        .base_url(sim.base_url())
        .build()
        .unwrap();
    assert_eq!(
        wrong_key.chat(&request).await.unwrap_err().kind(),
        ErrorKind::Auth
    );
    sim.shutdown().await;
}

/// Our client must not change how other `reqwest` clients in the application behave: a
/// TLS build that needs a process-wide crypto provider would make this plain client panic.
#[tokio::test]
async fn plain_reqwest_clients_keep_working_beside_ours() {
    let sim = simulator().await;
    let plain = reqwest::Client::new();
    let ours = client(&sim);
    let https_capable = reqwest::Client::builder().https_only(true).build();
    assert!(https_capable.is_ok(), "a TLS-only client must build");

    let status = plain
        .get(format!("{}/models", sim.base_url()))
        .bearer_auth("sk-or-v1-sim")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    assert!(!ours.models().await.unwrap().is_empty());
}

/// `http2_prior_knowledge`: chat and streams over h2c, concurrent calls on one connection.
#[tokio::test]
async fn http2_prior_knowledge_against_the_simulator() {
    let sim = simulator().await;
    let client = OpenRouter::builder()
        .api_key(Secret::new("sk-or-v1-sim"))
        .base_url(sim.base_url())
        .default_model("openai/gpt-4o-mini")
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let request = ChatRequest::new(vec![Message::user("hello")]).max_tokens(16);
    let calls = (0..50).map(|_| client.chat(&request));
    for response in futures_util::future::join_all(calls).await {
        assert!(
            response
                .unwrap()
                .content()
                .unwrap()
                .starts_with("openai/gpt-4o-mini")
        );
    }
    let streamed = collect_stream(client.chat_stream(&request).await.unwrap())
        .await
        .unwrap();
    assert_eq!(streamed.model, "openai/gpt-4o-mini");
    assert_eq!(sim.model_stats("openai/gpt-4o-mini").successes, 51);
}
