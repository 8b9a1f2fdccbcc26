//! The one error type of the library, classified by [`ErrorKind`].

use std::{error::Error as StdError, fmt, str::FromStr, sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};

use crate::response::{Attempt, AttemptOutcome};

/// What went wrong, as a closed vocabulary shared by every provider and decorator.
///
/// Retry, fallback and monitoring decide on the kind, never on message text.
/// New kinds may be added in minor releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// HTTP 429 from upstream, or a request held back by a local quota
    /// (see [`Error::rate_limit_scope`]).
    RateLimited,
    /// No answer within the time limit (HTTP 408/504/524 or a local timeout).
    Timeout,
    /// The connection could not be made or broke before a response arrived.
    Connection,
    /// The upstream failed (HTTP 5xx, provider overloaded or unavailable).
    Server,
    /// The API key is missing, invalid, or lacks permission (HTTP 401/403).
    Auth,
    /// The account or key cannot pay for the request (HTTP 402).
    InsufficientCredits,
    /// The request is invalid and would fail again unchanged (HTTP 400/413/422).
    BadRequest,
    /// The prompt or completion was refused by moderation or a content policy.
    ContentPolicy,
    /// The prompt plus `max_tokens` exceeds the model's context window.
    ContextLength,
    /// The model does not exist or has no endpoint for this request (HTTP 404).
    ModelNotFound,
    /// The response could not be decoded.
    Decode,
    /// A stream ended or failed before it finished; the partial text is kept.
    StreamInterrupted,
    /// Every routing target failed; [`Error::attempts`] lists each one.
    AllTargetsFailed,
    /// The library is configured wrongly.
    Config,
    /// The provider does not offer this operation.
    Unsupported,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 15] = [
        ErrorKind::RateLimited,
        ErrorKind::Timeout,
        ErrorKind::Connection,
        ErrorKind::Server,
        ErrorKind::Auth,
        ErrorKind::InsufficientCredits,
        ErrorKind::BadRequest,
        ErrorKind::ContentPolicy,
        ErrorKind::ContextLength,
        ErrorKind::ModelNotFound,
        ErrorKind::Decode,
        ErrorKind::StreamInterrupted,
        ErrorKind::AllTargetsFailed,
        ErrorKind::Config,
        ErrorKind::Unsupported,
    ];

    /// The stable snake_case name (`rate_limited`, `timeout`, …) used in logs and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::Server => "server",
            ErrorKind::Auth => "auth",
            ErrorKind::InsufficientCredits => "insufficient_credits",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::ContentPolicy => "content_policy",
            ErrorKind::ContextLength => "context_length",
            ErrorKind::ModelNotFound => "model_not_found",
            ErrorKind::Decode => "decode",
            ErrorKind::StreamInterrupted => "stream_interrupted",
            ErrorKind::AllTargetsFailed => "all_targets_failed",
            ErrorKind::Config => "config",
            ErrorKind::Unsupported => "unsupported",
        }
    }

    /// The [`ErrorClass`] (the `LLM_RETRYABLE_ERRORS` vocabulary) this kind belongs to, if any.
    pub const fn class(self) -> Option<ErrorClass> {
        match self {
            ErrorKind::Connection => Some(ErrorClass::Connection),
            ErrorKind::Timeout => Some(ErrorClass::Timeout),
            ErrorKind::RateLimited => Some(ErrorClass::RateLimit),
            // A malformed body or a cut stream is an upstream failure, like a 5xx.
            ErrorKind::Server | ErrorKind::Decode | ErrorKind::StreamInterrupted => {
                Some(ErrorClass::Service)
            }
            ErrorKind::Auth
            | ErrorKind::InsufficientCredits
            | ErrorKind::BadRequest
            | ErrorKind::ContentPolicy
            | ErrorKind::ContextLength
            | ErrorKind::ModelNotFound
            | ErrorKind::AllTargetsFailed
            | ErrorKind::Config
            | ErrorKind::Unsupported => None,
        }
    }

    /// Whether the same request may succeed if sent again later: true for the kinds in
    /// every [`ErrorClass`]. Retry policies narrow this with the configured classes.
    pub const fn is_transient(self) -> bool {
        self.class().is_some()
    }

    /// The default kind for an HTTP status when the body says nothing more specific.
    ///
    /// Providers refine this with the error body (for example a 403 moderation flag is
    /// [`ContentPolicy`](ErrorKind::ContentPolicy), a 400 about context length is
    /// [`ContextLength`](ErrorKind::ContextLength)).
    ///
    /// ```
    /// use orchestra_core::ErrorKind;
    ///
    /// assert_eq!(ErrorKind::from_status(429), ErrorKind::RateLimited);
    /// assert_eq!(ErrorKind::from_status(402), ErrorKind::InsufficientCredits);
    /// assert_eq!(ErrorKind::from_status(529), ErrorKind::Server);
    /// ```
    pub const fn from_status(status: u16) -> ErrorKind {
        match status {
            401 | 403 => ErrorKind::Auth,
            402 => ErrorKind::InsufficientCredits,
            404 => ErrorKind::ModelNotFound,
            408 | 504 | 524 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimited,
            400..=499 => ErrorKind::BadRequest,
            500..=599 => ErrorKind::Server,
            // Anything else where an error was expected means we misunderstood the answer.
            _ => ErrorKind::Decode,
        }
    }

    fn description(self) -> &'static str {
        match self {
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Connection => "connection failed",
            ErrorKind::Server => "upstream server error",
            ErrorKind::Auth => "authentication failed",
            ErrorKind::InsufficientCredits => "insufficient credits",
            ErrorKind::BadRequest => "bad request",
            ErrorKind::ContentPolicy => "refused by content policy",
            ErrorKind::ContextLength => "context length exceeded",
            ErrorKind::ModelNotFound => "model not found",
            ErrorKind::Decode => "could not decode the response",
            ErrorKind::StreamInterrupted => "stream interrupted",
            ErrorKind::AllTargetsFailed => "all targets failed",
            ErrorKind::Config => "configuration error",
            ErrorKind::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown name given where an [`ErrorKind`] or [`ErrorClass`] was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// The name that was given.
    pub name: String,
    /// The names that are accepted.
    pub expected: &'static [&'static str],
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown name `{}`, expected one of: {}",
            self.name,
            self.expected.join(", ")
        )
    }
}

