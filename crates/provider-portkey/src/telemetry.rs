//! One `portkey.chat` span per request, with OpenTelemetry GenAI attribute names. No
//! credential is ever a field; the config is never logged.

use std::{sync::Arc, time::Instant};

use orchestra_core::{Error, Usage};
use orchestra_openai_compat::{
    SpanOutcome, StreamObserver, StreamOutcome, record_failure, record_success,
};
use tracing::{Span, field::Empty};

use crate::{PROVIDER_NAME, ledger::Ledger, target::PortkeyTarget};

/// The span of one chat request (streaming or not) and its start time.
pub(crate) struct RequestSpan {
    span: Span,
    started: Instant,
}

/// What a successful request reports.
pub(crate) struct Outcome<'a> {
    pub(crate) id: &'a str,
    pub(crate) served_model: &'a str,
    pub(crate) target: Option<&'a str>,
    pub(crate) usage: Option<Usage>,
    pub(crate) status: u16,
}

impl RequestSpan {
    pub(crate) fn start(model: Option<&str>, stream: bool, trace_id: &str, targets: usize) -> Self {
        let span = tracing::info_span!(
            "portkey.chat",
            gen_ai.operation.name = "chat",
            gen_ai.system = PROVIDER_NAME,
            gen_ai.request.model = model.unwrap_or("(first target)"),
            gen_ai.request.stream = stream,
            orchestra.portkey.trace_id = trace_id,
            orchestra.portkey.targets = targets,
            gen_ai.response.id = Empty,
            gen_ai.response.model = Empty,
            orchestra.portkey.trace_id_echoed = Empty,
            orchestra.portkey.target = Empty,
            orchestra.portkey.retries = Empty,
            orchestra.portkey.cache = Empty,
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

    /// What the gateway's headers said (known before the body).
    pub(crate) fn gateway(
        &self,
        target: Option<&str>,
        retries: Option<i64>,
        cache: Option<&str>,
        trace_id: Option<&str>,
    ) {
        if let Some(trace_id) = trace_id {
            self.span
                .record("orchestra.portkey.trace_id_echoed", trace_id);
        }
        if let Some(target) = target {
            self.span.record("orchestra.portkey.target", target);
        }
        if let Some(retries) = retries {
            self.span.record("orchestra.portkey.retries", retries);
        }
        if let Some(cache) = cache {
            self.span.record("orchestra.portkey.cache", cache);
        }
    }

    pub(crate) fn succeeded(&self, outcome: &Outcome<'_>) {
        if let Some(target) = outcome.target {
            self.span.record("orchestra.portkey.target", target);
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

/// A stream's span and the ledger entry of the target serving it.
pub(crate) struct StreamWatch {
    pub(crate) span: RequestSpan,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) target: Option<PortkeyTarget>,
    pub(crate) path: Option<String>,
}

impl StreamObserver for StreamWatch {
    fn succeeded(&mut self, outcome: &StreamOutcome<'_>) {
        if let Some(target) = &self.target {
            self.ledger.served(
                target.provider(),
                target.model(),
                target.host(),
                outcome.usage,
            );
        }
        self.span.succeeded(&Outcome {
            id: outcome.id,
            served_model: outcome.served_model,
            target: self.path.as_deref(),
            usage: outcome.usage,
            status: outcome.status,
        });
    }

    fn failed(&mut self, error: &Error) {
        if let Some(target) = &self.target {
            self.ledger
                .failed(target.provider(), target.model(), target.host());
        }
        self.span.failed(error);
    }
}
