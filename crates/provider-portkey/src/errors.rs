//! The one place where a gateway failure becomes a core [`Error`].
//!
//! | body | kind |
//! |---|---|
//! | `{"status":"failure","message":…}` with 400 | `config` when it is about the config, provider or host we sent; else `bad_request` |
//! | `{"status":"failure",…}` with 5xx (`x-portkey-gateway-exception`) | `server` |
//! | `{"html-message":"… fetch failed … ECONNREFUSED …"}` | `connection` (`timeout` for timeouts, else `server`) |
//! | `{"error":{"message":"openai error: …","type","code"},"provider"}` | by status, refined by `type`/`code` |
//! | 408 `timeout_error` | `timeout` |
//! | 412 (budget exhausted) | `insufficient_credits` |
//! | 446 (guardrail denied) | `content_policy` |

use std::time::Duration;

use orchestra_core::{Error, ErrorKind, RateLimitScope, Secret};
use orchestra_openai_compat::{
    ErrorMapper, Failure, body_message, mentions_context_length, parse_retry_after, truncate,
    wire::{Code, WireError},
};
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::PROVIDER_NAME;

/// Longest message kept from a gateway body.
const MAX_MESSAGE_CHARS: usize = 2_000;

/// The gateway's classification of failures. Holds every credential of the client so that
/// none can ever appear in a message.
pub(crate) struct PortkeyErrors {
    pub(crate) secrets: Vec<Secret>,
}

impl ErrorMapper for PortkeyErrors {
    fn provider(&self) -> &str {
        PROVIDER_NAME
    }

    fn service(&self) -> &str {
        "the Portkey gateway"
    }

    fn map(&self, failure: Failure<'_>) -> Error {
        let mut mapped = classify(&failure);
        let mut message = mapped.message.clone();
        for secret in &self.secrets {
            let secret = secret.expose();
            if secret.len() >= 4 {
                message = message.replace(secret, Secret::REDACTED);
            }
        }
        truncate(&mut message, MAX_MESSAGE_CHARS);
        mapped.message = message;
        mapped.into_error(failure.headers, failure.model)
    }
}

/// A classified failure before it becomes an [`Error`].
struct Mapped {
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
    code: Option<String>,
}

impl Mapped {
    fn into_error(self, headers: Option<&HeaderMap>, model: Option<&str>) -> Error {
        let mut error = if self.kind == ErrorKind::RateLimited {
            Error::rate_limited(RateLimitScope::Upstream, self.message)
        } else {
            Error::new(self.kind, self.message)
        }
        .with_provider(PROVIDER_NAME);
        if let Some(status) = self.status {
            error = error.with_status(status);
        }
        if let Some(model) = model {
            error = error.with_model(model);
        }
        if let Some(code) = self.code {
            error = error.with_upstream_code(code);
        }
        if let Some(wait) = headers.and_then(retry_after) {
            error = error.with_retry_after(wait);
        }
        error
    }
}

fn classify(failure: &Failure<'_>) -> Mapped {
    let http_status = failure
        .http_status
        .filter(|status| !(200..300).contains(status));
    if let Some(error) = failure.error {
        return provider_error(error, None, http_status);
    }
    let body: Value = serde_json::from_slice(failure.body).unwrap_or(Value::Null);
    if let Some(error) = body.get("error").filter(|error| error.is_object()) {
        let wire: WireError = serde_json::from_value(error.clone()).unwrap_or_default();
        let provider = body.get("provider").and_then(Value::as_str);
        return provider_error(&wire, provider, http_status);
    }
    if body.get("status").and_then(Value::as_str) == Some("failure") {
        return gateway_failure(&body, http_status, failure.headers);
    }
    if let Some(text) = body.get("html-message").and_then(Value::as_str) {
        return transport_failure(text, http_status);
    }
    let status = http_status;
    Mapped {
        kind: status.map_or(ErrorKind::Server, kind_of_status),
        message: body_message(failure.body, status),
        status,
        code: None,
    }
}

/// Statuses with a Portkey meaning first, then the usual ones.
fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        412 => ErrorKind::InsufficientCredits,
        446 => ErrorKind::ContentPolicy,
        _ => ErrorKind::from_status(status),
    }
}

