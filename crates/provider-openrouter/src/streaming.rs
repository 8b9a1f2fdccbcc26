//! Streaming chat: SSE bytes → core [`StreamEvent`]s.

use std::{collections::BTreeSet, collections::VecDeque, pin::Pin};

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use orchestra_core::{
    ChatRequest, ChatStream, Error, ErrorKind, FinishReason, Secret, StreamEvent, StreamStart,
    ToolCallDelta, Usage,
};
use reqwest::header::CONTENT_TYPE;
use tracing::Instrument;

use crate::{
    OpenRouter, PROVIDER_NAME,
    client::{generation_id_header, read_body},
    errors::{Failure, decode_error, map_error},
    sse::SseParser,
    telemetry::{Outcome, RequestSpan},
    wire::{Chunk, Completion, WireError},
};

/// Longest SSE line accepted (1 MiB); longer is a [`ErrorKind::Decode`] error.
pub const MAX_SSE_LINE_BYTES: usize = 1 << 20;

/// Largest SSE event accepted (1 MiB of `data`); larger is a [`ErrorKind::Decode`] error.
pub const MAX_SSE_EVENT_BYTES: usize = 1 << 20;

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Sends a streaming request; errors before the first byte of the stream are returned here.
pub(crate) async fn start(client: &OpenRouter, request: &ChatRequest) -> Result<ChatStream, Error> {
    let chain = client.model_chain(request);
    let model = chain.model.clone();
    let telemetry = RequestSpan::start(&chain, true);
    let response = match client
        .send_chat(request, &chain, true)
        .instrument(telemetry.span().clone())
        .await
    {
        Ok(response) => response,
        Err(error) => {
            telemetry.failed(&error);
            return Err(error);
        }
    };
    let status = response.status().as_u16();
    if !response.status().is_success() {
        let error = client.error_from_response(response, model.as_deref()).await;
        telemetry.failed(&error);
        return Err(error);
    }
    let headers = response.headers().clone();
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        // A JSON body where an event stream was asked for: an error envelope (HTTP 200
        // with `error`), or something we cannot stream.
        let body = read_body(response, 1 << 20, model.as_deref(), true).await?;
        let completion: Completion = serde_json::from_slice(&body).unwrap_or_default();
        let error = match &completion.error {
            Some(error) => map_error(Failure {
                http_status: Some(status),
                headers: Some(&headers),
                error: Some(error),
                body: &body,
                model: model.as_deref(),
                api_key: Some(client.api_key()),
            }),
            None => decode_error(
                "expected an event stream, got a JSON body",
                None,
                model.as_deref(),
            ),
        };
        telemetry.failed(&error);
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
        requested_model: model,
        served_model: None,
        generation_id: generation_id_header(&headers),
        usage: None,
        api_key: client.api_key().clone(),
        upstream_provider: None,
        telemetry,
    };
    Ok(Box::pin(futures_util::stream::unfold(
        state,
        |mut state| async move { state.next_event().await.map(|event| (event, state)) },
    )))
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
    requested_model: Option<String>,
    served_model: Option<String>,
    generation_id: Option<String>,
    usage: Option<Usage>,
    upstream_provider: Option<String>,
    api_key: Secret,
    telemetry: RequestSpan,
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
            match self.body.next().await {
                Some(Ok(bytes)) => {
                    if let Err(error) = self.parser.push(&bytes) {
                        let mut decode = Error::new(ErrorKind::Decode, error.to_string())
                            .with_provider(PROVIDER_NAME)
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
            .or(self.requested_model.as_deref())
    }

    fn interrupted(&self, message: &str) -> Error {
        let mut error =
            Error::stream_interrupted(self.partial.clone(), message).with_provider(PROVIDER_NAME);
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
        self.telemetry.failed(&error);
        self.pending.push_back(Err(error));
        self.terminated = true;
    }

    fn in_band_error(&mut self, error: &WireError) {
        let mapped = map_error(Failure {
            http_status: None,
            headers: None,
            error: Some(error),
            body: &[],
            model: self.model(),
            api_key: Some(&self.api_key),
        });
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
                self.log_success();
            } else {
                let interrupted = self.interrupted("[DONE] arrived before a finish_reason");
                self.fail(interrupted);
            }
            return;
        }
        let chunk: Chunk = match serde_json::from_str(data) {
            Ok(chunk) => chunk,
            Err(error) => {
                let decode = decode_error(
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
            self.started = true;
            let id = chunk
                .id
                .clone()
                .or_else(|| self.generation_id.clone())
                .unwrap_or_default();
            self.generation_id = Some(id.clone());
            self.upstream_provider.clone_from(&chunk.provider);
            let mut start = StreamStart::new(id, self.model().unwrap_or_default(), PROVIDER_NAME);
            start.upstream_provider = chunk.provider.clone();
            self.pending.push_back(Ok(StreamEvent::Start(start)));
        }
        for choice in chunk.choices.unwrap_or_default() {
            let index = choice.index.unwrap_or(0);
            self.seen_choices.insert(index);
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

    fn log_success(&self) {
        self.telemetry.succeeded(&Outcome {
            id: self.generation_id.as_deref().unwrap_or_default(),
            served_model: self.model().unwrap_or_default(),
            upstream_provider: self.upstream_provider.as_deref(),
            usage: self.usage,
            status: 200,
        });
    }
}
