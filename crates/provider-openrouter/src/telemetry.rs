//! One `tracing` span per request, with OpenTelemetry GenAI attribute names so an OTel
//! exporter maps them without configuration. The key is never a field.

use std::time::Instant;

use orchestra_core::{Error, Usage};
use orchestra_openai_compat::{StreamObserver, StreamOutcome};
use tracing::{Span, field::Empty};

use crate::{PROVIDER_NAME, client::ModelChain};

/// The span of one chat request (streaming or not) and its start time.
pub(crate) struct RequestSpan {
    span: Span,
    started: Instant,
}

/// What a successful request reports.
pub(crate) struct Outcome<'a> {
    pub(crate) id: &'a str,
    pub(crate) served_model: &'a str,
    pub(crate) upstream_provider: Option<&'a str>,
    pub(crate) usage: Option<Usage>,
    pub(crate) status: u16,
}

impl RequestSpan {
    pub(crate) fn start(chain: &ModelChain, stream: bool) -> Self {
        let span = tracing::info_span!(
            "openrouter.chat",
            gen_ai.operation.name = "chat",
            gen_ai.system = PROVIDER_NAME,
            gen_ai.request.model = chain.model.as_deref().unwrap_or("(account default)"),
            gen_ai.request.stream = stream,
            orchestra.server_fallbacks = chain.server_fallbacks.len(),
            gen_ai.response.id = Empty,
            gen_ai.response.model = Empty,
            gen_ai.openrouter.upstream_provider = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            gen_ai.usage.cost_usd = Empty,
            http.response.status_code = Empty,
            latency_ms = Empty,
            error.type = Empty,
        );
        Self {
            span,
            started: Instant::now(),
        }
    }

    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    fn record_latency(&self) {
        self.span
            .record("latency_ms", self.started.elapsed().as_secs_f64() * 1000.0);
    }

    pub(crate) fn succeeded(&self, outcome: &Outcome<'_>) {
        self.record_latency();
        let span = &self.span;
        span.record("gen_ai.response.id", outcome.id);
        span.record("gen_ai.response.model", outcome.served_model);
        if let Some(upstream) = outcome.upstream_provider {
            span.record("gen_ai.openrouter.upstream_provider", upstream);
        }
        if let Some(usage) = outcome.usage {
            span.record("gen_ai.usage.input_tokens", usage.prompt_tokens);
            span.record("gen_ai.usage.output_tokens", usage.completion_tokens);
            if let Some(cost) = usage.cost_usd {
                span.record("gen_ai.usage.cost_usd", cost);
            }
        }
        span.record("http.response.status_code", outcome.status);
        span.in_scope(|| tracing::debug!("openrouter request succeeded"));
    }

    pub(crate) fn failed(&self, error: &Error) {
        self.record_latency();
        self.span.record("error.type", error.kind().as_str());
        if let Some(status) = error.status() {
            self.span.record("http.response.status_code", status);
        }
        self.span
            .in_scope(|| tracing::debug!(%error, "openrouter request failed"));
    }
}

impl StreamObserver for RequestSpan {
    fn succeeded(&mut self, outcome: &StreamOutcome<'_>) {
        RequestSpan::succeeded(
            self,
            &Outcome {
                id: outcome.id,
                served_model: outcome.served_model,
                upstream_provider: outcome.upstream_provider,
                usage: outcome.usage,
                status: outcome.status,
            },
        );
    }

    fn failed(&mut self, error: &Error) {
        RequestSpan::failed(self, error);
    }
}
