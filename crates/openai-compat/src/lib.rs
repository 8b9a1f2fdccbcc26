//! The OpenAI-compatible chat wire format, shared by orchestra-llm's providers
//! (`orchestra-provider-openrouter`, `orchestra-provider-portkey`).
//!
//! What is the same whoever speaks it lives here; what differs is behind [`ErrorMapper`]:
//!
//! - [`wire`]: serde types of `chat.completion`, `chat.completion.chunk` and error bodies,
//!   lenient (every field optional, unknown fields ignored).
//! - [`SseParser`]: a bounded Server-Sent Events parser.
//! - [`parse_completion`]: a `chat.completion` body → [`ChatResponse`](orchestra_core::ChatResponse);
//!   an error inside a 200 body is an error, never an empty answer.
//! - [`stream_response`]: a streaming response → [`ChatStream`](orchestra_core::ChatStream) of
//!   [`StreamEvent`](orchestra_core::StreamEvent)s. A stream cut before `[DONE]` or a finish
//!   reason is [`StreamInterrupted`](orchestra_core::ErrorKind::StreamInterrupted) with the
//!   partial text, never a clean end; every later error carries the text so far. Stalls are
//!   caught by [`StreamSetup::idle_timeout`], which both providers set to their request
//!   timeout.
//! - Limits ([`MAX_RESPONSE_BODY_BYTES`], [`MAX_SSE_LINE_BYTES`], …): nothing an upstream
//!   sends is buffered without bound; past a limit is a typed
//!   [`Decode`](orchestra_core::ErrorKind::Decode) error naming it.
//! - [`ErrorMapper`]: the provider's classification of failures, plus the shared
//!   [`transport_error`], [`decode_error`] and [`parse_retry_after`].
//!
//! ```
//! use orchestra_openai_compat::SseParser;
//!
//! let mut parser = SseParser::new(1 << 20, 1 << 20);
//! parser.push(b": keep-alive\n\ndata: {\"id\":\"gen-1\"}\n\ndata: [DO").unwrap();
//! assert_eq!(parser.next_event().as_deref(), Some("{\"id\":\"gen-1\"}"));
//! parser.push(b"NE]\n\n").unwrap();
//! assert_eq!(parser.next_event().as_deref(), Some("[DONE]"));
//! ```

#![forbid(unsafe_code)]

mod completion;
mod errors;
mod http;
mod limits;
mod sse;
mod stream;
mod telemetry;
pub mod wire;

pub use completion::{error_from_response, parse_completion, read_body};
pub use errors::{
    ErrorMapper, Failure, body_message, decode_error, mentions_context_length, parse_retry_after,
    transport_error, truncate,
};
pub use http::{base_url, http_client, http_client_builder};
pub use limits::{
    MAX_ERROR_BODY_BYTES, MAX_RESPONSE_BODY_BYTES, MAX_SSE_EVENT_BYTES, MAX_SSE_LINE_BYTES,
    MAX_STREAM_CHOICES, MAX_STREAM_TEXT_BYTES,
};
pub use sse::{SseError, SseParser};
pub use stream::{StreamObserver, StreamOutcome, StreamSetup, stream_response};
pub use telemetry::{SpanOutcome, record_failure, record_success};
