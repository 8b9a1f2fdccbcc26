//! Streaming failover: invisible until the first content, honest after it.

use std::{collections::VecDeque, time::Duration};

use futures_util::StreamExt;
use orchestra_core::{
    Attempt, AttemptOutcome, ChatRequest, ChatStream, Error, ErrorKind, StreamEvent, StreamStart,
};
use orchestra_resilience::{timer_at, with_enforced_deadline};
use tokio::time::Instant;

use crate::{
    Router, Target,
    router::{Routed, Walk, merge_attempts},
};

/// A stream that delivered content, with the events read while deciding so.
struct Opened {
    stream: ChatStream,
    buffered: VecDeque<StreamEvent>,
}

pub(crate) async fn chat_stream(
    router: &Router,
    request: &ChatRequest,
) -> Result<ChatStream, Error> {
    let plan = router.plan(request).await;
    let mut request = Routed::borrowed(request);
    let mut walk = Walk::new();
    loop {
        for (index, target) in plan.targets().enumerate() {
            if !walk.admit(router, target) {
                continue;
            }
            let routed = request.for_target(target);
            let started = Instant::now();
            let has_fallback = index + 1 < plan.len();
            // `open` ends the attempt at the plan's deadline, until the first content.
            let opened = with_enforced_deadline(
                plan.deadline,
                has_fallback,
                open(router, target, routed, plan.deadline),
            );
            match opened.await {
                Ok(opened) => {
                    let latency = started.elapsed();
                    router.observe(target, Ok(latency));
                    let success = Attempt::new(
                        target.provider().name(),
                        target.model(),
                        AttemptOutcome::Success,
                        latency,
                    );
                    return Ok(deliver(router, target, opened, walk.attempts, success));
                }
                Err(error) => {
                    if !walk.failed(router, target, error, started.elapsed()) {
                        let error = walk.last_error.take().unwrap_or_else(|| {
                            Error::new(ErrorKind::Server, "routing lost its error")
                        });
                        return Err(error.with_attempts(walk.attempts));
                    }
                }
            }
            if router.now() >= plan.deadline {
                return Err(walk.into_error(router));
            }
        }
        match walk.wait_for_recovery(router, &plan) {
            Some(wait) => router.clock().wait(wait).await,
            None => return Err(walk.into_error(router)),
        }
    }
}

/// Whether a user has seen something of the answer once this event is delivered.
fn is_content(event: &StreamEvent) -> bool {
    matches!(
        event,
        StreamEvent::ContentDelta { .. }
            | StreamEvent::ReasoningDelta { .. }
            | StreamEvent::ToolCallDelta(_)
            | StreamEvent::Finish { .. }
    )
}

/// Opens a stream on `target` and reads until the first content: any failure before that
/// (an error, a silence longer than the idle timeout, an end without content) is the
/// target's failure, so the router can move on without the caller noticing.
async fn open(
    router: &Router,
    target: &Target,
    request: &ChatRequest,
    deadline: Duration,
) -> Result<Opened, Error> {
    let remaining = deadline.saturating_sub(router.now());
    let mut stream = tokio::select! {
        result = target.provider().chat_stream(request) => result?,
        () = timer_at(router.clock(), deadline) => return Err(stalled(target, remaining, "")),
    };
    let mut buffered = VecDeque::new();
    loop {
        let wait = router.idle_timeout();
        let next = tokio::select! {
            next = tokio::time::timeout(wait, stream.next()) => next,
            () = timer_at(router.clock(), deadline) => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "the routed call's deadline passed before the stream's first content",
                )
                .with_provider(target.provider().name())
                .with_model(target.model()));
            }
        };
        match next {
            Ok(Some(Ok(event))) => {
                let content = is_content(&event);
                buffered.push_back(event);
                if content {
                    return Ok(Opened { stream, buffered });
                }
            }
            Ok(Some(Err(error))) => return Err(error),
            Ok(None) => {
                return Err(
                    Error::stream_interrupted("", "the stream ended before any content")
                        .with_provider(target.provider().name())
                        .with_model(target.model()),
                );
            }
            Err(_) => return Err(stalled(target, wait, "")),
        }
    }
}