/// `{"error":{…},"provider":"openai"}`: an upstream provider's error passed through, or the
/// gateway's own timeout (`timeout_error`).
fn provider_error(error: &WireError, provider: Option<&str>, http_status: Option<u16>) -> Mapped {
    let code_status = match error.code {
        Some(Code::Number(code)) => u16::try_from(code)
            .ok()
            .filter(|code| (100..=599).contains(code)),
        _ => None,
    };
    let status = http_status.or(code_status);
    let code_text = match &error.code {
        Some(Code::Text(code)) => Some(code.as_str()),
        _ => None,
    };
    let mut message = error
        .message
        .clone()
        .filter(|message| !message.trim().is_empty())
        .unwrap_or_else(|| {
            status.map_or_else(|| "unknown error".to_owned(), |s| format!("HTTP {s}"))
        });
    // The gateway prefixes provider messages with "<provider> error: " (also in streams and
    // 200 bodies, where the body names no provider).
    let prefix = message
        .split_once(" error: ")
        .map(|(slug, rest)| (slug.to_owned(), rest.to_owned()));
    if let Some((slug, rest)) = prefix
        && (provider == Some(slug.as_str())
            || orchestra_config::PORTKEY_PROVIDERS.contains(&slug.as_str()))
    {
        message = format!("{rest} (via {slug})");
    }
    let by_status = status.map(kind_of_status);
    let by_code = code_text
        .and_then(kind_of_code)
        .or_else(|| error.kind.as_deref().and_then(kind_of_code));
    let mut kind = match (by_status, by_code) {
        // Portkey's own statuses say more than a provider's code.
        (
            Some(
                kind @ (ErrorKind::InsufficientCredits
                | ErrorKind::ContentPolicy
                | ErrorKind::Timeout),
            ),
            _,
        ) => kind,
        (_, Some(kind)) => kind,
        (Some(kind), None) => kind,
        (None, None) => ErrorKind::Server,
    };
    let lower = message.to_ascii_lowercase();
    if kind == ErrorKind::BadRequest && mentions_context_length(&lower) {
        kind = ErrorKind::ContextLength;
    }
    Mapped {
        kind,
        message,
        status,
        code: code_text.or(error.kind.as_deref()).map(str::to_owned),
    }
}

/// OpenAI's error codes and types (and Portkey's `timeout_error`).
fn kind_of_code(code: &str) -> Option<ErrorKind> {
    Some(match code {
        "timeout_error" | "timeout" => ErrorKind::Timeout,
        "insufficient_quota" | "payment_required" => ErrorKind::InsufficientCredits,
        "rate_limit_exceeded" | "rate_limit_error" => ErrorKind::RateLimited,
        "context_length_exceeded" | "string_above_max_length" => ErrorKind::ContextLength,
        "invalid_api_key" | "authentication_error" | "permission_error" => ErrorKind::Auth,
        "model_not_found" | "not_found_error" => ErrorKind::ModelNotFound,
        "content_policy_violation" | "content_filter" => ErrorKind::ContentPolicy,
        "server_error" | "api_error" | "overloaded_error" | "service_unavailable" => {
            ErrorKind::Server
        }
        _ => return None,
    })
}

/// `{"status":"failure","message":…,"errors":[…]}`: the gateway refused the request itself.
fn gateway_failure(body: &Value, http_status: Option<u16>, headers: Option<&HeaderMap>) -> Mapped {
    let mut message = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the gateway refused the request")
        .to_owned();
    let details: Vec<&str> = body
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| errors.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !details.is_empty() {
        message = format!("{message}: {}", details.join("; "));
    }
    let exception = headers
        .and_then(|headers| headers.get("x-portkey-gateway-exception"))
        .and_then(|value| value.to_str().ok())
        == Some("true");
    let lower = message.to_ascii_lowercase();
    let about_what_we_sent = ["config", "provider", "custom host", "x-portkey", "mode"]
        .iter()
        .any(|needle| lower.contains(needle));
    let kind = match http_status {
        _ if exception => ErrorKind::Server,
        Some(400) if about_what_we_sent => ErrorKind::Config,
        Some(status) => kind_of_status(status),
        None => ErrorKind::Server,
    };
    Mapped {
        kind,
        message: format!("the gateway refused the request: {message}"),
        status: http_status,
        code: Some(
            if exception {
                "gateway_exception"
            } else {
                "gateway_validation"
            }
            .to_owned(),
        ),
    }
}

/// `{"html-message":"Message: fetch failed Cause: …"}`: the gateway could not talk to the
/// upstream, or threw.
fn transport_failure(text: &str, http_status: Option<u16>) -> Mapped {
    let lower = text.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|needle| lower.contains(needle));
    let (kind, what) = if has(&["etimedout", "timed out", "timeouterror", "aborted"]) {
        (ErrorKind::Timeout, "the upstream did not answer in time")
    } else if has(&[
        "fetch failed",
        "econnrefused",
        "econnreset",
        "enotfound",
        "eai_again",
        "socket hang up",
        "bad port",
    ]) {
        (
            ErrorKind::Connection,
            "the gateway could not reach the upstream",
        )
    } else {
        (ErrorKind::Server, "the gateway failed")
    };
    Mapped {
        kind,
        message: format!("{what}: {}", text.trim()),
        status: http_status,
        code: Some("gateway_upstream_failure".to_owned()),
    }
}

/// `retry-after-ms`, `x-ms-retry-after-ms`, then `retry-after` (passed through from the
/// upstream by the gateway).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(millis) = header(name).and_then(|value| value.parse::<f64>().ok())
            && let Ok(wait) = Duration::try_from_secs_f64(millis / 1000.0)
        {
            return Some(wait);
        }
    }
    header("retry-after").and_then(parse_retry_after)
}