impl StdError for UnknownName {}

impl FromStr for ErrorKind {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        const NAMES: [&str; 15] = {
            let mut names = [""; 15];
            let mut i = 0;
            while i < ErrorKind::ALL.len() {
                names[i] = ErrorKind::ALL[i].as_str();
                i += 1;
            }
            names
        };
        ErrorKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownName {
                name: name.to_owned(),
                expected: &NAMES,
            })
    }
}

/// The error classes named by `LLM_RETRYABLE_ERRORS`
/// (`connection_error, timeout_error, rate_limit_error, service_error`).
///
/// ```
/// use orchestra_core::{ErrorClass, ErrorKind};
///
/// let class: ErrorClass = "service_error".parse().unwrap();
/// assert!(class.contains(ErrorKind::Server));
/// assert!(!class.contains(ErrorKind::Auth));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorClass {
    /// `connection_error`: [`ErrorKind::Connection`].
    #[serde(rename = "connection_error")]
    Connection,
    /// `timeout_error`: [`ErrorKind::Timeout`].
    #[serde(rename = "timeout_error")]
    Timeout,
    /// `rate_limit_error`: [`ErrorKind::RateLimited`].
    #[serde(rename = "rate_limit_error")]
    RateLimit,
    /// `service_error`: [`ErrorKind::Server`], [`ErrorKind::Decode`] and
    /// [`ErrorKind::StreamInterrupted`].
    #[serde(rename = "service_error")]
    Service,
}

