//! Every error status and body shape → a typed error, over real HTTP.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use orchestra_core::{ChatRequest, ErrorKind, Message, Provider, RateLimitScope};
use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate};

use crate::support::{KEY, builder, client, on_chat};

fn request() -> ChatRequest {
    ChatRequest::new(vec![Message::user("hi")]).max_tokens(65536)
}

fn error_body(code: u16, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "metadata": {"provider_name": null}},
           "user_id": "user_1"})
}

struct Case {
    name: &'static str,
    response: ResponseTemplate,
    kind: ErrorKind,
    status: Option<u16>,
    retry_after: Option<Duration>,
    message_contains: &'static str,
}

fn case(name: &'static str, response: ResponseTemplate, kind: ErrorKind) -> Case {
    let status = Some(response_status(name));
    Case {
        name,
        response,
        kind,
        status,
        retry_after: None,
        message_contains: "",
    }
}

/// Cases are named `<status>-...`.
fn response_status(name: &str) -> u16 {
    name[..3].parse().unwrap()
}

fn json(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn cases() -> Vec<Case> {
    let in_an_hour_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 3_600_000;
    let http_date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(90));
    vec![
        case(
            "400-generic",
            json(400, error_body(400, "temperature must be ≤ 2")),
            ErrorKind::BadRequest,
        ),
        Case {
            message_contains: "maximum context length",
            ..case(
                "400-context",
                json(
                    400,
                    error_body(
                        400,
                        "This endpoint's maximum context length is 8192 tokens. However, you requested about 9000 tokens.",
                    ),
                ),
                ErrorKind::ContextLength,
            )
        },
        Case {
            message_contains: "OpenRouter allows 3",
            ..case(
                "400-models",
                json(
                    400,
                    error_body(400, "'models' array must have 3 items or fewer."),
                ),
                ErrorKind::BadRequest,
            )
        },
        case(
            "400-error-type",
            json(
                400,
                json!({"error": {"code": 400, "message": "blocked", "metadata": {"error_type": "content_policy_violation"}}}),
            ),
            ErrorKind::ContentPolicy,
        ),
        case(
            "401-auth",
            json(401, error_body(401, "Missing Authentication header")),
            ErrorKind::Auth,
        ),
        Case {
            message_contains: "can only afford 30104 tokens of the 65536 requested",
            ..case(
                "402-afford",
                json(
                    402,
                    error_body(
                        402,
                        "This request requires more credits, or fewer max_tokens. You requested up to 65536 tokens, but can only afford 30104. To increase, visit https://openrouter.ai/settings/credits and upgrade to a paid account",
                    ),
                ),
                ErrorKind::InsufficientCredits,
            )
        },
        case(
            "403-moderation",
            json(
                403,
                json!({"error": {"code": 403, "message": "Input was flagged", "metadata": {"reasons": ["violence"], "flagged_input": "…", "provider_name": "OpenAI", "model_slug": "openai/gpt-4o"}}}),
            ),
            ErrorKind::ContentPolicy,
        ),
        case(
            "403-permission",
            json(
                403,
                error_body(403, "Only management keys can perform this operation"),
            ),
            ErrorKind::Auth,
        ),
        case(
            "404-no-endpoints",
            json(
                404,
                error_body(404, "No endpoints found that support tool use"),
            ),
            ErrorKind::ModelNotFound,
        ),
        case(
            "408-timeout",
            json(408, error_body(408, "Request timed out")),
            ErrorKind::Timeout,
        ),
        case(
            "413-too-large",
            json(413, error_body(413, "Payload too large")),
            ErrorKind::BadRequest,
        ),
        case(
            "422-unprocessable",
            json(422, error_body(422, "Unprocessable")),
            ErrorKind::BadRequest,
        ),
        Case {
            retry_after: Some(Duration::from_secs(20)),
            ..case(
                "429-retry-after-seconds",
                json(
                    429,
                    error_body(429, "Rate limit exceeded: free-models-per-minute"),
                )
                .insert_header("Retry-After", "20"),
                ErrorKind::RateLimited,
            )
        },
        Case {
            retry_after: Some(Duration::from_secs(90)),
            ..case(
                "429-retry-after-date",
                json(429, error_body(429, "Rate limit exceeded"))
                    .insert_header("Retry-After", http_date.as_str()),
                ErrorKind::RateLimited,
            )
        },
        Case {
            retry_after: Some(Duration::from_secs(40)),
            message_contains: "at capacity",
            ..case(
                "429-availability",
                json(
                    429,
                    json!({"error": {
                    "message": "All providers for anthropic/claude-sonnet-4.5 are at capacity. Retry after 40 seconds.",
                    "error_type": "rate_limit_exceeded", "http_status": 429,
                    "availability": {"code": "capacity_exhausted", "retryable": true, "retry_after": 40}}}),
                ),
                ErrorKind::RateLimited,
            )
        },
        Case {
            retry_after: Some(Duration::from_secs(3600)),
            ..case(
                "429-reset-header",
                json(
                    429,
                    error_body(429, "Rate limit exceeded: free-models-per-day"),
                )
                .insert_header("X-RateLimit-Reset", in_an_hour_ms.to_string().as_str()),
                ErrorKind::RateLimited,
            )
        },
        Case {
            retry_after: Some(Duration::from_secs(3600)),
            ..case(
                "429-reset-in-body",
                json(
                    429,
                    json!({"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-day",
                    "metadata": {"headers": {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0",
                                             "X-RateLimit-Reset": in_an_hour_ms.to_string()}}}}),
                ),
                ErrorKind::RateLimited,
            )
        },
        case(
            "500-internal",
            json(500, error_body(500, "Internal Server Error")),
            ErrorKind::Server,
        ),
        Case {
            message_contains: "Provider returned error (upstream provider Mistral): upstream said: model overloaded",
            ..case(
                "502-provider-returned-error",
                json(
                    502,
                    json!({"error": {"code": 502, "message": "Provider returned error",
                    "metadata": {"provider_name": "Mistral", "raw": "upstream said: model overloaded"}}}),
                ),
                ErrorKind::Server,
            )
        },
        Case {
            retry_after: Some(Duration::from_secs(3)),
            ..case(
                "503-no-provider",
                json(503, error_body(503, "No instances available"))
                    .insert_header("Retry-After", "3"),
                ErrorKind::Server,
            )
        },
        case(
            "524-edge-timeout",
            json(524, error_body(524, "Provider timed out")),
            ErrorKind::Timeout,
        ),
        case(
            "529-overloaded",
            json(529, error_body(529, "Provider overloaded")),
            ErrorKind::Server,
        ),
        Case {
            message_contains: "<html>Bad gateway</html>",
            ..case(
                "502-html",
                ResponseTemplate::new(502).set_body_string("<html>Bad gateway</html>"),
                ErrorKind::Server,
            )
        },
        Case {
            message_contains: "This content was flagged",
            ..case(
                "502-in-200-body",
                json(
                    200,
                    json!({"error": {"message": "This content was flagged for moderation", "code": 502}}),
                ),
                ErrorKind::ContentPolicy,
            )
        },
        case(
            "429-in-200-body",
            json(
                200,
                json!({"error": {"message": "Rate limit exceeded", "code": 429}, "user_id": "u"}),
            ),
            ErrorKind::RateLimited,
        ),
        Case {
            message_contains: "Upstream timeout",
            ..case(
                "500-choice-error",
                json(
                    200,
                    json!({"id": "gen-3", "model": "a/b", "choices": [{"index": 0, "finish_reason": "error",
                    "message": {"role": "assistant", "content": "partial"},
                    "error": {"code": 500, "message": "Upstream timeout"}}]}),
                ),
                ErrorKind::Server,
            )
        },
    ]
}

