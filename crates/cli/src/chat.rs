//! `orchestra chat`.

use std::{
    io::{self, Read, Write},
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use orchestra_config::EnvSource;
use orchestra_core::{
    Attempt, AttemptOutcome, ChatRequest, ChatResponse, Error, Message, Provider,
    StreamAccumulator, StreamEvent,
};
use serde_json::{Value, json};

use crate::{
    ExitStatus, Output,
    cli::ChatArgs,
    session::{Session, report_failure},
};

pub(crate) fn run(
    args: &ChatArgs,
    source: &dyn EnvSource,
    output: &mut Output<'_>,
) -> io::Result<ExitStatus> {
    let prompt = if args.prompt == "-" {
        let mut text = String::new();
        io::stdin().read_to_string(&mut text)?;
        text
    } else {
        args.prompt.clone()
    };
    if prompt.trim().is_empty() {
        writeln!(output.err, "error: the prompt is empty")?;
        return Ok(ExitStatus::InvalidUsage);
    }
    let session = match Session::open(source, output)? {
        Ok(session) => session,
        Err(status) => return Ok(status),
    };
    let request = build_request(args, prompt);
    let started = Instant::now();
    let result = if args.stream {
        session
            .runtime
            .block_on(stream(&session, &request, !args.json, output.out))
    } else {
        session.runtime.block_on(session.client.chat(&request))
    };
    let response = match result {
        Ok(response) => response,
        Err(error) => {
            if args.stream && !args.json && error.partial_content().is_some() {
                // The partial answer is already on stdout; end its line.
                writeln!(output.out)?;
            }
            return report_failure(&error, output.err);
        }
    };
    if args.json {
        let report = report(&response, started.elapsed());
        writeln!(output.out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else if !args.stream {
        writeln!(output.out, "{}", response.content().unwrap_or_default())?;
    }
    Ok(ExitStatus::Success)
}

fn build_request(args: &ChatArgs, prompt: String) -> ChatRequest {
    let mut messages = Vec::with_capacity(2);
    if let Some(system) = &args.system {
        messages.push(Message::system(system.clone()));
    }
    messages.push(Message::user(prompt));
    let mut request = ChatRequest::new(messages);
    if let Some(agent) = &args.agent {
        request = request.agent_type(agent.clone());
    }
    // Without --model the client's router picks: the agent's model, then the fallbacks.
    if let Some(model) = &args.model {
        request = request.model(model.clone());
    }
    if let Some(max_tokens) = args.max_tokens {
        request = request.max_tokens(max_tokens);
    }
    request
}

/// Streams the answer, printing content as it arrives when `echo` is set.
async fn stream(
    session: &Session,
    request: &ChatRequest,
    echo: bool,
    out: &mut dyn Write,
) -> Result<ChatResponse, Error> {
    let started = Instant::now();
    let mut events = session.client.chat_stream(request).await?;
    let mut accumulator = StreamAccumulator::default();
    while let Some(event) = events.next().await {
        let event = event?;
        if echo && let StreamEvent::ContentDelta { choice: 0, text } = &event {
            // A closed stdout must not stop the answer from being collected.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
        }
        accumulator.push(&event);
    }
    if !accumulator.is_finished() {
        return Err(Error::stream_interrupted(
            accumulator.partial_text(),
            "the stream ended without a finish reason",
        ));
    }
    if echo {
        let _ = writeln!(out);
    }
    let mut response = accumulator.into_response();
    response.metadata.latency = started.elapsed();
    if response.metadata.attempts.is_empty() {
        response.metadata.attempts.push(Attempt::new(
            response.provider.clone(),
            response.model.clone(),
            AttemptOutcome::Success,
            response.metadata.latency,
        ));
    }
    Ok(response)
}

/// The `chat --json` contract (foundation issue): stable field names, every field present.
pub(crate) fn report(response: &ChatResponse, elapsed: Duration) -> Value {
    let usage = response.usage.map(|usage| {
        json!({
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "cost_usd": usage.cost_usd,
        })
    });
    let attempts: Vec<Value> = response
        .metadata
        .attempts
        .iter()
        .map(|attempt| {
            json!({
                "provider": attempt.provider,
                "model": attempt.model,
                "outcome": attempt.outcome.to_string(),
                "status": attempt.status,
                "latency_ms": millis(attempt.latency),
                "detail": attempt.detail,
            })
        })
        .collect();
    let latency = if response.metadata.latency.is_zero() {
        elapsed
    } else {
        response.metadata.latency
    };
    json!({
        "content": response.content(),
        "model": response.model,
        "provider": response.provider,
        "upstream_provider": response.upstream_provider,
        "finish_reason": response.finish_reason().map(|reason| reason.as_str().to_owned()),
        "usage": usage,
        "cache": response.metadata.cache.as_str(),
        "attempts": attempts,
        "latency_ms": millis(latency),
    })
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}