impl ErrorClass {
    /// Every class, in the order the origin documents list them.
    pub const ALL: [ErrorClass; 4] = [
        ErrorClass::Connection,
        ErrorClass::Timeout,
        ErrorClass::RateLimit,
        ErrorClass::Service,
    ];

    const NAMES: [&'static str; 4] = [
        "connection_error",
        "timeout_error",
        "rate_limit_error",
        "service_error",
    ];

    /// The `LLM_RETRYABLE_ERRORS` spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Connection => Self::NAMES[0],
            ErrorClass::Timeout => Self::NAMES[1],
            ErrorClass::RateLimit => Self::NAMES[2],
            ErrorClass::Service => Self::NAMES[3],
        }
    }

    /// Whether errors of `kind` belong to this class.
    pub fn contains(self, kind: ErrorKind) -> bool {
        kind.class() == Some(self)
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorClass {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ErrorClass::ALL
            .into_iter()
            .find(|class| class.as_str() == name)
            .ok_or_else(|| UnknownName {
                name: name.to_owned(),
                expected: &Self::NAMES,
            })
    }
}

/// Who refused a rate-limited request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RateLimitScope {
    /// The upstream answered 429: the request was sent and counted against the quota.
    Upstream,
    /// Our own client-side quota held the request back: it was never sent.
    LocalQuota,
}

/// The error of every fallible operation in orchestra-llm.
///
/// Ask it questions instead of matching on its text: [`kind`](Self::kind),
/// [`is_retryable`](Self::is_retryable), [`retry_after`](Self::retry_after),
/// [`status`](Self::status). The `Display` text explains the failure to a person; its exact
/// wording is not part of the API. It never contains an API key.
///
/// The error is one pointer wide and cheap to clone, so a cache or router can hand the same
/// failure to several waiters.
///
/// ```
/// use std::time::Duration;
/// use orchestra_core::{Error, ErrorKind, RateLimitScope};
///
/// let error = Error::rate_limited(RateLimitScope::Upstream, "Rate limit exceeded: free-models-per-minute")
///     .with_status(429)
///     .with_retry_after(Duration::from_secs(20))
///     .with_model("google/gemini-2.5-flash:free");
///
/// assert_eq!(error.kind(), ErrorKind::RateLimited);
/// assert!(error.is_retryable());
/// assert_eq!(error.retry_after(), Some(Duration::from_secs(20)));
/// assert_eq!(
///     error.to_string(),
///     "rate limited by upstream (model google/gemini-2.5-flash:free, HTTP 429, retry after 20s): \
///      Rate limit exceeded: free-models-per-minute"
/// );
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    provider: Option<String>,
    model: Option<String>,
    status: Option<u16>,
    retry_after: Option<Duration>,
    rate_limit_scope: Option<RateLimitScope>,
    partial_content: Option<String>,
    affordable_max_tokens: Option<u32>,
    upstream_code: Option<String>,
    attempts: Vec<Attempt>,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

