//! Streaming chat: SSE bytes → core [`StreamEvent`]s, with the guarantees every provider
//! owes its callers: bounded buffering, typed in-band errors, and no clean end for a stream
//! that was cut (the partial text rides on the error).

use std::{collections::BTreeSet, collections::VecDeque, pin::Pin, sync::Arc, time::Duration};

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use orchestra_core::{
    Attempt, ChatStream, Error, ErrorKind, FinishReason, StreamEvent, StreamStart, ToolCallDelta,
    Usage,
};
use reqwest::header::CONTENT_TYPE;

use crate::{
    completion::read_body,
    errors::{ErrorMapper, Failure},
    limits::{
        MAX_ERROR_BODY_BYTES, MAX_SSE_EVENT_BYTES, MAX_SSE_LINE_BYTES, MAX_STREAM_CHOICES,
        MAX_STREAM_TEXT_BYTES, describe,
    },
    sse::SseParser,
    wire::{Chunk, Completion, WireError},
};

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// What a stream reports when it ended well.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct StreamOutcome<'a> {
    /// Generation id.
    pub id: &'a str,
    /// The model that served.
    pub served_model: &'a str,
    /// The upstream provider, when known.
    pub upstream_provider: Option<&'a str>,
    /// Usage from the last chunk.
    pub usage: Option<Usage>,
    /// The HTTP status of the stream's response.
    pub status: u16,
}

/// Told how a stream ended, exactly once: for telemetry spans and usage ledgers.
pub trait StreamObserver: Send {
    /// The stream finished: every choice reported a finish reason, then `[DONE]`.
    fn succeeded(&mut self, outcome: &StreamOutcome<'_>);

    /// The stream failed before its end (also before its first event).
    fn failed(&mut self, error: &Error);
}

/// What the provider knows about a stream before its first chunk.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StreamSetup {
    /// The model the request went out for, until a chunk names the one that serves.
    pub requested_model: Option<String>,
    /// A generation id from the response headers, until a chunk has one.
    pub generation_id: Option<String>,
    /// The upstream provider when the chunks do not say.
    pub upstream_provider: Option<String>,
    /// Attempts made before this stream started, put on the [`StreamStart`] event.
    pub attempts: Vec<Attempt>,
    /// The longest silence between two pieces of the body: past it the stream ends with
    /// [`StreamInterrupted`](ErrorKind::StreamInterrupted). `None` leaves stalls to the HTTP
    /// client (a read timeout of its own, if it has one). Needs a Tokio runtime with time
    /// enabled.
    pub idle_timeout: Option<Duration>,
    /// The most text the stream may deliver, every choice and kind together
    /// ([`MAX_STREAM_TEXT_BYTES`] unless changed); past it the stream ends with a
    /// [`Decode`](ErrorKind::Decode) error that keeps the partial text.
    pub max_text_bytes: usize,
}

impl Default for StreamSetup {
    fn default() -> Self {
        Self {
            requested_model: None,
            generation_id: None,
            upstream_provider: None,
            attempts: Vec::new(),
            idle_timeout: None,
            max_text_bytes: MAX_STREAM_TEXT_BYTES,
        }
    }
}

impl StreamSetup {
    /// A setup for a stream of `requested_model`.
    pub fn new(requested_model: Option<String>) -> Self {
        Self {
            requested_model,
            ..Self::default()
        }
    }
}

/// Turns a 2xx streaming response into a [`ChatStream`].
///
/// A JSON body where an event stream was asked for is an error envelope (mapped) or a
/// [`Decode`](ErrorKind::Decode) error. The caller maps non-2xx responses itself (it may
/// know more, such as earlier attempts). `observer` hears how the stream ended.
///
/// # Errors
///
/// Only for the JSON-body case; later failures arrive in the stream.
pub async fn stream_response(
    response: reqwest::Response,
    mapper: Arc<dyn ErrorMapper>,
    mut observer: Box<dyn StreamObserver>,
    setup: StreamSetup,
) -> Result<ChatStream, Error> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let model = setup.requested_model.clone();
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        // A JSON body where an event stream was asked for: an error envelope (HTTP 200
        // with `error`), or something we cannot stream.
        let error = match read_body(
            response,
            MAX_ERROR_BODY_BYTES,
            true,
            &*mapper,
            model.as_deref(),
        )
        .await
        {
            Ok(body) => {
                let completion: Completion = serde_json::from_slice(&body).unwrap_or_default();
                match &completion.error {
                    Some(error) => mapper.map(Failure::in_band(
                        error,
                        Some(status),
                        Some(&headers),
                        model.as_deref(),
                    )),
                    None => mapper.decode(
                        "expected an event stream, got a JSON body",
                        None,
                        model.as_deref(),
                    ),
                }
            }
            Err(error) => error,
        };
        observer.failed(&error);
        return Err(error);
    }

    let state = StreamState {
        body: Box::pin(response.bytes_stream()),
        parser: SseParser::new(MAX_SSE_LINE_BYTES, MAX_SSE_EVENT_BYTES),
        pending: VecDeque::new(),
        terminated: false,
        started: false,
        seen_choices: BTreeSet::new(),
        finished_choices: BTreeSet::new(),
        partial: String::new(),
        text_bytes: 0,
        status,
        served_model: None,
        upstream_provider: None,
        usage: None,
        setup,
        mapper,
        observer,
    };
    // Fused: polled again after its end, it says `None` again instead of panicking (found
    // by the `stream` fuzz target; a `select!` loop or a decorator may well do that).
    Ok(Box::pin(
        futures_util::stream::unfold(state, |mut state| async move {
            state.next_event().await.map(|event| (event, state))
        })
        .fuse(),
    ))
}

