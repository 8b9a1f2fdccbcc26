//! One `tracing` span per request, with OpenTelemetry GenAI attribute names so an OTel
//! exporter maps them without configuration. The key is never a field.

use std::time::Instant;

use orchestra_core::{Error, Usage};
use orchestra_openai_compat::{
    SpanOutcome, StreamObserver, StreamOutcome, record_failure, record_success,
};
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

    pub(crate) fn succeeded(&self, outcome: &Outcome<'_>) {
        if let Some(upstream) = outcome.upstream_provider {
            self.span
                .record("gen_ai.openrouter.upstream_provider", upstream);
        }
        let recorded = SpanOutcome::new(
            outcome.id,
            outcome.served_model,
            outcome.usage,
            outcome.status,
        );
        record_success(&self.span, self.started, PROVIDER_NAME, &recorded);
    }

    pub(crate) fn failed(&self, error: &Error) {
        record_failure(&self.span, self.started, PROVIDER_NAME, error);
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
