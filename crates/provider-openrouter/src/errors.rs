//! The one place where an OpenRouter failure becomes a core [`Error`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use orchestra_core::{Error, ErrorKind, RateLimitScope, Secret};
use orchestra_openai_compat::{
    ErrorMapper, Failure, body_message, mentions_context_length, parse_retry_after, truncate,
    wire::{Code, ErrorEnvelope, WireError},
};
use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

use crate::PROVIDER_NAME;

/// Longest message kept from an upstream body; the rest is cut.
const MAX_MESSAGE_CHARS: usize = 2_000;

/// OpenRouter's classification of failures, for the shared OpenAI-compatible code.
pub(crate) struct OpenRouterErrors {
    /// Scrubbed from every message, in case an upstream echoes it.
    pub(crate) api_key: Secret,
}

impl ErrorMapper for OpenRouterErrors {
    fn provider(&self) -> &str {
        PROVIDER_NAME
    }

    fn service(&self) -> &str {
        "OpenRouter"
    }

    fn map(&self, failure: Failure<'_>) -> Error {
        map_error(failure, Some(&self.api_key))
    }
}

/// Maps a failed response (status, headers, `error` body) to a classified [`Error`].
///
/// Precedence for the kind: `error.metadata.error_type` (or `error.error_type`), then
/// `error.availability.code`, then the HTTP status (or `error.code`), refined by the body
/// (context length on 400, moderation on 403, ...). The retry hint comes from
/// `Retry-After`, else `availability.retry_after`, else `X-RateLimit-Reset` (epoch ms, header
/// or `error.metadata.headers`).
fn map_error(failure: Failure<'_>, api_key: Option<&Secret>) -> Error {
    let parsed;
    let error = match failure.error {
        Some(error) => Some(error),
        None => {
            parsed = serde_json::from_slice::<ErrorEnvelope>(failure.body)
                .ok()
                .and_then(|envelope| envelope.error);
            parsed.as_ref()
        }
    };
    let metadata = error.and_then(|error| error.metadata.as_ref());

    let http_error_status = failure
        .http_status
        .filter(|status| !(200..300).contains(status));
    let code_status = error.and_then(|error| match error.code {
        Some(Code::Number(code)) => u16::try_from(code)
            .ok()
            .filter(|code| (100..=599).contains(code)),
        _ => None,
    });
    let status = http_error_status
        .or(code_status)
        .or_else(|| error.and_then(|error| error.http_status))
        .filter(|status| (100..=599).contains(status));

    let error_type = metadata
        .and_then(|metadata| metadata.get("error_type"))
        .and_then(Value::as_str)
        .or_else(|| error.and_then(|error| error.error_type.as_deref()))
        .or_else(|| {
            error.and_then(|error| match &error.code {
                Some(Code::Text(code)) => Some(code.as_str()),
                _ => None,
            })
        });
    let availability = error.and_then(|error| error.availability.as_ref());

    let upstream_message = error
        .and_then(|error| error.message.clone())
        .filter(|message| !message.trim().is_empty())
        .unwrap_or_else(|| body_message(failure.body, status));

    let mut kind = error_type
        .and_then(kind_from_error_type)
        .or_else(|| {
            availability.and_then(|availability| {
                availability
                    .code
                    .as_deref()
                    .and_then(kind_from_availability)
                    .or_else(|| {
                        availability
                            .retryable
                            .and_then(|r| r.then_some(ErrorKind::Server))
                    })
            })
        })
        .or_else(|| status.map(ErrorKind::from_status))
        // An in-band error without a status or a known type: an upstream failure.
        .unwrap_or(ErrorKind::Server);

    let lower = upstream_message.to_ascii_lowercase();
    if matches!(kind, ErrorKind::BadRequest) && mentions_context_length(&lower) {
        kind = ErrorKind::ContextLength;
    }
    if matches!(
        kind,
        ErrorKind::Auth | ErrorKind::BadRequest | ErrorKind::Server
    ) && is_moderation(&lower, metadata)
    {
        kind = ErrorKind::ContentPolicy;
    }

    let mut message = describe(kind, &upstream_message, metadata);
    if let Some(key) = api_key.map(Secret::expose).filter(|key| key.len() >= 4) {
        message = message.replace(key, Secret::REDACTED);
    }
    truncate(&mut message, MAX_MESSAGE_CHARS);

    let mut mapped = if kind == ErrorKind::RateLimited {
        Error::rate_limited(RateLimitScope::Upstream, message)
    } else {
        Error::new(kind, message)
    }
    .with_provider(PROVIDER_NAME);
    if let Some(status) = status {
        mapped = mapped.with_status(status);
    }
    if let Some(model) = failure.model {
        mapped = mapped.with_model(model);
    }
    if let Some(retry_after) = retry_after(failure.headers, error) {
        mapped = mapped.with_retry_after(retry_after);
    }
    if let Some(code) = error_type {
        mapped = mapped.with_upstream_code(code);
    }
    if kind == ErrorKind::InsufficientCredits
        && let Some(affordable) = parse_affordable(&upstream_message)
    {
        mapped = mapped.with_affordable_max_tokens(affordable);
    }
    mapped
}

