//! One `portkey.chat` span per request, with OpenTelemetry GenAI attribute names. No
//! credential is ever a field; the config is never logged.

use std::{sync::Arc, time::Instant};

use orchestra_core::{Error, Usage};
use orchestra_openai_compat::{StreamObserver, StreamOutcome};
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

    fn record_latency(&self) {
        self.span
            .record("latency_ms", self.started.elapsed().as_secs_f64() * 1000.0);
    }

    pub(crate) fn succeeded(&self, outcome: &Outcome<'_>) {
        self.record_latency();
        let span = &self.span;
        span.record("gen_ai.response.id", outcome.id);
        span.record("gen_ai.response.model", outcome.served_model);
        if let Some(target) = outcome.target {
            span.record("orchestra.portkey.target", target);
        }
        if let Some(usage) = outcome.usage {
            span.record("gen_ai.usage.input_tokens", usage.prompt_tokens);
            span.record("gen_ai.usage.output_tokens", usage.completion_tokens);
            if let Some(cost) = usage.cost_usd {
                span.record("gen_ai.usage.cost_usd", cost);
            }
        }
        span.record("http.response.status_code", outcome.status);
        span.in_scope(|| tracing::debug!("portkey request succeeded"));
    }

    pub(crate) fn failed(&self, error: &Error) {
        self.record_latency();
        self.span.record("error.type", error.kind().as_str());
        if let Some(status) = error.status() {
            self.span.record("http.response.status_code", status);
        }
        self.span
            .in_scope(|| tracing::debug!(%error, "portkey request failed"));
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