impl Error {
    /// An error of `kind` with a message for people.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                provider: None,
                model: None,
                status: None,
                retry_after: None,
                rate_limit_scope: None,
                partial_content: None,
                affordable_max_tokens: None,
                upstream_code: None,
                attempts: Vec::new(),
                source: None,
            }),
        }
    }

    /// A rate-limit error, from upstream or from a local quota.
    pub fn rate_limited(scope: RateLimitScope, message: impl Into<String>) -> Self {
        let mut error = Self::new(ErrorKind::RateLimited, message);
        error.inner.rate_limit_scope = Some(scope);
        error
    }

    /// A stream that stopped before its end, keeping the text received so far.
    pub fn stream_interrupted(
        partial_content: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let mut error = Self::new(ErrorKind::StreamInterrupted, message);
        error.inner.partial_content = Some(partial_content.into());
        error
    }

    /// Every routing target failed; `attempts` records each try in order.
    pub fn all_targets_failed(attempts: Vec<Attempt>) -> Self {
        let mut error = Self::new(
            ErrorKind::AllTargetsFailed,
            format!("{} attempt(s) made", attempts.len()),
        );
        error.inner.attempts = attempts;
        error
    }

    /// The provider does not support `operation`.
    pub fn unsupported(operation: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, operation)
    }

    /// A configuration problem.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// Names the provider that produced the error.
    #[must_use]
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.inner.provider = Some(provider.into());
        self
    }

    /// Names the model the failed request was for.
    #[must_use]
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.inner.model = Some(model.into());
        self
    }

    /// Records the HTTP status of the failed response.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    /// Records how long the caller should wait before trying again.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.inner.retry_after = Some(retry_after);
        self
    }

    /// Keeps the lower-level cause, available through [`std::error::Error::source`].
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Arc::new(source));
        self
    }

    /// Keeps the text a stream delivered before it failed, whatever the failure's kind
    /// (an error event mid-stream, a stall, a cut connection).
    #[must_use]
    pub fn with_partial_content(mut self, partial_content: impl Into<String>) -> Self {
        self.inner.partial_content = Some(partial_content.into());
        self
    }

    /// For [`ErrorKind::InsufficientCredits`]: the largest `max_tokens` the balance can pay
    /// for, as the upstream computed it.
    #[must_use]
    pub fn with_affordable_max_tokens(mut self, tokens: u32) -> Self {
        self.inner.affordable_max_tokens = Some(tokens);
        self
    }

    /// The upstream's own machine-readable error code (OpenRouter's `error_type`, an
    /// OpenAI-style `code`), kept verbatim for callers that need finer detail than
    /// [`ErrorKind`].
    #[must_use]
    pub fn with_upstream_code(mut self, code: impl Into<String>) -> Self {
        self.inner.upstream_code = Some(code.into());
        self
    }

    /// Records the attempts made before this error (retries, fallbacks).
    #[must_use]
    pub fn with_attempts(mut self, attempts: Vec<Attempt>) -> Self {
        self.inner.attempts = attempts;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message, without the kind and context that `Display` adds.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Whether sending the same request again may succeed (the kind is in one of the
    /// [`ErrorClass`]es). A rate-limit error from a local quota is retryable after its
    /// [`retry_after`](Self::retry_after).
    pub fn is_retryable(&self) -> bool {
        self.inner.kind.is_transient()
    }

    /// How long to wait before trying again, when the upstream (`Retry-After`,
    /// `X-RateLimit-Reset`) or a local quota said so.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The HTTP status of the failed response, when there was one.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// For [`ErrorKind::RateLimited`]: whether upstream or a local quota refused.
    pub fn rate_limit_scope(&self) -> Option<RateLimitScope> {
        self.inner.rate_limit_scope
    }

    /// The text a stream delivered before it broke: always set for
    /// [`ErrorKind::StreamInterrupted`], and for any other error that ended a stream after
    /// content had arrived.
    pub fn partial_content(&self) -> Option<&str> {
        self.inner.partial_content.as_deref()
    }

    /// For [`ErrorKind::InsufficientCredits`]: the largest `max_tokens` the balance can pay
    /// for, when the upstream said (OpenRouter: "can only afford N").
    ///
    /// ```
    /// use orchestra_core::{Error, ErrorKind};
    ///
    /// let error = Error::new(ErrorKind::InsufficientCredits, "can only afford 512 tokens")
    ///     .with_affordable_max_tokens(512);
    /// assert_eq!(error.affordable_max_tokens(), Some(512));
    /// ```
    pub fn affordable_max_tokens(&self) -> Option<u32> {
        self.inner.affordable_max_tokens
    }

    /// The upstream's own error code, verbatim, when it sent one.
    pub fn upstream_code(&self) -> Option<&str> {
        self.inner.upstream_code.as_deref()
    }

    /// The attempts made before this error, in order (empty when there was one try).
    pub fn attempts(&self) -> &[Attempt] {
        &self.inner.attempts
    }

    /// Whether the request reached the upstream at least once, as opposed to being refused
    /// below without being sent (a cooldown, the local quota): some attempt is not
    /// `skipped`, or no attempt was recorded.
    pub fn was_sent(&self) -> bool {
        self.inner.attempts.is_empty()
            || self
                .inner
                .attempts
                .iter()
                .any(|attempt| !matches!(attempt.outcome, AttemptOutcome::Skipped(_)))
    }

    /// The provider that produced the error.
    pub fn provider(&self) -> Option<&str> {
        self.inner.provider.as_deref()
    }

    /// The model the failed request was for.
    pub fn model(&self) -> Option<&str> {
        self.inner.model.as_deref()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        let mut debug = f.debug_struct("Error");
        debug.field("kind", &inner.kind);
        debug.field("message", &inner.message);
        if let Some(provider) = &inner.provider {
            debug.field("provider", provider);
        }
        if let Some(model) = &inner.model {
            debug.field("model", model);
        }
        if let Some(status) = inner.status {
            debug.field("status", &status);
        }
        if let Some(retry_after) = inner.retry_after {
            debug.field("retry_after", &retry_after);
        }
        if let Some(scope) = inner.rate_limit_scope {
            debug.field("rate_limit_scope", &scope);
        }
        if let Some(partial) = &inner.partial_content {
            debug.field("partial_content", partial);
        }
        if let Some(tokens) = inner.affordable_max_tokens {
            debug.field("affordable_max_tokens", &tokens);
        }
        if let Some(code) = &inner.upstream_code {
            debug.field("upstream_code", code);
        }
        if !inner.attempts.is_empty() {
            debug.field("attempts", &inner.attempts);
        }
        if let Some(source) = &inner.source {
            debug.field("source", source);
        }
        debug.finish()
    }
}

impl Error {
    /// The first line of the `Display` text: what went wrong, where and why, without the
    /// list of attempts that follows it.
    ///
    /// ```
    /// use orchestra_core::{Attempt, AttemptOutcome, Error, ErrorKind};
    /// use std::time::Duration;
    ///
    /// let attempt = Attempt::new("openrouter", "m", AttemptOutcome::Failed(ErrorKind::Server), Duration::ZERO);
    /// let error = Error::new(ErrorKind::Server, "boom").with_attempts(vec![attempt]);
    /// assert_eq!(error.headline().to_string(), "upstream server error: boom");
    /// assert!(error.to_string().starts_with("upstream server error: boom\n  - openrouter/m"));
    /// ```
    pub fn headline(&self) -> impl fmt::Display + '_ {
        Headline(self)
    }
}