/// `error_type` (the stable vocabulary of `ApiErrorType`) → kind; `None` when unknown.
fn kind_from_error_type(error_type: &str) -> Option<ErrorKind> {
    Some(match error_type {
        "context_length_exceeded" | "max_tokens_exceeded" | "token_limit_exceeded" => {
            ErrorKind::ContextLength
        }
        "string_too_long"
        | "invalid_request"
        | "invalid_prompt"
        | "precondition_failed"
        | "payload_too_large"
        | "unprocessable"
        | "invalid_image"
        | "image_too_large"
        | "image_too_small"
        | "unsupported_image_format"
        | "image_download_failed"
        | "image_not_found" => ErrorKind::BadRequest,
        "authentication" | "permission_denied" => ErrorKind::Auth,
        "payment_required" => ErrorKind::InsufficientCredits,
        "rate_limit_exceeded" | "rate_limit_error" => ErrorKind::RateLimited,
        "provider_overloaded" | "provider_unavailable" | "server" | "server_error" | "unmapped" => {
            ErrorKind::Server
        }
        "not_found" => ErrorKind::ModelNotFound,
        "content_policy_violation" | "refusal" => ErrorKind::ContentPolicy,
        "timeout" => ErrorKind::Timeout,
        _ => return None,
    })
}

/// `error.availability.code` → kind; `None` when unknown.
fn kind_from_availability(code: &str) -> Option<ErrorKind> {
    Some(match code {
        "capacity_exhausted" => ErrorKind::RateLimited,
        "temporarily_unavailable" => ErrorKind::Server,
        "model_not_found"
        | "wrong_endpoint"
        | "no_endpoints"
        | "model_deprecated"
        | "model_unavailable_upstream"
        | "region_restricted"
        | "privacy_restricted"
        | "constraint_filtered"
        | "free_variant_ended" => ErrorKind::ModelNotFound,
        _ => return None,
    })
}

fn is_moderation(lower: &str, metadata: Option<&Map<String, Value>>) -> bool {
    metadata.is_some_and(|metadata| {
        metadata.contains_key("reasons") || metadata.contains_key("flagged_input")
    }) || lower.contains("moderation")
        || lower.contains("was flagged")
        || lower.contains("flagged for")
}

/// The message people read: the upstream text, made useful.
fn describe(kind: ErrorKind, upstream: &str, metadata: Option<&Map<String, Value>>) -> String {
    let provider_name = metadata
        .and_then(|metadata| metadata.get("provider_name"))
        .and_then(Value::as_str);
    let generic = upstream
        .trim()
        .eq_ignore_ascii_case("provider returned error");
    let mut message = upstream.trim().to_owned();
    if generic {
        if let Some(provider) = provider_name {
            message.push_str(&format!(" (upstream provider {provider})"));
        }
        if let Some(raw) = metadata.and_then(|metadata| metadata.get("raw")) {
            let raw = match raw {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            if !raw.trim().is_empty() {
                message.push_str(": ");
                message.push_str(raw.trim());
            }
        }
    }
    if kind == ErrorKind::InsufficientCredits
        && let Some(affordable) = parse_affordable(upstream)
    {
        let requested = parse_after(upstream, "requested up to ")
            .map(|requested| format!(" of the {requested} requested"))
            .unwrap_or_default();
        message = format!(
            "can only afford {affordable} tokens{requested}: send max_tokens <= {affordable} \
                 or add credits (upstream: {message})"
        );
    }
    if upstream.contains("'models' array") {
        message = format!("too many server-side fallback models (OpenRouter allows 3): {message}");
    }
    message
}

/// `N` from OpenRouter's 402 text "... but can only afford N ...".
pub(crate) fn parse_affordable(message: &str) -> Option<u32> {
    parse_after(message, "can only afford ")
}

fn parse_after(message: &str, marker: &str) -> Option<u32> {
    let start = message.find(marker)? + marker.len();
    let digits: String = message[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `Retry-After` → `availability.retry_after` → `X-RateLimit-Reset` (header, then body).
fn retry_after(headers: Option<&HeaderMap>, error: Option<&WireError>) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .and_then(|headers| headers.get(name))
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    if let Some(value) = header("retry-after").and_then(parse_retry_after) {
        return Some(value);
    }
    if let Some(seconds) = error
        .and_then(|error| error.availability.as_ref())
        .and_then(|availability| availability.retry_after)
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
    {
        return Some(seconds);
    }
    if let Some(reset) = header("x-ratelimit-reset").and_then(parse_reset) {
        return Some(reset);
    }
    let body_headers = error
        .and_then(|error| error.metadata.as_ref())
        .and_then(|metadata| metadata.get("headers"))
        .and_then(Value::as_object)?;
    body_headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-ratelimit-reset"))
        .and_then(|(_, value)| match value {
            Value::String(text) => parse_reset(text),
            Value::Number(number) => parse_reset(&number.to_string()),
            _ => None,
        })
}

/// `X-RateLimit-Reset`: a Unix epoch in milliseconds (seconds if the number is small).
fn parse_reset(value: &str) -> Option<Duration> {
    let number: f64 = value.trim().parse().ok()?;
    if !number.is_finite() || number <= 0.0 {
        return None;
    }
    // Below 10^11 it cannot be milliseconds of this century: read it as seconds.
    let millis = if number < 1e11 {
        number * 1000.0
    } else {
        number
    };
    let reset = UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(millis / 1000.0).ok()?)?;
    Some(
        reset
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affordable_tokens_are_parsed() {
        let text = "This request requires more credits, or fewer max_tokens. You requested up to \
                    65536 tokens, but can only afford 30104. To increase, visit …";
        assert_eq!(parse_affordable(text), Some(30104));
        assert_eq!(parse_after(text, "requested up to "), Some(65536));
        assert_eq!(parse_affordable("Insufficient credits"), None);
    }

    #[test]
    fn reset_in_the_past_is_now() {
        assert_eq!(parse_reset("1000"), Some(Duration::ZERO));
    }
}
