//! Cached answers replayed as streams.

use orchestra_core::{
    ChatResponse, ChatStream, Error, FinishReason, StreamEvent, StreamStart, ToolCallDelta,
};

/// Text is replayed in pieces of about this many bytes, cut after whitespace.
const PIECE: usize = 32;

/// The events a provider would have streamed for `response`: `Start`, then per choice its
/// reasoning, text in pieces, tool calls and `Finish`, then `Usage`.
pub(super) fn events(response: &ChatResponse) -> ChatStream {
    let mut start = StreamStart::new(&response.id, &response.model, &response.provider);
    start
        .upstream_provider
        .clone_from(&response.upstream_provider);
    start.cache = response.metadata.cache;
    let mut events: Vec<Result<StreamEvent, Error>> = vec![Ok(StreamEvent::Start(start))];
    for (position, choice) in response.choices.iter().enumerate() {
        let index = u32::try_from(position).unwrap_or(u32::MAX);
        if let Some(reasoning) = choice
            .message
            .reasoning
            .as_deref()
            .filter(|r| !r.is_empty())
        {
            events.push(Ok(StreamEvent::ReasoningDelta {
                choice: index,
                text: reasoning.to_owned(),
            }));
        }
        if let Some(text) = choice.message.text() {
            for piece in pieces(&text) {
                events.push(Ok(StreamEvent::ContentDelta {
                    choice: index,
                    text: piece.to_owned(),
                }));
            }
        }
        for (call_index, call) in choice.message.tool_calls.iter().enumerate() {
            let mut delta =
                ToolCallDelta::new(index, u32::try_from(call_index).unwrap_or(u32::MAX));
            delta.id = Some(call.id.clone());
            delta.name = Some(call.function.name.clone());
            delta.arguments.clone_from(&call.function.arguments);
            events.push(Ok(StreamEvent::ToolCallDelta(delta)));
        }
        events.push(Ok(StreamEvent::Finish {
            choice: index,
            reason: choice.finish_reason.clone().unwrap_or(FinishReason::Stop),
        }));
    }
    if let Some(usage) = response.usage {
        events.push(Ok(StreamEvent::Usage(usage)));
    }
    Box::pin(futures_util::stream::iter(events))
}

/// `text` in pieces of about [`PIECE`] bytes, each ending after whitespace when possible.
fn pieces(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut last_break = None;
    for (offset, c) in text.char_indices() {
        let end = offset + c.len_utf8();
        if c.is_whitespace() {
            last_break = Some(end);
        }
        if end - start >= PIECE {
            let cut = last_break.filter(|cut| *cut > start).unwrap_or(end);
            pieces.push(&text[start..cut]);
            start = cut;
            last_break = None;
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_rebuild_the_text() {
        let text =
            "Paris is the capital of France, and its largest city — population 2.1 million. ✓";
        let pieces = pieces(text);
        assert!(pieces.len() > 2);
        assert_eq!(pieces.concat(), text);
        assert!(super::pieces("").is_empty());
    }
}
