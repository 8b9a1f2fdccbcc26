//! Recording a request's outcome on its `tracing` span with OpenTelemetry GenAI attribute
//! names. Each provider declares its own span (the field list of a span is fixed where it
//! is created, and providers add their own fields); what every provider records at the end
//! lives here.

use std::time::Instant;

use orchestra_core::{Error, Usage};
use tracing::Span;

/// What a successful request reports on its span.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct SpanOutcome<'a> {
    /// `gen_ai.response.id`.
    pub id: &'a str,
    /// `gen_ai.response.model`: the model that served.
    pub served_model: &'a str,
    /// `gen_ai.usage.*`.
    pub usage: Option<Usage>,
    /// `http.response.status_code`.
    pub status: u16,
}

impl<'a> SpanOutcome<'a> {
    /// An outcome to record.
    pub fn new(id: &'a str, served_model: &'a str, usage: Option<Usage>, status: u16) -> Self {
        Self {
            id,
            served_model,
            usage,
            status,
        }
    }
}

/// Records a success on `span`, which must declare `latency_ms`, `gen_ai.response.id`,
/// `gen_ai.response.model`, `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`,
/// `gen_ai.usage.cost_usd` and `http.response.status_code`, then logs
/// "`{provider}` request succeeded" at debug level inside it.
pub fn record_success(span: &Span, started: Instant, provider: &str, outcome: &SpanOutcome<'_>) {
    record_latency(span, started);
    span.record("gen_ai.response.id", outcome.id);
    span.record("gen_ai.response.model", outcome.served_model);
    if let Some(usage) = outcome.usage {
        span.record("gen_ai.usage.input_tokens", usage.prompt_tokens);
        span.record("gen_ai.usage.output_tokens", usage.completion_tokens);
        if let Some(cost) = usage.cost_usd {
            span.record("gen_ai.usage.cost_usd", cost);
        }
    }
    span.record("http.response.status_code", outcome.status);
    span.in_scope(|| tracing::debug!("{provider} request succeeded"));
}

/// Records a failure on `span` (`latency_ms`, `error.type`, `http.response.status_code`),
/// then logs "`{provider}` request failed" with the error at debug level inside it.
pub fn record_failure(span: &Span, started: Instant, provider: &str, error: &Error) {
    record_latency(span, started);
    span.record("error.type", error.kind().as_str());
    if let Some(status) = error.status() {
        span.record("http.response.status_code", status);
    }
    span.in_scope(|| tracing::debug!(%error, "{provider} request failed"));
}

fn record_latency(span: &Span, started: Instant) {
    span.record("latency_ms", started.elapsed().as_secs_f64() * 1000.0);
}
