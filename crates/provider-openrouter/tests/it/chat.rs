//! Non-streaming chat: the request we send and the response we build.

use std::collections::BTreeMap;

use orchestra_config::{MapEnv, Settings};
use orchestra_core::{AttemptOutcome, ChatRequest, ErrorKind, FinishReason, Message, Provider};
use orchestra_provider_openrouter::{
    DataCollection, MaxPrice, OpenRouter, ProviderPreferences, SortBy,
};
use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate};

use crate::support::{KEY, builder, client, completion, on_chat};

fn received_body(request: &wiremock::Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

#[tokio::test]
async fn sends_the_openrouter_body_headers_and_fallbacks() {
    let server = MockServer::start().await;
    on_chat(
        &server,
        ResponseTemplate::new(200)
            .set_body_json(completion("google/gemini-2.5-flash:free", "Bonjour"))
            .insert_header("X-Generation-Id", "gen-header"),
    )
    .await;
    let client = builder(&server)
        .default_model("openai/gpt-4o")
        .fallback_models(
            [
                "a/one:free",
                "b/two:free",
                "openai/gpt-4o",
                "c/three",
                "d/four",
                "e/five",
            ]
            .map(String::from)
            .to_vec(),
        )
        .headers(BTreeMap::from([
            ("X-Title".to_owned(), "Orchestra Test".to_owned()),
            ("HTTP-Referer".to_owned(), "https://example.test".to_owned()),
        ]))
        .provider_preferences(
            ProviderPreferences::new()
                .order(["openai", "azure"])
                .allow_fallbacks(true)
                .sort(SortBy::Price)
                .data_collection(DataCollection::Deny)
                .zdr(true)
                .only(["openai", "azure", "google"])
                .ignore(["deepinfra"])
                .quantizations(["fp8", "bf16"])
                .require_parameters(true)
                .max_price(MaxPrice::per_million(1.0, 2.0)),
        )
        .build()
        .unwrap();
    assert_eq!(client.remaining_fallbacks(), ["d/four", "e/five"]);

    let request = ChatRequest::new(vec![Message::system("Be brief."), Message::user("Hello")])
        .max_tokens(512)
        .temperature(0.2)
        .agent_type("researcher")
        // Per request: `sort` replaced, `zdr` cleared, `only` kept from the client.
        .extra("provider", json!({"sort": "latency", "zdr": null}));
    let response = client.chat(&request).await.unwrap();

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    let header = |name: &str| sent.headers.get(name).map(|value| value.to_str().unwrap());
    assert_eq!(
        header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(header("x-title"), Some("Orchestra Test"));
    assert_eq!(header("x-openrouter-title"), Some("Orchestra Test"));
    assert_eq!(header("http-referer"), Some("https://example.test"));
    assert_eq!(header("content-type"), Some("application/json"));
    // Every header we send, pinned; the key shown as a placeholder, transport-level ones
    // (host, length) left out.
    let headers: BTreeMap<String, String> = sent
        .headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "host" | "content-length"))
        .map(|(name, value)| {
            let value = value.to_str().unwrap().replace(KEY, "[key]");
            let value = value.replace(env!("CARGO_PKG_VERSION"), "[version]");
            (name.to_string(), value)
        })
        .collect();
    insta::assert_json_snapshot!("chat_request_headers", headers);
    let body = received_body(sent);
    assert!(body.get("agent_type").is_none());
    assert_eq!(body["models"].as_array().unwrap().len(), 3);
    insta::assert_json_snapshot!("chat_request_body", body);

    assert_eq!(response.model, "google/gemini-2.5-flash:free");
    assert_eq!(response.provider, "openrouter");
    assert_eq!(response.upstream_provider.as_deref(), Some("OpenAI"));
    assert_eq!(response.id, "gen-1739458867-kUKFjpDGCEBBvK6V46PX");
    assert_eq!(response.content(), Some("Bonjour"));
    assert_eq!(response.finish_reason(), Some(&FinishReason::Stop));
    let usage = response.usage.unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (10, 4, 14)
    );
    assert_eq!(usage.cost_usd, Some(0.00014));
    let [attempt] = response.metadata.attempts.as_slice() else {
        panic!("one attempt expected: {:?}", response.metadata.attempts)
    };
    assert_eq!(attempt.provider, "openrouter");
    assert_eq!(attempt.model, "google/gemini-2.5-flash:free");
    assert_eq!(attempt.outcome, AttemptOutcome::Success);
    assert_eq!(attempt.status, Some(200));
    assert!(!response.metadata.latency.is_zero());
    insta::assert_json_snapshot!("chat_response", response, {
        ".metadata.latency_ms" => "[latency]",
        ".metadata.attempts[].latency_ms" => "[latency]",
        ".id" => "[id]",
    });
}

