//! Serde types for what OpenRouter sends back. Every field is optional and unknown fields are
//! ignored: the API changes often, and a missing field must never fail a good answer.

use orchestra_core::{Content, Message, Role, ToolCall};
use serde::Deserialize;
use serde_json::{Map, Value};

/// `{"error": {...}}`, alone or beside a completion or a chunk.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct WireError {
    /// The HTTP status as a number, or a string such as `server_error`.
    #[serde(default)]
    pub(crate) code: Option<Code>,
    #[serde(default)]
    pub(crate) message: Option<String>,
    #[serde(default)]
    pub(crate) metadata: Option<Map<String, Value>>,
    /// Availability errors put these inside `error` instead of `metadata`.
    #[serde(default)]
    pub(crate) error_type: Option<String>,
    #[serde(default)]
    pub(crate) http_status: Option<u16>,
    #[serde(default)]
    pub(crate) availability: Option<Availability>,
}

/// An error code: an integer (the HTTP status) or a string.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Code {
    Number(i64),
    Text(String),
}

/// `error.availability`.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct Availability {
    #[serde(default)]
    pub(crate) code: Option<String>,
    #[serde(default)]
    pub(crate) retryable: Option<bool>,
    #[serde(default)]
    pub(crate) retry_after: Option<f64>,
}

/// A body that may be an error envelope.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorEnvelope {
    #[serde(default)]
    pub(crate) error: Option<WireError>,
}

/// A non-streaming chat completion (or an error with HTTP 200).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Completion {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) provider: Option<String>,
    #[serde(default)]
    pub(crate) choices: Option<Vec<CompletionChoice>>,
    #[serde(default)]
    pub(crate) usage: Option<WireUsage>,
    #[serde(default)]
    pub(crate) error: Option<WireError>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CompletionChoice {
    #[serde(default)]
    pub(crate) index: Option<u32>,
    #[serde(default)]
    pub(crate) message: Option<WireMessage>,
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
    #[serde(default)]
    pub(crate) error: Option<WireError>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireMessage {
    #[serde(default)]
    pub(crate) role: Option<Role>,
    #[serde(default)]
    pub(crate) content: Option<Content>,
    #[serde(default)]
    pub(crate) reasoning: Option<String>,
    #[serde(default)]
    pub(crate) tool_calls: Option<Vec<ToolCall>>,
    #[serde(default)]
    pub(crate) refusal: Option<String>,
}

impl WireMessage {
    /// The core message; a missing role is the assistant's.
    pub(crate) fn into_message(self) -> Message {
        let mut message = Message::new(self.role.unwrap_or(Role::Assistant), String::new());
        message.content = self.content.or_else(|| self.refusal.map(Content::Text));
        message.reasoning = self.reasoning.filter(|text| !text.is_empty());
        message.tool_calls = self.tool_calls.unwrap_or_default();
        message
    }
}

/// `usage`, in responses and in the last stream chunk.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub(crate) prompt_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) completion_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) total_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) cost: Option<f64>,
}

impl WireUsage {
    pub(crate) fn into_usage(self) -> orchestra_core::Usage {
        let clamp = |value: u64| u32::try_from(value).unwrap_or(u32::MAX);
        let mut usage = orchestra_core::Usage::new(
            clamp(self.prompt_tokens.unwrap_or(0)),
            clamp(self.completion_tokens.unwrap_or(0)),
        );
        if let Some(total) = self.total_tokens {
            usage.total_tokens = clamp(total);
        }
        usage.cost_usd = self.cost.filter(|cost| cost.is_finite());
        usage
    }
}

/// One streamed `chat.completion.chunk` (or an in-band error).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Chunk {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) provider: Option<String>,
    #[serde(default)]
    pub(crate) choices: Option<Vec<ChunkChoice>>,
    #[serde(default)]
    pub(crate) usage: Option<WireUsage>,
    #[serde(default)]
    pub(crate) error: Option<WireError>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ChunkChoice {
    #[serde(default)]
    pub(crate) index: Option<u32>,
    #[serde(default)]
    pub(crate) delta: Option<Delta>,
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
    #[serde(default)]
    pub(crate) error: Option<WireError>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Delta {
    #[serde(default)]
    pub(crate) content: Option<String>,
    #[serde(default)]
    pub(crate) reasoning: Option<String>,
    #[serde(default)]
    pub(crate) tool_calls: Option<Vec<ToolCallFragment>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ToolCallFragment {
    #[serde(default)]
    pub(crate) index: Option<u32>,
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) function: Option<FunctionFragment>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct FunctionFragment {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) arguments: Option<String>,
}

/// `{"data": ...}`, the envelope of the account endpoints.
#[derive(Debug, Deserialize)]
pub(crate) struct Data<T> {
    pub(crate) data: T,
}

/// `GET /credits`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireCredits {
    #[serde(default)]
    pub(crate) total_credits: Option<f64>,
    #[serde(default)]
    pub(crate) total_usage: Option<f64>,
}

/// `GET /key`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireKey {
    #[serde(default)]
    pub(crate) limit: Option<f64>,
    #[serde(default)]
    pub(crate) limit_remaining: Option<f64>,
    #[serde(default)]
    pub(crate) usage: Option<f64>,
    #[serde(default)]
    pub(crate) is_free_tier: Option<bool>,
}

/// One entry of `GET /models`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireModel {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) context_length: Option<Number>,
    #[serde(default)]
    pub(crate) pricing: Option<WirePricing>,
    #[serde(default)]
    pub(crate) top_provider: Option<TopProvider>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TopProvider {
    #[serde(default)]
    pub(crate) context_length: Option<Number>,
    #[serde(default)]
    pub(crate) max_completion_tokens: Option<Number>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct WirePricing {
    #[serde(default)]
    pub(crate) prompt: Option<Number>,
    #[serde(default)]
    pub(crate) completion: Option<Number>,
    #[serde(default)]
    pub(crate) request: Option<Number>,
}

/// A number sent as a JSON number or a decimal string (`"0.000003"`, `"-1"`).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Number {
    Float(f64),
    Text(String),
    /// Anything else (`true`, an object): treated as unknown.
    Other(serde::de::IgnoredAny),
}

impl Number {
    /// The value, when it is a finite number.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        let value = match self {
            Number::Float(value) => *value,
            Number::Text(text) => text.trim().parse().ok()?,
            Number::Other(_) => return None,
        };
        value.is_finite().then_some(value)
    }

    /// The value as a token count, when it is a non-negative integer-like number.
    pub(crate) fn as_u32(&self) -> Option<u32> {
        let value = self.as_f64()?;
        // Saturating float-to-int conversion is exactly what a lenient parser wants here.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        (value >= 0.0).then(|| value.min(f64::from(u32::MAX)) as u32)
    }
}