/// [`Error::headline`].
struct Headline<'a>(&'a Error);

impl fmt::Display for Headline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.0.inner;
        f.write_str(inner.kind.description())?;
        match inner.rate_limit_scope {
            Some(RateLimitScope::Upstream) => f.write_str(" by upstream")?,
            Some(RateLimitScope::LocalQuota) => f.write_str(" by the local quota")?,
            None => {}
        }

        let mut context = Vec::new();
        if let Some(provider) = &inner.provider {
            context.push(format!("provider {provider}"));
        }
        if let Some(model) = &inner.model {
            context.push(format!("model {model}"));
        }
        if let Some(status) = inner.status {
            context.push(format!("HTTP {status}"));
        }
        if let Some(retry_after) = inner.retry_after {
            context.push(format!("retry after {}", format_duration(retry_after)));
        }
        if let Some(partial) = &inner.partial_content {
            context.push(format!("after {} characters", partial.chars().count()));
        }
        if !context.is_empty() {
            write!(f, " ({})", context.join(", "))?;
        }
        if !inner.message.is_empty() {
            write!(f, ": {}", inner.message)?;
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.headline())?;
        for attempt in &self.inner.attempts {
            write!(f, "\n  - {attempt}")?;
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

/// Formats a duration the way people read it: `20s`, `1.5s`, `250ms`.
pub(crate) fn format_duration(duration: Duration) -> String {
    if duration >= Duration::from_secs(1) {
        let seconds = duration.as_secs_f64();
        if seconds.fract() == 0.0 {
            format!("{seconds:.0}s")
        } else {
            format!("{seconds:.1}s")
        }
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_pointer_and_thread_safe() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in ErrorKind::ALL {
            assert_eq!(kind.as_str().parse::<ErrorKind>(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        let unknown = "rate_limit".parse::<ErrorKind>().unwrap_err();
        assert!(unknown.to_string().contains("rate_limited"), "{unknown}");
    }

    #[test]
    fn retryable_kinds_are_exactly_the_four_classes() {
        let transient: Vec<_> = ErrorKind::ALL
            .into_iter()
            .filter(|kind| kind.is_transient())
            .collect();
        assert_eq!(
            transient,
            [
                ErrorKind::RateLimited,
                ErrorKind::Timeout,
                ErrorKind::Connection,
                ErrorKind::Server,
                ErrorKind::Decode,
                ErrorKind::StreamInterrupted,
            ]
        );
        for kind in transient {
            let class = kind.class().unwrap();
            assert!(class.contains(kind));
        }
    }

    #[test]
    fn class_names_parse_and_reject_unknown() {
        for class in ErrorClass::ALL {
            assert_eq!(class.as_str().parse::<ErrorClass>(), Ok(class));
            assert_eq!(
                serde_json::to_string(&class).unwrap(),
                format!("\"{}\"", class.as_str())
            );
        }
        let error = "server_error".parse::<ErrorClass>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown name `server_error`, expected one of: connection_error, timeout_error, \
             rate_limit_error, service_error"
        );
    }

    #[test]
    fn status_mapping_covers_the_openrouter_table() {
        let table = [
            (400, ErrorKind::BadRequest),
            (401, ErrorKind::Auth),
            (402, ErrorKind::InsufficientCredits),
            (403, ErrorKind::Auth),
            (404, ErrorKind::ModelNotFound),
            (408, ErrorKind::Timeout),
            (413, ErrorKind::BadRequest),
            (422, ErrorKind::BadRequest),
            (429, ErrorKind::RateLimited),
            (500, ErrorKind::Server),
            (502, ErrorKind::Server),
            (503, ErrorKind::Server),
            (504, ErrorKind::Timeout),
            (524, ErrorKind::Timeout),
            (529, ErrorKind::Server),
            (302, ErrorKind::Decode),
        ];
        for (status, kind) in table {
            assert_eq!(ErrorKind::from_status(status), kind, "HTTP {status}");
        }
    }

    #[test]
    fn display_explains_the_failure() {
        let error = Error::stream_interrupted("Hello wor", "connection closed before [DONE]")
            .with_provider("openrouter")
            .with_model("openai/gpt-4o");
        insta::assert_snapshot!(error, @"stream interrupted (provider openrouter, model openai/gpt-4o, after 9 characters): connection closed before [DONE]");
        assert_eq!(error.partial_content(), Some("Hello wor"));
        assert!(error.is_retryable());

        let local =
            Error::rate_limited(RateLimitScope::LocalQuota, "20 requests/minute for *:free")
                .with_retry_after(Duration::from_millis(1500));
        insta::assert_snapshot!(local, @"rate limited by the local quota (retry after 1.5s): 20 requests/minute for *:free");
        assert_eq!(local.rate_limit_scope(), Some(RateLimitScope::LocalQuota));
    }

    #[test]
    fn source_chain_is_kept() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let error = Error::new(ErrorKind::Connection, "request failed").with_source(io);
        let source = StdError::source(&error).unwrap();
        assert_eq!(source.to_string(), "reset by peer");
        let cloned = error.clone();
        assert!(StdError::source(&cloned).is_some());
    }
}
