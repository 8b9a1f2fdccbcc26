//! The per-model summary that `orchestra demo` and `orchestra batch` end with.

use std::{
    io::{self, Write},
    time::Duration,
};

use orchestra_llm::{
    LlmClient,
    usage::{ModelUsage, UsageSnapshot},
};
use serde_json::{Value, json};

/// What a run did, every figure taken from the client's ledger and cache counters.
pub(crate) struct Summary {
    pub(crate) usage: UsageSnapshot,
    pub(crate) cache: Option<orchestra_llm::cache::CacheStats>,
    pub(crate) wall: Duration,
    /// Simulated time that passed, for runs on a scaled simulator.
    pub(crate) simulated: Option<Duration>,
}

impl Summary {
    pub(crate) fn of(client: &LlmClient, wall: Duration, simulated: Option<Duration>) -> Self {
        Self {
            usage: client.usage(),
            cache: client.cache_stats(),
            wall,
            simulated,
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "requests": self.usage.requests,
            "answered": self.usage.requests - self.usage.failed_requests,
            "failed": self.usage.failed_requests,
            "wall_ms": millis(self.wall),
            "simulated_ms": self.simulated.map(millis),
            "models": self.usage.models,
            "totals": self.usage.totals,
            "cache": self.cache,
        })
    }

    pub(crate) fn print(&self, out: &mut dyn Write) -> io::Result<()> {
        let headers = [
            "model",
            "sent",
            "429s",
            "held back",
            "fallbacks",
            "retries",
            "cache hits",
            "tokens",
            "cost USD",
            "p50 ms",
            "p99 ms",
        ];
        let mut rows: Vec<[String; 11]> = self
            .usage
            .models
            .iter()
            .map(|(model, usage)| row(model, usage))
            .collect();
        rows.push(row("total", &self.usage.totals));
        let mut widths = headers.map(str::len);
        for cells in &rows {
            for (width, cell) in widths.iter_mut().zip(cells) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String], out: &mut dyn Write| -> io::Result<()> {
            let mut text = String::new();
            for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
                if index == 0 {
                    text.push_str(&format!("{cell:<width$}"));
                } else {
                    text.push_str(&format!("  {cell:>width$}"));
                }
            }
            writeln!(out, "{}", text.trim_end())
        };
        line(&headers.map(str::to_owned), out)?;
        let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
        line(&rule, out)?;
        for (index, cells) in rows.iter().enumerate() {
            if index + 1 == rows.len() {
                line(&rule, out)?;
            }
            line(cells, out)?;
        }
        writeln!(out)?;
        let usage = &self.usage;
        let answered = usage.requests - usage.failed_requests;
        let mut timing = format!("{:.1} s", self.wall.as_secs_f64());
        if let Some(simulated) = self.simulated {
            timing.push_str(&format!(
                " ({:.1} simulated minutes)",
                simulated.as_secs_f64() / 60.0
            ));
        }
        writeln!(
            out,
            "{} requests in {timing}: {answered} answered, {} failed.",
            usage.requests, usage.failed_requests
        )?;
        let totals = &usage.totals;
        writeln!(
            out,
            "Upstream: {} calls sent, {} answered 429 and were taken by a fallback or retried; \
             {} fallbacks, {} retries.",
            totals.sent, totals.rate_limited, totals.fallbacks, totals.retries
        )?;
        writeln!(
            out,
            "Held back: {} attempts never sent (our quota or a cooldown said the model could \
             not take them).",
            totals.held_back
        )?;
        if let Some(cache) = &self.cache {
            writeln!(
                out,
                "Cache: {} exact and {} semantic hits of {} lookups, {} tokens and {:.4} USD saved.",
                cache.hits,
                cache.semantic_hits,
                cache.hits + cache.semantic_hits + cache.misses,
                totals.tokens_saved,
                totals.cost_saved_usd
            )?;
        }
        Ok(())
    }
}

fn row(model: &str, usage: &ModelUsage) -> [String; 11] {
    [
        model.to_owned(),
        usage.sent.to_string(),
        usage.rate_limited.to_string(),
        usage.held_back.to_string(),
        usage.fallbacks.to_string(),
        usage.retries.to_string(),
        usage.cache_hits.to_string(),
        usage.total_tokens().to_string(),
        format!("{:.4}", usage.cost_usd),
        format!("{:.1}", millis(usage.p50)),
        format!("{:.1}", millis(usage.p99)),
    ]
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}
