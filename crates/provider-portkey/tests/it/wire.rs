//! The exact bytes sent (config JSON, headers), and every gateway error shape → ErrorKind,
//! against wiremock standing in for the gateway.

use orchestra_config::{MapEnv, Settings};
use orchestra_core::{ChatRequest, Message, Provider};
use orchestra_provider_portkey::Portkey;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

const OPENAI_KEY: &str = "sk-openai-env-key-0123";

/// The origin documents' Portkey configuration, pointed at `base_url`.
fn settings(base_url: &str, strategy: &str) -> Settings {
    let env = MapEnv::from_iter([
        ("PREFERRED_LLM_PROVIDER", "portkey"),
        ("PORTKEY_API_KEY", "pk-portkey-key-0123"),
        ("PORTKEY_BASE_URL", base_url),
        (
            "PORTKEY_FALLBACKS",
            r#"[
  {"provider":"openai", "model":"gpt-4o-mini", "weight": 70},
  {"provider":"groq", "model":"mixtral-8x7b-32768", "weight": 20, "api_key": "gsk-groq-key-0123",
   "retry": {"attempts": 5, "on_status_codes": [503]}, "override_params": {"temperature": 0.2}},
  {"provider":"openrouter", "model":"google/gemini-2.5-flash:free", "weight": 10,
   "custom_host": "http://127.0.0.1:9/api/v1"}
]"#,
        ),
        ("PORTKEY_STRATEGY", strategy),
        ("PORTKEY_CACHE_ENABLED", "true"),
        ("TRACE_ID", "checkout-agent-42"),
        ("VIRTUAL_KEY", "vk-virtual-key-0123"),
        ("OPENAI_API_KEY", OPENAI_KEY),
        ("LLM_MAX_RETRIES", "2"),
        ("LLM_RETRYABLE_ERRORS", "rate_limit_error,service_error"),
        ("LLM_REQUEST_TIMEOUT", "12.5"),
    ]);
    Settings::load(&env).unwrap().settings
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![Message::user("hi")])
        .agent_type("researcher")
        .max_tokens(32)
}

fn completion() -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "hello"}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    })
}

#[tokio::test(flavor = "current_thread")]
async fn config_json_for_each_strategy() {
    let base = "http://127.0.0.1:8787/v1";
    let fallback = Portkey::from_settings(&settings(base, "fallback")).unwrap();
    insta::assert_json_snapshot!("config_fallback", fallback.config_for(&request()).await);
    let loadbalance = Portkey::from_settings(&settings(base, "loadbalance")).unwrap();
    insta::assert_json_snapshot!(
        "config_loadbalance",
        loadbalance.config_for(&request()).await
    );
    // A request that names a model puts it first, the configured group after it.
    let pinned = request().model("anthropic/claude-3-opus");
    insta::assert_json_snapshot!(
        "config_loadbalance_pinned",
        loadbalance.config_for(&pinned).await
    );
    let debug = format!("{fallback:?} {loadbalance:?}");
    for secret in [
        OPENAI_KEY,
        "gsk-groq-key",
        "pk-portkey-key",
        "vk-virtual-key",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked into Debug");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn headers_and_body_sent_to_the_gateway() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(completion())
                .insert_header("x-portkey-last-used-option-index", "config.targets[0]")
                .insert_header("x-portkey-cache-status", "SEMANTIC HIT")
                .insert_header("x-portkey-retry-attempt-count", "0"),
        )
        .mount(&server)
        .await;
    let portkey =
        Portkey::from_settings(&settings(&format!("{}/v1", server.uri()), "fallback")).unwrap();
    let response = portkey.chat(&request()).await.unwrap();
    assert!(matches!(
        response.metadata.cache,
        orchestra_core::CacheStatus::SemanticHit { .. }
    ));
    let received = server.received_requests().await.unwrap();
    let sent = &received[0];
    let mut headers: Vec<(String, String)> = sent
        .headers
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "host" | "content-length" | "user-agent" | "accept"
            )
        })
        .map(|(name, value)| {
            let value = value.to_str().unwrap().to_owned();
            let value = match name.as_str() {
                "x-portkey-config" => "<the config, checked below>".to_owned(),
                "x-portkey-api-key" => {
                    assert_eq!(value, "pk-portkey-key-0123");
                    "<PORTKEY_API_KEY>".to_owned()
                }
                "x-portkey-virtual-key" => {
                    assert_eq!(value, "vk-virtual-key-0123");
                    "<VIRTUAL_KEY>".to_owned()
                }
                _ => value,
            };
            (name.to_string(), value)
        })
        .collect();
    headers.sort();
    insta::assert_yaml_snapshot!("request_headers", headers);

    // The config header carries the real keys (the gateway needs them); the redacted view is
    // the same JSON otherwise.
    let config: Value = serde_json::from_str(
        sent.headers
            .get("x-portkey-config")
            .unwrap()
            .to_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(config["targets"][0]["api_key"], OPENAI_KEY);
    assert_eq!(config["targets"][1]["api_key"], "gsk-groq-key-0123");
    assert!(config["targets"][2].get("api_key").is_none());
    let mut redacted = config.clone();
    redacted["targets"][0]["api_key"] = json!("[redacted]");
    redacted["targets"][1]["api_key"] = json!("[redacted]");
    assert_eq!(redacted, portkey.config_for(&request()).await);

    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    insta::assert_json_snapshot!("request_body", body);
}

