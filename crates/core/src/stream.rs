//! Streaming chat: typed events and an accumulator that rebuilds the full response.

use std::{pin::Pin, time::Duration};

use futures_core::Stream;
use serde::{Deserialize, Serialize};

use crate::{
    chat::{Content, Message, Role, ToolCall},
    error::Error,
    response::{Attempt, CacheStatus, ChatResponse, Choice, FinishReason, ResponseMetadata, Usage},
};

/// A stream of chat events.
///
/// A well-behaved stream ends (`None`) only after every choice reported a
/// [`StreamEvent::Finish`]. A stream cut short yields an error of kind
/// [`StreamInterrupted`](crate::ErrorKind::StreamInterrupted) instead of ending cleanly.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, Error>> + Send + 'static>>;

/// One event of a streamed chat response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StreamEvent {
    /// The first event: who is answering.
    Start(StreamStart),
    /// A piece of assistant text.
    ContentDelta {
        /// Choice index.
        choice: u32,
        /// The new text.
        text: String,
    },
    /// A piece of reasoning text (reasoning models).
    ReasoningDelta {
        /// Choice index.
        choice: u32,
        /// The new text.
        text: String,
    },
    /// A piece of a tool call.
    ToolCallDelta(ToolCallDelta),
    /// Token usage, normally once near the end.
    Usage(Usage),
    /// A choice finished.
    Finish {
        /// Choice index.
        choice: u32,
        /// Why it stopped.
        reason: FinishReason,
    },
}

/// The first event of a stream.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamStart {
    /// Generation id.
    pub id: String,
    /// The model that is answering (after any fallback).
    pub model: String,
    /// The orchestra provider answering.
    pub provider: String,
    /// The upstream provider behind it when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_provider: Option<String>,
    /// Attempts made before this stream started (retries, fallbacks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// Whether the stream is a cache replay ([`CacheStatus::Hit`] /
    /// [`CacheStatus::SemanticHit`]) or a fresh answer.
    #[serde(default, skip_serializing_if = "CacheStatus::is_off")]
    pub cache: CacheStatus,
}

impl StreamStart {
    /// A start event.
    pub fn new(
        id: impl Into<String>,
        model: impl Into<String>,
        provider: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            model: model.into(),
            provider: provider.into(),
            upstream_provider: None,
            attempts: Vec::new(),
            cache: CacheStatus::Off,
        }
    }
}

/// A fragment of a tool call; fragments with the same `choice` and `index` concatenate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCallDelta {
    /// Choice index.
    pub choice: u32,
    /// Position of the call within the choice.
    pub index: u32,
    /// Call id, on the first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Function name, on the first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A piece of the JSON arguments.
    #[serde(default)]
    pub arguments: String,
}

impl ToolCallDelta {
    /// A fragment of call `index` in `choice`.
    pub fn new(choice: u32, index: u32) -> Self {
        Self {
            choice,
            index,
            ..Self::default()
        }
    }
}

/// Rebuilds a [`ChatResponse`] from [`StreamEvent`]s.
///
/// Used to print or cache a streamed answer, and to keep the partial text when a stream
/// breaks.
///
/// ```
/// use orchestra_core::{FinishReason, StreamAccumulator, StreamEvent, StreamStart};
///
/// let mut accumulator = StreamAccumulator::default();
/// accumulator.push(&StreamEvent::Start(StreamStart::new("gen-1", "openai/gpt-4o", "openrouter")));
/// accumulator.push(&StreamEvent::ContentDelta { choice: 0, text: "Hel".into() });
/// accumulator.push(&StreamEvent::ContentDelta { choice: 0, text: "lo".into() });
/// assert_eq!(accumulator.partial_text(), "Hello");
/// accumulator.push(&StreamEvent::Finish { choice: 0, reason: FinishReason::Stop });
///
/// let response = accumulator.into_response();
/// assert_eq!(response.content(), Some("Hello"));
/// assert_eq!(response.model, "openai/gpt-4o");
/// ```
#[derive(Clone, Debug, Default)]
pub struct StreamAccumulator {
    start: StreamStart,
    choices: Vec<ChoiceState>,
    usage: Option<Usage>,
}

#[derive(Clone, Debug, Default)]
struct ChoiceState {
    text: String,
    reasoning: String,
    tool_calls: Vec<ToolCallDelta>,
    finish_reason: Option<FinishReason>,
}

