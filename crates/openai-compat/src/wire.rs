//! Serde types of the OpenAI-compatible chat wire format, as OpenRouter and the Portkey
//! gateway send it. Every field is optional and unknown fields are ignored: the APIs change
//! often, and a missing field must never fail a good answer.

use orchestra_core::{Content, Message, Role, ToolCall};
use serde::Deserialize;
use serde_json::{Map, Value};

/// `{"error": {...}}`, alone or beside a completion or a chunk.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireError {
    /// The HTTP status as a number, or a string such as `server_error`.
    pub code: Option<Code>,
    /// What went wrong, for people.
    pub message: Option<String>,
    /// Provider details (OpenRouter: `error_type`, `provider_name`, `raw`, `headers`…).
    pub metadata: Option<Map<String, Value>>,
    /// Availability errors put these inside `error` instead of `metadata`.
    pub error_type: Option<String>,
    /// The HTTP status, when the body repeats it.
    pub http_status: Option<u16>,
    /// OpenRouter's availability details.
    pub availability: Option<Availability>,
    /// OpenAI's error `type` (`invalid_request_error`, Portkey's `timeout_error`…).
    #[serde(rename = "type", deserialize_with = "string_or_none")]
    pub kind: Option<String>,
    /// OpenAI's `param`: the request field at fault.
    pub param: Option<Value>,
}

/// A string, or `None` for anything else: a field of the wrong type must not lose the error
/// around it.
fn string_or_none<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => Some(text),
        _ => None,
    })
}

/// An error code: an integer (the HTTP status) or a string.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Code {
    /// A number: usually the HTTP status.
    Number(i64),
    /// A string code (`rate_limit_exceeded`, `server_error`…).
    Text(String),
}

/// `error.availability`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Availability {
    /// Why the model is unavailable (`capacity_exhausted`, `no_endpoints`…).
    pub code: Option<String>,
    /// Whether trying again may work.
    pub retryable: Option<bool>,
    /// Seconds to wait before trying again.
    pub retry_after: Option<f64>,
}

/// A body that may be an error envelope.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorEnvelope {
    /// The error, when the body is one.
    pub error: Option<WireError>,
}

/// A non-streaming chat completion (or an error with HTTP 200).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Completion {
    /// Generation id.
    pub id: Option<String>,
    /// The model that served.
    pub model: Option<String>,
    /// The upstream provider that served (OpenRouter).
    pub provider: Option<String>,
    /// The choices.
    pub choices: Option<Vec<CompletionChoice>>,
    /// Token usage (and OpenRouter's `cost`).
    pub usage: Option<WireUsage>,
    /// An error sent with HTTP 200.
    pub error: Option<WireError>,
}

/// One choice of a [`Completion`].
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CompletionChoice {
    /// Position among the choices.
    pub index: Option<u32>,
    /// The assistant message.
    pub message: Option<WireMessage>,
    /// Why generation stopped (`"error"`: it failed).
    pub finish_reason: Option<String>,
    /// A failure of this choice.
    pub error: Option<WireError>,
}

/// A message of a [`CompletionChoice`].
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireMessage {
    /// Who speaks; missing means the assistant.
    pub role: Option<Role>,
    /// The text or parts.
    pub content: Option<Content>,
    /// Reasoning text of reasoning models.
    pub reasoning: Option<String>,
    /// Tool calls.
    pub tool_calls: Option<Vec<ToolCall>>,
    /// A refusal, used as the content when there is none.
    pub refusal: Option<String>,
}

impl WireMessage {
    /// The core message; a missing role is the assistant's.
    pub fn into_message(self) -> Message {
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
pub struct WireUsage {
    /// Prompt tokens.
    pub prompt_tokens: Option<u64>,
    /// Completion tokens.
    pub completion_tokens: Option<u64>,
    /// Their sum.
    pub total_tokens: Option<u64>,
    /// Cost in USD (OpenRouter).
    pub cost: Option<f64>,
}

impl WireUsage {
    /// The core usage; counts beyond `u32` saturate, a non-finite cost is dropped.
    pub fn into_usage(self) -> orchestra_core::Usage {
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
pub struct Chunk {
    /// Generation id.
    pub id: Option<String>,
    /// The model that serves.
    pub model: Option<String>,
    /// The upstream provider (OpenRouter).
    pub provider: Option<String>,
    /// Choice deltas.
    pub choices: Option<Vec<ChunkChoice>>,
    /// Usage, in the last chunk.
    pub usage: Option<WireUsage>,
    /// An in-band error.
    pub error: Option<WireError>,
}

/// One choice of a [`Chunk`].
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ChunkChoice {
    /// Choice index.
    pub index: Option<u32>,
    /// What is new.
    pub delta: Option<Delta>,
    /// Set on the choice's last chunk.
    pub finish_reason: Option<String>,
    /// A failure of this choice.
    pub error: Option<WireError>,
}

/// `choices[].delta`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Delta {
    /// New text.
    pub content: Option<String>,
    /// New reasoning text.
    pub reasoning: Option<String>,
    /// Tool-call fragments.
    pub tool_calls: Option<Vec<ToolCallFragment>>,
}

/// `delta.tool_calls[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ToolCallFragment {
    /// Position of the call.
    pub index: Option<u32>,
    /// Call id, on the first fragment.
    pub id: Option<String>,
    /// Name and argument pieces.
    pub function: Option<FunctionFragment>,
}

/// `delta.tool_calls[].function`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FunctionFragment {
    /// Function name, on the first fragment.
    pub name: Option<String>,
    /// A piece of the JSON arguments.
    pub arguments: Option<String>,
}

/// A number sent as a JSON number or a decimal string (`"0.000003"`, `"-1"`).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Number {
    /// A JSON number.
    Float(f64),
    /// A decimal string.
    Text(String),
    /// Anything else (`true`, an object): treated as unknown.
    Other(serde::de::IgnoredAny),
}

impl Number {
    /// The value, when it is a finite number.
    pub fn as_f64(&self) -> Option<f64> {
        let value = match self {
            Number::Float(value) => *value,
            Number::Text(text) => text.trim().parse().ok()?,
            Number::Other(_) => return None,
        };
        value.is_finite().then_some(value)
    }

    /// The value as an exact non-negative decimal: text is parsed digit for digit; a JSON
    /// number goes through its shortest round-trip form, which is what the sender wrote.
    pub fn as_price(&self) -> Option<orchestra_core::Decimal> {
        match self {
            Number::Float(value) if value.is_finite() => {
                orchestra_core::ModelPricing::parse_price(&value.to_string())
            }
            Number::Text(text) => orchestra_core::ModelPricing::parse_price(text),
            Number::Float(_) | Number::Other(_) => None,
        }
    }

    /// The value as a token count, when it is a non-negative integer-like number.
    pub fn as_u32(&self) -> Option<u32> {
        let value = self.as_f64()?;
        // Saturating float-to-int conversion is exactly what a lenient parser wants here.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        (value >= 0.0).then(|| value.min(f64::from(u32::MAX)) as u32)
    }
}