/// Header values are ASCII only: non-ASCII text in the config (here a stop word) and in the
/// metadata (the agent type) goes out as JSON `\u` escapes, which the gateway reads back
/// as the same text.
#[tokio::test(flavor = "current_thread")]
async fn non_ascii_config_and_metadata_are_escaped_not_dropped() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion()))
        .mount(&server)
        .await;
    let env = MapEnv::from_iter([
        ("PREFERRED_LLM_PROVIDER", "portkey"),
        ("PORTKEY_API_KEY", "pk-portkey-key-0123"),
        ("PORTKEY_BASE_URL", &*format!("{}/v1", server.uri())),
        (
            "PORTKEY_FALLBACKS",
            r#"[{"provider":"openai","model":"gpt-4o-mini","override_params":{"stop":["Ende ✓","🛑"]}}]"#,
        ),
        ("OPENAI_API_KEY", OPENAI_KEY),
    ]);
    let portkey = Portkey::from_settings(&Settings::load(&env).unwrap().settings).unwrap();
    let request = ChatRequest::new(vec![Message::user("hi")]).agent_type("Forscherin-Ä");
    portkey.chat(&request).await.unwrap();

    let received = server.received_requests().await.unwrap();
    let header = |name: &str| {
        let value = received[0].headers.get(name).unwrap().to_str().unwrap();
        assert!(value.is_ascii(), "{name}: {value}");
        serde_json::from_str::<Value>(value).unwrap()
    };
    let config = header("x-portkey-config");
    assert_eq!(
        config["targets"][0]["override_params"]["stop"],
        json!(["Ende ✓", "🛑"])
    );
    assert_eq!(header("x-portkey-metadata")["agent_type"], "Forscherin-Ä");
}

#[tokio::test(flavor = "current_thread")]
async fn every_error_shape_maps_to_a_kind() {
    let cases: Vec<(&str, ResponseTemplate)> = vec![
        (
            "config validation",
            ResponseTemplate::new(400).set_body_json(json!({"status": "failure",
                "message": "Invalid config passed",
                "errors": ["path: strategy,mode, message: Invalid 'mode' value. Must be one of: single, loadbalance, fallback, conditional"]})),
        ),
        (
            "content type",
            ResponseTemplate::new(400).set_body_json(json!({"status": "failure", "message": "Invalid content type passed"})),
        ),
        (
            "gateway exception",
            ResponseTemplate::new(500)
                .insert_header("x-portkey-gateway-exception", "true")
                .set_body_json(json!({"status": "failure", "message": "Something went wrong"})),
        ),
        (
            "connection refused",
            ResponseTemplate::new(500).set_body_json(json!({"html-message":
                "Message: fetch failed Cause: Error: connect ECONNREFUSED 127.0.0.1:39991 Name: TypeError"})),
        ),
        (
            "broken retry handler",
            ResponseTemplate::new(500).set_body_json(json!({"html-message":
                "Message: Cannot set properties of undefined (setting '_timeouts')"})),
        ),
        (
            "provider 429",
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .set_body_json(json!({"error": {"message": "openai error: Rate limit reached for gpt-4o-mini",
                    "type": "requests", "param": null, "code": "rate_limit_exceeded"}, "provider": "openai"})),
        ),
        (
            "provider quota",
            ResponseTemplate::new(429).set_body_json(json!({"error": {"message": "openai error: You exceeded your current quota",
                "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}, "provider": "openai"})),
        ),
        (
            "provider context length",
            ResponseTemplate::new(400).set_body_json(json!({"error": {"message": "openai error: This model's maximum context length is 8192 tokens",
                "type": "invalid_request_error", "param": "messages", "code": null}, "provider": "openai"})),
        ),
        (
            "provider auth",
            ResponseTemplate::new(401).set_body_json(json!({"error": {"message": "groq error: Invalid API Key",
                "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}, "provider": "groq"})),
        ),
        (
            "provider 503 retry-after-ms",
            ResponseTemplate::new(503)
                .insert_header("retry-after-ms", "1500")
                .set_body_json(json!({"error": {"message": "openrouter error: upstream overloaded",
                    "type": null, "param": null, "code": 503}, "provider": "openrouter"})),
        ),
        (
            "gateway timeout",
            ResponseTemplate::new(408).set_body_json(json!({"error": {"message": "Request exceeded the timeout sent in the request: 300ms",
                "type": "timeout_error", "param": null, "code": null}})),
        ),
        (
            "budget exhausted",
            ResponseTemplate::new(412).set_body_json(json!({"error": {"message": "Budget limit exceeded for this virtual key",
                "type": null, "param": null, "code": null}})),
        ),
        (
            "guardrail denied",
            ResponseTemplate::new(446).set_body_json(json!({"error": {"message": "The guardrail checks defined in the config failed",
                "type": "hooks_failed", "param": null, "code": null}})),
        ),
        (
            "error in a 200",
            ResponseTemplate::new(200).set_body_json(json!({"error": {"message": "openai error: server had an error",
                "type": "server_error", "param": null, "code": null}, "provider": "openai"})),
        ),
        ("not json", ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>")),
    ];
    let mut rows = Vec::new();
    for (name, response) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(
                response.insert_header("x-portkey-last-used-option-index", "config.targets[0]"),
            )
            .mount(&server)
            .await;
        let portkey =
            Portkey::from_settings(&settings(&format!("{}/v1", server.uri()), "fallback")).unwrap();
        let error = portkey.chat(&request()).await.unwrap_err();
        rows.push(json!({
            "case": name,
            "kind": error.kind().as_str(),
            "status": error.status(),
            "retry_after_ms": error.retry_after().map(|wait| wait.as_millis() as u64),
            "upstream_code": error.upstream_code(),
            "model": error.model(),
            "message": error.message(),
        }));
        assert!(!error.to_string().contains(OPENAI_KEY));
    }
    insta::assert_json_snapshot!("error_kinds", rows);
}
