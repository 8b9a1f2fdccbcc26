//! Chat responses and what happened while producing them.

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{
    chat::Message,
    error::{ErrorKind, UnknownName, format_duration},
};

/// A completed chat response.
///
/// [`model`](Self::model) names the model that actually answered, which differs from the one
/// requested when a fallback served the request. [`metadata`](Self::metadata) records every
/// attempt made, the cache status and the total latency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatResponse {
    /// Generation id (`gen-…` on OpenRouter).
    pub id: String,
    /// The model that served the request.
    pub model: String,
    /// The orchestra provider that answered (`openrouter`, `portkey`, …).
    pub provider: String,
    /// The upstream provider behind it when known (`OpenAI`, `Anthropic`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_provider: Option<String>,
    /// The choices; usually one.
    pub choices: Vec<Choice>,
    /// Token usage and cost, when the upstream reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Attempts, cache status and latency.
    #[serde(default)]
    pub metadata: ResponseMetadata,
}

impl ChatResponse {
    /// A response with one assistant choice; metadata starts empty.
    pub fn new(
        id: impl Into<String>,
        model: impl Into<String>,
        provider: impl Into<String>,
        choices: Vec<Choice>,
    ) -> Self {
        Self {
            id: id.into(),
            model: model.into(),
            provider: provider.into(),
            upstream_provider: None,
            choices,
            usage: None,
            metadata: ResponseMetadata::default(),
        }
    }

    /// The text of the first choice.
    pub fn content(&self) -> Option<&str> {
        self.choices
            .first()
            .and_then(|choice| match &choice.message.content {
                Some(crate::Content::Text(text)) => Some(text.as_str()),
                _ => None,
            })
    }

    /// The finish reason of the first choice.
    pub fn finish_reason(&self) -> Option<&FinishReason> {
        self.choices
            .first()
            .and_then(|choice| choice.finish_reason.as_ref())
    }
}

/// One completion choice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Choice {
    /// Position among the choices.
    pub index: u32,
    /// The assistant message.
    pub message: Message,
    /// Why generation stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
}

impl Choice {
    /// A choice at `index`.
    pub fn new(index: u32, message: Message, finish_reason: Option<FinishReason>) -> Self {
        Self {
            index,
            message,
            finish_reason,
        }
    }
}

/// Why generation stopped, normalised as OpenRouter does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FinishReason {
    /// Natural end or a stop sequence.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The model called tools.
    ToolCalls,
    /// Output was filtered.
    ContentFilter,
    /// The provider failed mid-generation.
    Error,
    /// A value this library does not know yet.
    Other(String),
}

impl FinishReason {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Error => "error",
            FinishReason::Other(other) => other,
        }
    }
}

impl From<&str> for FinishReason {
    fn from(value: &str) -> Self {
        match value {
            "stop" => FinishReason::Stop,
            "length" => FinishReason::Length,
            "tool_calls" | "function_call" => FinishReason::ToolCalls,
            "content_filter" => FinishReason::ContentFilter,
            "error" => FinishReason::Error,
            other => FinishReason::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for FinishReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FinishReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FinishReason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(FinishReason::from(value.as_ref()))
    }
}

/// Token usage and cost of one response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
    /// Their sum.
    pub total_tokens: u32,
    /// Cost in USD, when the upstream reported it (OpenRouter's `usage.cost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

impl Usage {
    /// Usage with `total_tokens` computed and no cost.
    pub fn new(prompt_tokens: u32, completion_tokens: u32) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            cost_usd: None,
        }
    }

    /// Sets the cost in USD.
    #[must_use]
    pub fn with_cost(mut self, cost_usd: f64) -> Self {
        self.cost_usd = Some(cost_usd);
        self
    }
}

/// What happened while producing a response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResponseMetadata {
    /// Every attempt made, in order; the last one produced the response.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// Whether the response came from a cache.
    #[serde(default)]
    pub cache: CacheStatus,
    /// Wall-clock time from the call to the response.
    #[serde(rename = "latency_ms", with = "duration_ms", default)]
    pub latency: Duration,
}

/// One try against one provider and model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Attempt {
    /// The provider tried.
    pub provider: String,
    /// The model tried.
    pub model: String,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// HTTP status, when a response arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Time spent on this attempt (zero when skipped).
    #[serde(rename = "latency_ms", with = "duration_ms", default)]
    pub latency: Duration,
    /// A short explanation for failures and skips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Attempt {
    /// An attempt record.
    pub fn new(
        provider: impl Into<String>,
        model: impl Into<String>,
        outcome: AttemptOutcome,
        latency: Duration,
    ) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
            outcome,
            status: None,
            latency,
            detail: None,
        }
    }

    /// Records the HTTP status.
    #[must_use]
    pub fn with_status(mut self, status: Option<u16>) -> Self {
        self.status = status;
        self
    }

    /// Records an explanation.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}: {}", self.provider, self.model, self.outcome)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        if !self.latency.is_zero() {
            write!(f, " after {}", format_duration(self.latency))?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