#[tokio::test]
async fn a_request_model_goes_first_and_request_models_and_provider_win() {
    let server = MockServer::start().await;
    on_chat(
        &server,
        ResponseTemplate::new(200).set_body_json(completion("x/y", "ok")),
    )
    .await;
    let client = builder(&server)
        .default_model("openai/gpt-4o")
        .fallback_models(vec!["x/y".into(), "a/b".into()])
        .provider_preferences(ProviderPreferences::new().sort(SortBy::Price))
        .build()
        .unwrap();

    let own_model = ChatRequest::new(vec![Message::user("1")]).model("x/y");
    client.chat(&own_model).await.unwrap();
    let own_models = ChatRequest::new(vec![Message::user("2")])
        .extra("models", json!(["m/1", "m/2", "m/3", "m/4"]))
        .extra("provider", Value::Null);
    client.chat(&own_models).await.unwrap();
    let replaced = ChatRequest::new(vec![Message::user("3")]).extra("provider", json!("raw"));
    client.chat(&replaced).await.unwrap();

    let bodies: Vec<Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(received_body)
        .collect();
    assert_eq!(bodies[0]["model"], "x/y");
    assert_eq!(bodies[0]["models"], json!(["a/b"]));
    assert_eq!(bodies[0]["provider"], json!({"sort": "price"}));
    assert_eq!(bodies[0]["stream"], false);
    assert_eq!(bodies[1]["model"], "openai/gpt-4o");
    assert_eq!(bodies[1]["models"], json!(["m/1", "m/2", "m/3"]));
    assert!(bodies[1].get("provider").is_none());
    assert_eq!(bodies[2]["provider"], "raw");
}

#[tokio::test]
async fn from_settings_uses_the_openrouter_variables() {
    let server = MockServer::start().await;
    on_chat(
        &server,
        ResponseTemplate::new(200).set_body_json(completion("a/b", "ok")),
    )
    .await;
    let base = format!("{}/api/v1", server.uri());
    let env = MapEnv::from_iter([
        ("OPENROUTER_API_KEY", KEY),
        ("OPENROUTER_BASE_URL", base.as_str()),
        ("OPENROUTER_DEFAULT_MODEL", "a/b"),
        ("OPENROUTER_FREE_FALLBACKS", "c/d:free,e/f:free"),
        ("OPENROUTER_HEADERS", r#"{"X-OpenRouter-Title":"From Env"}"#),
        ("LLM_REQUEST_TIMEOUT", "7"),
    ]);
    let settings = Settings::load(&env).unwrap().settings;
    let client = OpenRouter::from_settings(&settings).unwrap();
    assert_eq!(client.request_timeout().as_secs(), 7);
    assert_eq!(client.default_model(), Some("a/b"));
    client
        .chat(&ChatRequest::new(vec![Message::user("hi")]))
        .await
        .unwrap();
    let sent = &server.received_requests().await.unwrap()[0];
    assert_eq!(sent.headers["x-title"], "From Env");
    assert_eq!(sent.headers["x-openrouter-title"], "From Env");
    let body = received_body(sent);
    assert_eq!(body["model"], "a/b");
    assert_eq!(body["models"], json!(["c/d:free", "e/f:free"]));

    let missing_key = OpenRouter::from_settings(&Settings::default()).unwrap_err();
    assert_eq!(missing_key.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn build_reports_configuration_errors_without_the_key() {
    let bad_url = OpenRouter::builder()
        .api_key(KEY.to_owned().into())
        .base_url("ftp://nowhere")
        .build()
        .unwrap_err();
    assert_eq!(bad_url.kind(), ErrorKind::Config);
    let bad_header = OpenRouter::builder()
        .api_key(KEY.to_owned().into())
        .header("X-Secret", "line\nbreak")
        .build()
        .unwrap_err();
    assert_eq!(bad_header.kind(), ErrorKind::Config);
    let auth_header = OpenRouter::builder()
        .api_key(KEY.to_owned().into())
        .header("Authorization", "Bearer other")
        .build()
        .unwrap_err();
    assert_eq!(auth_header.kind(), ErrorKind::Config);
    let zero = OpenRouter::builder()
        .api_key(KEY.to_owned().into())
        .request_timeout(std::time::Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(zero.kind(), ErrorKind::Config);
    let client = OpenRouter::builder()
        .api_key(KEY.to_owned().into())
        .build()
        .unwrap();
    for text in [
        format!("{client:?}"),
        format!("{:?}", OpenRouter::builder().api_key(KEY.to_owned().into())),
        bad_url.to_string(),
        bad_header.to_string(),
    ] {
        assert!(!text.contains(KEY), "{text}");
    }
    assert_eq!(client.base_url(), "https://openrouter.ai/api/v1");
}

#[tokio::test]
async fn the_generation_id_header_fills_a_missing_id() {
    let server = MockServer::start().await;
    let mut body = completion("a/b", "ok");
    body.as_object_mut().unwrap().remove("id");
    body.as_object_mut().unwrap().remove("usage");
    on_chat(
        &server,
        ResponseTemplate::new(200)
            .set_body_json(body)
            .insert_header("X-Generation-Id", "gen-from-header"),
    )
    .await;
    let response = client(&server)
        .chat(&ChatRequest::new(vec![Message::user("hi")]))
        .await
        .unwrap();
    assert_eq!(response.id, "gen-from-header");
    assert_eq!(response.usage, None);
}

#[tokio::test]
async fn tool_calls_and_reasoning_are_kept() {
    let server = MockServer::start().await;
    on_chat(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({
            "id": "gen-2", "model": "a/b",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null, "reasoning": "think",
                "tool_calls": [{"id": "call_1", "type": "function",
                                "function": {"name": "lookup", "arguments": "{\"q\":1}"}}]}}]
        })),
    )
    .await;
    let response = client(&server)
        .chat(&ChatRequest::new(vec![Message::user("hi")]))
        .await
        .unwrap();
    let message = &response.choices[0].message;
    assert_eq!(message.tool_calls.len(), 1);
    assert_eq!(message.tool_calls[0].function.name, "lookup");
    assert_eq!(message.reasoning.as_deref(), Some("think"));
    assert_eq!(response.finish_reason(), Some(&FinishReason::ToolCalls));
}
