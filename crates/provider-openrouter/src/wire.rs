//! Serde types for what OpenRouter sends back. Every field is optional and unknown fields are
//! ignored: the API changes often, and a missing field must never fail a good answer.

use orchestra_core::{Content, Message, Role, ToolCall};
use serde::Deserialize;
use serde_json::{Map, Value};

/// `{"error": {...}}`, alone or beside a completion or a chunk.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireError {
    /// The HTTP status as a number, or a string such as `server_error`.
    pub(crate) code: Option<Code>,
    pub(crate) message: Option<String>,
    pub(crate) metadata: Option<Map<String, Value>>,
    /// Availability errors put these inside `error` instead of `metadata`.
    pub(crate) error_type: Option<String>,
    pub(crate) http_status: Option<u16>,
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
#[serde(default)]
pub(crate) struct Availability {
    pub(crate) code: Option<String>,
    pub(crate) retryable: Option<bool>,
    pub(crate) retry_after: Option<f64>,
}

/// A body that may be an error envelope.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ErrorEnvelope {
    pub(crate) error: Option<WireError>,
}

/// A non-streaming chat completion (or an error with HTTP 200).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Completion {
    pub(crate) id: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) provider: Option<String>,
    pub(crate) choices: Option<Vec<CompletionChoice>>,
    pub(crate) usage: Option<WireUsage>,
    pub(crate) error: Option<WireError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CompletionChoice {
    pub(crate) index: Option<u32>,
    pub(crate) message: Option<WireMessage>,
    pub(crate) finish_reason: Option<String>,
    pub(crate) error: Option<WireError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireMessage {
    pub(crate) role: Option<Role>,
    pub(crate) content: Option<Content>,
    pub(crate) reasoning: Option<String>,
    pub(crate) tool_calls: Option<Vec<ToolCall>>,
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
#[serde(default)]
pub(crate) struct WireUsage {
    pub(crate) prompt_tokens: Option<u64>,
    pub(crate) completion_tokens: Option<u64>,
    pub(crate) total_tokens: Option<u64>,
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
#[serde(default)]
pub(crate) struct Chunk {
    pub(crate) id: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) provider: Option<String>,
    pub(crate) choices: Option<Vec<ChunkChoice>>,
    pub(crate) usage: Option<WireUsage>,
    pub(crate) error: Option<WireError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ChunkChoice {
    pub(crate) index: Option<u32>,
    pub(crate) delta: Option<Delta>,
    pub(crate) finish_reason: Option<String>,
    pub(crate) error: Option<WireError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Delta {
    pub(crate) content: Option<String>,
    pub(crate) reasoning: Option<String>,
    pub(crate) tool_calls: Option<Vec<ToolCallFragment>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ToolCallFragment {
    pub(crate) index: Option<u32>,
    pub(crate) id: Option<String>,
    pub(crate) function: Option<FunctionFragment>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FunctionFragment {
    pub(crate) name: Option<String>,
    pub(crate) arguments: Option<String>,
}

/// `{"data": ...}`, the envelope of the account endpoints.
#[derive(Debug, Deserialize)]
pub(crate) struct Data<T> {
    pub(crate) data: T,
}

/// `GET /credits`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireCredits {
    pub(crate) total_credits: Option<f64>,
    pub(crate) total_usage: Option<f64>,
}

/// One entry of `GET /models`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireModel {
    pub(crate) id: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) context_length: Option<Number>,
    pub(crate) pricing: Option<WirePricing>,
    pub(crate) top_provider: Option<TopProvider>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TopProvider {
    pub(crate) context_length: Option<Number>,
    pub(crate) max_completion_tokens: Option<Number>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WirePricing {
    pub(crate) prompt: Option<Number>,
    pub(crate) completion: Option<Number>,
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

    /// The value as an exact non-negative decimal: text is parsed digit for digit; a JSON
    /// number goes through its shortest round-trip form, which is what the sender wrote.
    pub(crate) fn as_price(&self) -> Option<orchestra_core::Decimal> {
        match self {
            Number::Float(value) if value.is_finite() => {
                orchestra_core::ModelPricing::parse_price(&value.to_string())
            }
            Number::Text(text) => orchestra_core::ModelPricing::parse_price(text),
            Number::Float(_) | Number::Other(_) => None,
        }
    }

    /// The value as a token count, when it is a non-negative integer-like number.
    pub(crate) fn as_u32(&self) -> Option<u32> {
        let value = self.as_f64()?;
        // Saturating float-to-int conversion is exactly what a lenient parser wants here.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        (value >= 0.0).then(|| value.min(f64::from(u32::MAX)) as u32)
    }
}
