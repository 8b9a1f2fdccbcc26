//! What every OpenAI-compatible provider needs to turn a failure into a core [`Error`]: the
//! [`ErrorMapper`] a provider implements, and the helpers that do not depend on the provider.

use std::time::{Duration, SystemTime};

use orchestra_core::{Error, ErrorKind};
use reqwest::header::HeaderMap;

use crate::wire::WireError;

/// Everything known about one failed response, handed to an [`ErrorMapper`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Failure<'a> {
    /// The HTTP status; `None` (or a 2xx) for errors inside a 200 body or a stream.
    pub http_status: Option<u16>,
    /// Response headers, when the error came with its own response.
    pub headers: Option<&'a HeaderMap>,
    /// The parsed `error` object, when the caller already has it.
    pub error: Option<&'a WireError>,
    /// The raw body; the mapper parses it when `error` is `None`.
    pub body: &'a [u8],
    /// The model the request was for.
    pub model: Option<&'a str>,
}

impl<'a> Failure<'a> {
    /// A failed HTTP response: its status, headers and (bounded) body.
    pub fn response(
        http_status: u16,
        headers: &'a HeaderMap,
        body: &'a [u8],
        model: Option<&'a str>,
    ) -> Self {
        Self {
            http_status: Some(http_status),
            headers: Some(headers),
            error: None,
            body,
            model,
        }
    }

    /// An error object found where an answer was expected: in a 200 body (with its status
    /// and headers) or in a stream (without).
    pub fn in_band(
        error: &'a WireError,
        http_status: Option<u16>,
        headers: Option<&'a HeaderMap>,
        model: Option<&'a str>,
    ) -> Self {
        Self {
            http_status,
            headers,
            error: Some(error),
            body: &[],
            model,
        }
    }
}

/// How one provider classifies its failures. The provider's own vocabulary (error types,
/// body shapes, retry hints) lives in its implementation; the shared code only calls it.
pub trait ErrorMapper: Send + Sync {
    /// The provider name errors carry (`openrouter`, `portkey`).
    fn provider(&self) -> &str;

    /// What people call the server, in transport messages (`OpenRouter`, `the Portkey
    /// gateway`).
    fn service(&self) -> &str;

    /// Maps a failed response or an in-band error to a classified [`Error`]. It must never
    /// put a credential in the message.
    fn map(&self, failure: Failure<'_>) -> Error;

    /// Maps a transport failure (no HTTP response, or a body that broke off).
    fn transport(&self, error: reqwest::Error, model: Option<&str>) -> Error {
        transport_error(self.provider(), self.service(), error, model)
    }

    /// A decode failure of a successful response.
    fn decode(&self, what: &str, cause: Option<serde_json::Error>, model: Option<&str>) -> Error {
        decode_error(self.provider(), what, cause, model)
    }
}

/// Maps a transport failure of a request to `service` (no HTTP response, or a body that
/// broke off) to `Timeout`, `Connection`, `Decode` or `Config`.
pub fn transport_error(
    provider: &str,
    service: &str,
    error: reqwest::Error,
    model: Option<&str>,
) -> Error {
    let (kind, message) = if error.is_timeout() {
        (
            ErrorKind::Timeout,
            "no response within the request timeout".to_owned(),
        )
    } else if error.is_connect() {
        (
            ErrorKind::Connection,
            format!("could not connect to {service}"),
        )
    } else if error.is_decode() {
        (
            ErrorKind::Decode,
            "could not decode the response body".to_owned(),
        )
    } else if error.is_body() {
        (
            ErrorKind::Connection,
            "the connection broke while reading the response".to_owned(),
        )
    } else if error.is_builder() {
        (
            ErrorKind::Config,
            "could not build the HTTP request".to_owned(),
        )
    } else {
        (ErrorKind::Connection, "the HTTP request failed".to_owned())
    };
    let mut mapped = Error::new(kind, message)
        .with_provider(provider)
        .with_source(error);
    if let Some(model) = model {
        mapped = mapped.with_model(model);
    }
    mapped
}

/// A [`ErrorKind::Decode`] failure of a successful response.
pub fn decode_error(
    provider: &str,
    what: &str,
    cause: Option<serde_json::Error>,
    model: Option<&str>,
) -> Error {
    let mut error = Error::new(ErrorKind::Decode, what.to_owned()).with_provider(provider);
    if let Some(cause) = cause {
        error = error.with_source(cause);
    }
    if let Some(model) = model {
        error = error.with_model(model);
    }
    error
}

/// `Retry-After`: delay-seconds (fractions tolerated) or an HTTP-date.
///
/// ```
/// use std::time::Duration;
/// use orchestra_openai_compat::parse_retry_after;
///
/// assert_eq!(parse_retry_after("1.5"), Some(Duration::from_millis(1500)));
/// assert_eq!(parse_retry_after("soon"), None);
/// ```
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Whether an (ASCII-lowercased) error message is about the context window.
pub fn mentions_context_length(lower: &str) -> bool {
    [
        "context length",
        "context_length",
        "context window",
        "maximum context",
        "prompt is too long",
        "too many tokens",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// The body as a message when it has no `error.message`: its text, cut to 500 characters,
/// or a note that it was empty.
pub fn body_message(body: &[u8], status: Option<u16>) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        status.map_or_else(
            || "unknown error".to_owned(),
            |status| format!("HTTP {status} with an empty body"),
        )
    } else {
        let mut text = text.to_owned();
        truncate(&mut text, 500);
        text
    }
}

/// Cuts `text` to `max_chars` characters (on a character boundary), marking the cut with `…`.
pub fn truncate(text: &mut String, max_chars: usize) {
    if let Some((index, _)) = text.char_indices().nth(max_chars) {
        text.truncate(index);
        text.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("20"), Some(Duration::from_secs(20)));
        assert_eq!(parse_retry_after("1.5"), Some(Duration::from_millis(1500)));
        let later = SystemTime::now() + Duration::from_secs(120);
        let date = httpdate::fmt_http_date(later);
        let parsed = parse_retry_after(&date).unwrap();
        assert!(parsed > Duration::from_secs(100) && parsed <= Duration::from_secs(120));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let mut text = "é".repeat(10);
        truncate(&mut text, 4);
        assert_eq!(text, "éééé…");
    }
}