/// How an [`Attempt`] ended.
///
/// Serialises as `success`, the failure's [`ErrorKind`] name (`rate_limited`, …), or
/// `skipped:<kind>` when the request was never sent (cooldown, local quota).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// It produced the response.
    Success,
    /// It was sent and failed.
    Failed(ErrorKind),
    /// It was not sent, for the given reason.
    Skipped(ErrorKind),
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptOutcome::Success => f.write_str("success"),
            AttemptOutcome::Failed(kind) => f.write_str(kind.as_str()),
            AttemptOutcome::Skipped(kind) => write!(f, "skipped:{kind}"),
        }
    }
}

impl FromStr for AttemptOutcome {
    type Err = UnknownName;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value == "success" {
            return Ok(AttemptOutcome::Success);
        }
        match value.strip_prefix("skipped:") {
            Some(kind) => kind.parse().map(AttemptOutcome::Skipped),
            None => value.parse().map(AttemptOutcome::Failed),
        }
    }
}

impl Serialize for AttemptOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AttemptOutcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        value.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether a response came from a cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CacheStatus {
    /// No cache in the stack, or bypassed for this request.
    #[default]
    Off,
    /// Looked up, not found; the response came from upstream.
    Miss,
    /// Exact match.
    Hit,
    /// A semantically similar earlier request matched.
    SemanticHit {
        /// Cosine similarity of the match, 0–1.
        similarity: f32,
    },
}

impl CacheStatus {
    /// Whether no cache was involved.
    pub fn is_off(&self) -> bool {
        matches!(self, CacheStatus::Off)
    }

    /// `off`, `miss`, `hit` or `semantic_hit`.
    pub fn as_str(&self) -> &'static str {
        match self {
            CacheStatus::Off => "off",
            CacheStatus::Miss => "miss",
            CacheStatus::Hit => "hit",
            CacheStatus::SemanticHit { .. } => "semantic_hit",
        }
    }
}

/// Serde helper: a [`Duration`] as fractional milliseconds.
pub(crate) mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        let millis = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(millis / 1000.0).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_outcome_round_trips() {
        for outcome in [
            AttemptOutcome::Success,
            AttemptOutcome::Failed(ErrorKind::RateLimited),
            AttemptOutcome::Skipped(ErrorKind::RateLimited),
        ] {
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(
                serde_json::from_str::<AttemptOutcome>(&json).unwrap(),
                outcome
            );
        }
        assert_eq!(
            AttemptOutcome::Skipped(ErrorKind::RateLimited).to_string(),
            "skipped:rate_limited"
        );
        assert!("skipped:nope".parse::<AttemptOutcome>().is_err());
    }

    #[test]
    fn finish_reason_keeps_unknown_values() {
        let reason: FinishReason = serde_json::from_str("\"eos_token\"").unwrap();
        assert_eq!(reason, FinishReason::Other("eos_token".into()));
        assert_eq!(serde_json::to_string(&reason).unwrap(), "\"eos_token\"");
        let legacy: FinishReason = serde_json::from_str("\"function_call\"").unwrap();
        assert_eq!(legacy, FinishReason::ToolCalls);
    }

    #[test]
    fn metadata_serialises_latency_in_milliseconds() {
        let attempt = Attempt::new(
            "openrouter",
            "openai/gpt-4o",
            AttemptOutcome::Failed(ErrorKind::Server),
            Duration::from_micros(1500),
        )
        .with_status(Some(502));
        let metadata = ResponseMetadata {
            attempts: vec![attempt],
            cache: CacheStatus::SemanticHit { similarity: 0.5 },
            latency: Duration::from_millis(12),
        };
        insta::assert_json_snapshot!(metadata, @r#"
        {
          "attempts": [
            {
              "provider": "openrouter",
              "model": "openai/gpt-4o",
              "outcome": "server",
              "status": 502,
              "latency_ms": 1.5
            }
          ],
          "cache": {
            "status": "semantic_hit",
            "similarity": 0.5
          },
          "latency_ms": 12.0
        }
        "#);
        let back: ResponseMetadata =
            serde_json::from_value(serde_json::to_value(&metadata).unwrap()).unwrap();
        assert_eq!(back, metadata);
    }
}
