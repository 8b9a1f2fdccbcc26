//! The HTTP client and base URL checks every provider's builder needs.

use std::time::Duration;

use orchestra_core::Error;
use reqwest::header::HeaderMap;

/// Validates an `http(s)://host/path` base URL and returns it without a trailing slash;
/// `what` names it in the error (`OpenRouter base URL`).
///
/// ```
/// use orchestra_openai_compat::base_url;
///
/// assert_eq!(base_url("http://127.0.0.1:8787/v1/", "gateway URL").unwrap(), "http://127.0.0.1:8787/v1");
/// assert!(base_url("ftp://example.test", "gateway URL").is_err());
/// ```
///
/// # Errors
///
/// [`ErrorKind::Config`](orchestra_core::ErrorKind::Config) for anything else.
pub fn base_url(url: &str, what: &str) -> Result<String, Error> {
    let parsed = url::Url::parse(url.trim())
        .map_err(|error| Error::config(format!("invalid {what} `{url}`: {error}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.cannot_be_a_base() {
        return Err(Error::config(format!(
            "invalid {what} `{url}`: expected http(s)://host/path"
        )));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// One connection pool with orchestra's user agent, `headers` on every request, a connect
/// timeout of `request_timeout`, and, when given, a read timeout (the idle limit between
/// two reads of a body).
///
/// # Errors
///
/// [`ErrorKind::Config`](orchestra_core::ErrorKind::Config) for a zero timeout or when the
/// TLS backend cannot start.
pub fn http_client(
    request_timeout: Duration,
    headers: HeaderMap,
    read_timeout: Option<Duration>,
) -> Result<reqwest::Client, Error> {
    http_client_builder(request_timeout, headers, read_timeout)?
        .build()
        .map_err(|error| Error::config("could not build the HTTP client").with_source(error))
}

/// The builder [`http_client`] builds, for a provider to add its own options (such as
/// HTTP/2 with prior knowledge) first.
///
/// # Errors
///
/// [`ErrorKind::Config`](orchestra_core::ErrorKind::Config) for a zero timeout.
pub fn http_client_builder(
    request_timeout: Duration,
    headers: HeaderMap,
    read_timeout: Option<Duration>,
) -> Result<reqwest::ClientBuilder, Error> {
    if request_timeout.is_zero() {
        return Err(Error::config(
            "the request timeout must be greater than zero",
        ));
    }
    let mut builder = reqwest::Client::builder()
        .default_headers(headers)
        .user_agent(concat!("orchestra-llm/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(request_timeout);
    if let Some(read_timeout) = read_timeout {
        builder = builder.read_timeout(read_timeout);
    }
    Ok(builder)
}