#[tokio::test]
async fn every_status_and_body_shape_maps_to_a_typed_error() {
    let mut report = Vec::new();
    for case in cases() {
        let server = MockServer::start().await;
        on_chat(&server, case.response).await;
        let error = client(&server).chat(&request()).await.unwrap_err();
        let name = case.name;
        assert_eq!(error.kind(), case.kind, "{name}: {error}");
        assert_eq!(error.status(), case.status, "{name}: {error}");
        assert_eq!(error.provider(), Some("openrouter"), "{name}");
        assert_eq!(error.model(), Some("openai/gpt-4o"), "{name}");
        assert!(
            error.to_string().contains(case.message_contains),
            "{name}: {error}"
        );
        match (case.retry_after, error.retry_after()) {
            (None, None) => {}
            (Some(expected), Some(actual)) => assert!(
                actual <= expected && actual + Duration::from_secs(2) >= expected,
                "{name}: retry after {actual:?}, expected {expected:?}"
            ),
            (expected, actual) => panic!("{name}: retry after {actual:?}, expected {expected:?}"),
        }
        if error.kind() == ErrorKind::RateLimited {
            assert_eq!(
                error.rate_limit_scope(),
                Some(RateLimitScope::Upstream),
                "{name}"
            );
        }
        if !name.contains("retry-after-date") && !name.contains("reset") {
            report.push(format!("{name}: {error}"));
        }
    }
    insta::assert_snapshot!("error_messages", report.join("\n"));
}