impl StreamAccumulator {
    /// Adds one event.
    pub fn push(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::Start(start) => self.start = start.clone(),
            StreamEvent::ContentDelta { choice, text } => {
                self.choice(*choice).text.push_str(text);
            }
            StreamEvent::ReasoningDelta { choice, text } => {
                self.choice(*choice).reasoning.push_str(text);
            }
            StreamEvent::ToolCallDelta(delta) => {
                let calls = &mut self.choice(delta.choice).tool_calls;
                match calls.iter_mut().find(|call| call.index == delta.index) {
                    Some(call) => {
                        call.arguments.push_str(&delta.arguments);
                        if call.id.is_none() {
                            call.id.clone_from(&delta.id);
                        }
                        if call.name.is_none() {
                            call.name.clone_from(&delta.name);
                        }
                    }
                    None => calls.push(delta.clone()),
                }
            }
            StreamEvent::Usage(usage) => self.usage = Some(*usage),
            StreamEvent::Finish { choice, reason } => {
                self.choice(*choice).finish_reason = Some(reason.clone());
            }
        }
    }

    /// The text received so far for choice 0.
    pub fn partial_text(&self) -> &str {
        self.choices
            .first()
            .map(|choice| choice.text.as_str())
            .unwrap_or_default()
    }

    /// Whether every choice seen so far has finished (and at least one was seen).
    pub fn is_finished(&self) -> bool {
        !self.choices.is_empty()
            && self
                .choices
                .iter()
                .all(|choice| choice.finish_reason.is_some())
    }

    /// The response assembled from the events so far.
    pub fn into_response(self) -> ChatResponse {
        let choices = self
            .choices
            .into_iter()
            .zip(0u32..)
            .map(|(state, index)| {
                let mut message = Message::new(Role::Assistant, String::new());
                message.content = Some(Content::Text(state.text));
                message.reasoning = (!state.reasoning.is_empty()).then_some(state.reasoning);
                message.tool_calls = state
                    .tool_calls
                    .into_iter()
                    .map(|call| {
                        ToolCall::function(
                            call.id.unwrap_or_default(),
                            call.name.unwrap_or_default(),
                            call.arguments,
                        )
                    })
                    .collect();
                if !message.tool_calls.is_empty()
                    && message.text().is_some_and(|text| text.is_empty())
                {
                    message.content = None;
                }
                Choice::new(index, message, state.finish_reason)
            })
            .collect();
        ChatResponse {
            id: self.start.id,
            model: self.start.model,
            provider: self.start.provider,
            upstream_provider: self.start.upstream_provider,
            choices,
            usage: self.usage,
            metadata: ResponseMetadata {
                attempts: self.start.attempts,
                cache: self.start.cache,
                ..ResponseMetadata::default()
            },
        }
    }

    fn choice(&mut self, index: u32) -> &mut ChoiceState {
        let index = usize::try_from(index)
            .unwrap_or(usize::MAX)
            .min(MAX_CHOICES);
        if self.choices.len() <= index {
            self.choices.resize_with(index + 1, ChoiceState::default);
        }
        &mut self.choices[index]
    }
}

/// A hostile upstream could name choice 4 billion; cap how many we allocate.
const MAX_CHOICES: usize = 127;

/// Drains `stream` into a full response, measuring the latency.
///
/// # Errors
///
/// The first error the stream yields. A stream that ends before every choice finished yields
/// [`StreamInterrupted`](crate::ErrorKind::StreamInterrupted) with the partial text, so a
/// truncated answer is never mistaken for a complete one.
pub async fn collect_stream(mut stream: ChatStream) -> Result<ChatResponse, Error> {
    let started = std::time::Instant::now();
    let mut accumulator = StreamAccumulator::default();
    while let Some(event) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        accumulator.push(&event?);
    }
    if !accumulator.is_finished() {
        return Err(Error::stream_interrupted(
            accumulator.partial_text(),
            "the stream ended without a finish reason",
        ));
    }
    let mut response = accumulator.into_response();
    response.metadata.latency = started.elapsed().max(Duration::from_nanos(1));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use futures_util::stream;

    use super::*;
    use crate::ErrorKind;

    fn events(events: Vec<Result<StreamEvent, Error>>) -> ChatStream {
        Box::pin(stream::iter(events))
    }

    #[tokio::test]
    async fn collects_text_tool_calls_and_usage() {
        let mut first = ToolCallDelta::new(0, 0);
        first.id = Some("call_1".into());
        first.name = Some("lookup".into());
        first.arguments = "{\"q\":".into();
        let mut second = ToolCallDelta::new(0, 0);
        second.arguments = "\"rust\"}".into();
        let response = collect_stream(events(vec![
            Ok(StreamEvent::Start(StreamStart::new(
                "gen-1",
                "a/b",
                "openrouter",
            ))),
            Ok(StreamEvent::ToolCallDelta(first)),
            Ok(StreamEvent::ToolCallDelta(second)),
            Ok(StreamEvent::Finish {
                choice: 0,
                reason: FinishReason::ToolCalls,
            }),
            Ok(StreamEvent::Usage(Usage::new(10, 5).with_cost(0.001))),
        ]))
        .await
        .unwrap();

        let message = &response.choices[0].message;
        assert_eq!(message.content, None);
        assert_eq!(
            message.tool_calls,
            [ToolCall::function("call_1", "lookup", "{\"q\":\"rust\"}")]
        );
        assert_eq!(response.finish_reason(), Some(&FinishReason::ToolCalls));
        assert_eq!(response.usage.unwrap().total_tokens, 15);
    }

    #[tokio::test]
    async fn a_stream_without_finish_is_interrupted_not_complete() {
        let result = collect_stream(events(vec![
            Ok(StreamEvent::Start(StreamStart::new(
                "gen-1",
                "a/b",
                "openrouter",
            ))),
            Ok(StreamEvent::ContentDelta {
                choice: 0,
                text: "partial".into(),
            }),
        ]))
        .await;
        let error = result.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::StreamInterrupted);
        assert_eq!(error.partial_content(), Some("partial"));
    }

    #[tokio::test]
    async fn errors_in_the_stream_are_returned() {
        let result = collect_stream(events(vec![Err(Error::new(ErrorKind::Server, "boom"))])).await;
        assert_eq!(result.unwrap_err().kind(), ErrorKind::Server);
    }

    #[test]
    fn huge_choice_index_does_not_allocate_unbounded() {
        let mut accumulator = StreamAccumulator::default();
        accumulator.push(&StreamEvent::ContentDelta {
            choice: u32::MAX,
            text: "x".into(),
        });
        assert_eq!(accumulator.choices.len(), MAX_CHOICES + 1);
    }
}