fn stalled(target: &Target, silence: Duration, partial: &str) -> Error {
    let message = format!(
        "no stream event for {:.1}s (idle timeout)",
        silence.as_secs_f64()
    );
    let error = if partial.is_empty() {
        Error::new(ErrorKind::Timeout, message)
    } else {
        Error::stream_interrupted(partial, message)
    };
    error
        .with_provider(target.provider().name())
        .with_model(target.model())
}

struct Delivery {
    stream: ChatStream,
    buffered: VecDeque<StreamEvent>,
    partial: String,
    finished: bool,
    done: bool,
    idle_timeout: Duration,
    target: Target,
}

/// The caller's stream: the buffered events (the start event carrying every attempt), then
/// the rest, each within the idle timeout. After content, every failure is
/// [`ErrorKind::StreamInterrupted`] with the partial text, and an end without a finish
/// reason is one too.
/// Delivers an opened stream; its start event lists the router's attempts, then those of the
/// layers below (retries), then the one that served.
fn deliver(
    router: &Router,
    target: &Target,
    opened: Opened,
    attempts: Vec<Attempt>,
    success: Attempt,
) -> ChatStream {
    let Opened {
        stream,
        mut buffered,
    } = opened;
    match buffered.iter_mut().find_map(|event| match event {
        StreamEvent::Start(start) => Some(start),
        _ => None,
    }) {
        Some(start) => {
            let below = std::mem::take(&mut start.attempts);
            start.attempts = merge_attempts(attempts, below, || success);
        }
        None => {
            let mut start = StreamStart::new("", target.model(), target.provider().name());
            start.attempts = merge_attempts(attempts, Vec::new(), || success);
            buffered.push_front(StreamEvent::Start(start));
        }
    }
    let delivery = Delivery {
        stream,
        buffered,
        partial: String::new(),
        finished: false,
        done: false,
        idle_timeout: router.idle_timeout(),
        target: target.clone(),
    };
    Box::pin(futures_util::stream::unfold(
        delivery,
        |mut delivery| async move {
            let item = delivery.next().await?;
            Some((item, delivery))
        },
    ))
}

impl Delivery {
    async fn next(&mut self) -> Option<Result<StreamEvent, Error>> {
        if self.done {
            return None;
        }
        let event = match self.buffered.pop_front() {
            Some(event) => Ok(event),
            None => match tokio::time::timeout(self.idle_timeout, self.stream.next()).await {
                Ok(Some(event)) => event,
                Ok(None) if self.finished => return None,
                Ok(None) => Err(Error::stream_interrupted(
                    self.partial.clone(),
                    "the stream ended without a finish reason",
                )),
                Err(_) => Err(stalled(&self.target, self.idle_timeout, &self.partial)),
            },
        };
        match event {
            Ok(event) => {
                match &event {
                    StreamEvent::ContentDelta { choice: 0, text } => self.partial.push_str(text),
                    StreamEvent::Finish { .. } => self.finished = true,
                    _ => {}
                }
                Some(Ok(event))
            }
            Err(error) => {
                self.done = true;
                Some(Err(self.interrupted(error)))
            }
        }
    }

    /// After content was delivered, a failure is an interruption carrying the text so far.
    fn interrupted(&self, error: Error) -> Error {
        if error.kind() == ErrorKind::StreamInterrupted {
            return if error.partial_content().is_some() {
                error
            } else {
                error.with_partial_content(self.partial.clone())
            };
        }
        let message = format!("{} failed mid-stream: {error}", self.target.id());
        Error::stream_interrupted(self.partial.clone(), message)
            .with_provider(self.target.provider().name())
            .with_model(self.target.model())
            .with_source(error)
    }
}