#[tokio::test]
async fn the_402_says_how_many_tokens_are_affordable() {
    let server = MockServer::start().await;
    on_chat(
        &server,
        json(402, error_body(402, "This request requires more credits, or fewer max_tokens. You requested up to 65536 tokens, but can only afford 30104. To increase, visit https://openrouter.ai/settings/credits")),
    )
    .await;
    let error = client(&server).chat(&request()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InsufficientCredits);
    assert!(!error.is_retryable());
    assert_eq!(error.affordable_max_tokens(), Some(30104));
}

#[tokio::test]
async fn the_key_never_appears_in_errors() {
    let server = MockServer::start().await;
    on_chat(
        &server,
        json(401, error_body(401, &format!("Key {KEY} is disabled"))),
    )
    .await;
    let error = client(&server).chat(&request()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Auth);
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains(KEY), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }
}

#[tokio::test]
async fn transport_failures_are_connection_timeout_and_decode() {
    // Connection refused: a port that was just free.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let refused = orchestra_provider_openrouter::OpenRouter::builder()
        .api_key(KEY.to_owned().into())
        .base_url(format!("http://{address}/api/v1"))
        .build()
        .unwrap()
        .chat(&request())
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Connection, "{refused}");

    let server = MockServer::start().await;
    on_chat(
        &server,
        ResponseTemplate::new(200)
            .set_body_json(crate::support::completion("a/b", "late"))
            .set_delay(Duration::from_secs(2)),
    )
    .await;
    let started = std::time::Instant::now();
    let timeout = builder(&server)
        .request_timeout(Duration::from_millis(200))
        .build()
        .unwrap()
        .chat(&request())
        .await
        .unwrap_err();
    assert_eq!(timeout.kind(), ErrorKind::Timeout, "{timeout}");
    assert!(started.elapsed() < Duration::from_secs(1));

    let server = MockServer::start().await;
    on_chat(
        &server,
        ResponseTemplate::new(200).set_body_string("{not json"),
    )
    .await;
    let decode = client(&server).chat(&request()).await.unwrap_err();
    assert_eq!(decode.kind(), ErrorKind::Decode, "{decode}");

    let server = MockServer::start().await;
    on_chat(&server, json(200, json!({"id": "gen", "choices": []}))).await;
    let empty = client(&server).chat(&request()).await.unwrap_err();
    assert_eq!(empty.kind(), ErrorKind::Decode, "{empty}");
}