struct StreamState {
    body: ByteStream,
    parser: SseParser,
    pending: VecDeque<Result<StreamEvent, Error>>,
    terminated: bool,
    started: bool,
    seen_choices: BTreeSet<u32>,
    finished_choices: BTreeSet<u32>,
    /// Text of choice 0 so far, kept for [`Error::partial_content`].
    partial: String,
    /// Bytes of text delivered so far, every choice and kind together.
    text_bytes: usize,
    status: u16,
    served_model: Option<String>,
    upstream_provider: Option<String>,
    usage: Option<Usage>,
    setup: StreamSetup,
    mapper: Arc<dyn ErrorMapper>,
    observer: Box<dyn StreamObserver>,
}

impl StreamState {
    async fn next_event(&mut self) -> Option<Result<StreamEvent, Error>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.terminated {
                return None;
            }
            if let Some(data) = self.parser.next_event() {
                self.handle(&data);
                continue;
            }
            let next = match self.setup.idle_timeout {
                None => self.body.next().await,
                Some(limit) => match tokio::time::timeout(limit, self.body.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        let interrupted = self.interrupted(&format!(
                            "the stream was silent for longer than {limit:?}"
                        ));
                        self.fail(interrupted);
                        continue;
                    }
                },
            };
            match next {
                Some(Ok(bytes)) => {
                    if let Err(error) = self.parser.push(&bytes) {
                        // The events before the broken line came first: deliver them, as
                        // they would have been had the bytes arrived in smaller pieces.
                        while !self.terminated
                            && let Some(data) = self.parser.next_event()
                        {
                            self.handle(&data);
                        }
                        if self.terminated {
                            continue;
                        }
                        let mut decode = Error::new(ErrorKind::Decode, error.to_string())
                            .with_provider(self.mapper.provider())
                            .with_source(error);
                        if let Some(model) = self.model() {
                            decode = decode.with_model(model);
                        }
                        self.fail(decode);
                    }
                }
                Some(Err(error)) => {
                    let what = if error.is_timeout() {
                        "the stream stalled longer than the request timeout"
                    } else {
                        "the connection broke mid-stream"
                    };
                    let interrupted = self.interrupted(what).with_source(error);
                    self.fail(interrupted);
                }
                None => {
                    // A final `data: [DONE]` without its blank line still counts; any other
                    // unterminated event was cut off and is dropped.
                    if let Some(data) = self.parser.finish()
                        && data.trim() == "[DONE]"
                    {
                        self.handle(&data);
                    }
                    if !self.terminated {
                        let interrupted = self.interrupted("the stream ended without [DONE]");
                        self.fail(interrupted);
                    }
                }
            }
        }
    }

    fn model(&self) -> Option<&str> {
        self.served_model
            .as_deref()
            .or(self.setup.requested_model.as_deref())
    }

    fn interrupted(&self, message: &str) -> Error {
        let mut error = Error::stream_interrupted(self.partial.clone(), message)
            .with_provider(self.mapper.provider());
        if let Some(model) = self.model() {
            error = error.with_model(model);
        }
        error
    }

    /// Ends the stream with `error`, carrying the text delivered so far whatever its kind.
    fn fail(&mut self, mut error: Error) {
        if error.partial_content().is_none() && !self.partial.is_empty() {
            error = error.with_partial_content(self.partial.clone());
        }
        self.observer.failed(&error);
        self.pending.push_back(Err(error));
        self.terminated = true;
    }

    fn in_band_error(&mut self, error: &WireError) {
        let mapped = self
            .mapper
            .map(Failure::in_band(error, None, None, self.model()));
        self.fail(mapped);
    }

    fn handle(&mut self, data: &str) {
        let data = data.trim();
        // Some proxies re-emit keep-alive comments as `data: : OPENROUTER PROCESSING`.
        if data.is_empty() || data.starts_with(':') {
            return;
        }
        if data == "[DONE]" {
            let all_finished = !self.seen_choices.is_empty()
                && self.seen_choices.is_subset(&self.finished_choices);
            if all_finished {
                self.terminated = true;
                self.report_success();
            } else {
                let interrupted = self.interrupted("[DONE] arrived before a finish_reason");
                self.fail(interrupted);
            }
            return;
        }
        let chunk: Chunk = match serde_json::from_str(data) {
            Ok(chunk) => chunk,
            Err(error) => {
                let decode = self.mapper.decode(
                    "a stream event is not a valid JSON chunk",
                    Some(error),
                    self.model(),
                );
                self.fail(decode);
                return;
            }
        };
        if let Some(model) = chunk.model.as_ref().filter(|model| !model.is_empty()) {
            self.served_model.get_or_insert_with(|| model.clone());
        }
        if let Some(error) = &chunk.error {
            self.in_band_error(error);
            return;
        }
        if !self.started {
            self.start(&chunk);
        }
        for choice in chunk.choices.unwrap_or_default() {
            let index = choice.index.unwrap_or(0);
            if !self.seen_choices.contains(&index) && self.seen_choices.len() >= MAX_STREAM_CHOICES
            {
                let decode = self.mapper.decode(
                    &format!("the stream names more than {MAX_STREAM_CHOICES} choices (the limit)"),
                    None,
                    self.model(),
                );
                self.fail(decode);
                return;
            }
            self.seen_choices.insert(index);
            if let Some(delta) = &choice.delta {
                let text = [&delta.reasoning, &delta.content]
                    .into_iter()
                    .flatten()
                    .map(String::len)
                    .chain(delta.tool_calls.iter().flatten().map(|call| {
                        call.function
                            .as_ref()
                            .and_then(|function| function.arguments.as_ref())
                            .map_or(0, String::len)
                    }))
                    .fold(0usize, usize::saturating_add);
                self.text_bytes = self.text_bytes.saturating_add(text);
                if self.text_bytes > self.setup.max_text_bytes {
                    let decode = self.mapper.decode(
                        &format!(
                            "the streamed answer's text grew past the limit of {} for one \
                             response",
                            describe(self.setup.max_text_bytes)
                        ),
                        None,
                        self.model(),
                    );
                    self.fail(decode);
                    return;
                }
            }
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.reasoning.filter(|text| !text.is_empty()) {
                    self.pending.push_back(Ok(StreamEvent::ReasoningDelta {
                        choice: index,
                        text,
                    }));
                }
                if let Some(text) = delta.content.filter(|text| !text.is_empty()) {
                    if index == 0 {
                        self.partial.push_str(&text);
                    }
                    self.pending.push_back(Ok(StreamEvent::ContentDelta {
                        choice: index,
                        text,
                    }));
                }
                for (position, call) in (0u32..).zip(delta.tool_calls.unwrap_or_default()) {
                    let mut fragment = ToolCallDelta::new(index, call.index.unwrap_or(position));
                    fragment.id = call.id;
                    if let Some(function) = call.function {
                        fragment.name = function.name;
                        fragment.arguments = function.arguments.unwrap_or_default();
                    }
                    self.pending
                        .push_back(Ok(StreamEvent::ToolCallDelta(fragment)));
                }
            }
            if choice.error.is_some() || choice.finish_reason.as_deref() == Some("error") {
                let error = choice.error.unwrap_or_else(|| WireError {
                    message: Some(
                        "the provider failed mid-stream (finish_reason \"error\")".into(),
                    ),
                    ..WireError::default()
                });
                self.in_band_error(&error);
                return;
            }
            if let Some(reason) = choice.finish_reason.filter(|reason| !reason.is_empty())
                && self.finished_choices.insert(index)
            {
                self.pending.push_back(Ok(StreamEvent::Finish {
                    choice: index,
                    reason: FinishReason::from(reason.as_str()),
                }));
            }
        }
        if let Some(usage) = chunk.usage {
            let usage = usage.into_usage();
            self.usage = Some(usage);
            self.pending.push_back(Ok(StreamEvent::Usage(usage)));
        }
    }

    /// The [`StreamEvent::Start`] event, from the first chunk.
    fn start(&mut self, chunk: &Chunk) {
        self.started = true;
        let id = chunk
            .id
            .clone()
            .filter(|id| !id.is_empty())
            .or_else(|| self.setup.generation_id.clone())
            .unwrap_or_default();
        self.setup.generation_id = Some(id.clone());
        self.upstream_provider = chunk
            .provider
            .clone()
            .or_else(|| self.setup.upstream_provider.clone());
        let mut start =
            StreamStart::new(id, self.model().unwrap_or_default(), self.mapper.provider());
        start.upstream_provider.clone_from(&self.upstream_provider);
        start.attempts = std::mem::take(&mut self.setup.attempts);
        self.pending.push_back(Ok(StreamEvent::Start(start)));
    }

    fn report_success(&mut self) {
        let served = self
            .served_model
            .as_deref()
            .or(self.setup.requested_model.as_deref());
        let outcome = StreamOutcome {
            id: self.setup.generation_id.as_deref().unwrap_or_default(),
            served_model: served.unwrap_or_default(),
            upstream_provider: self.upstream_provider.as_deref(),
            usage: self.usage,
            status: self.status,
        };
        self.observer.succeeded(&outcome);
    }
}
