//! The contract of orchestra-llm: `async fn(ChatRequest) -> Result<ChatResponse, Error>`.
//!
//! Everything in the workspace speaks these types:
//!
//! - [`ChatRequest`], [`Message`] and friends: chat completions in the OpenAI shape that
//!   OpenRouter and Portkey accept, plus an [`agent_type`](ChatRequest::agent_type) routing
//!   hint that never leaves the process.
//! - [`ChatResponse`]: the served model, usage and cost, and [`ResponseMetadata`] recording
//!   every [`Attempt`], the [`CacheStatus`] and the latency.
//! - [`ChatStream`] of [`StreamEvent`]s, and [`StreamAccumulator`] to rebuild a response.
//! - [`Error`], classified by [`ErrorKind`]; [`ErrorClass`] is the `LLM_RETRYABLE_ERRORS`
//!   vocabulary.
//! - [`Provider`]: implemented by providers and by decorators (retry, rate limit, cache,
//!   router), object safe so mixed providers fit in one `Vec<Arc<dyn Provider>>`.
//!
//! This crate has no HTTP client and reads no environment.

#![forbid(unsafe_code)]

mod account;
mod chat;
mod error;
mod provider;
mod response;
mod secret;
mod stream;
pub mod usage;

pub use account::{Credits, Decimal, ModelInfo, ModelPricing};
pub use chat::{
    ChatRequest, Content, ContentPart, FunctionCall, FunctionDefinition, ImageUrl, JsonSchema,
    Message, NamedFunction, ResponseFormat, Role, Stop, Tool, ToolCall, ToolChoice, ToolChoiceMode,
    ToolType,
};
pub use error::{Error, ErrorClass, ErrorKind, RateLimitScope, UnknownName};
pub use provider::{Layer, Provider};
pub use response::{
    Attempt, AttemptOutcome, CacheStatus, ChatResponse, Choice, FinishReason, ResponseMetadata,
    Usage,
};
pub use secret::Secret;
pub use stream::{
    ChatStream, StreamAccumulator, StreamEvent, StreamStart, ToolCallDelta, collect_stream,
};
