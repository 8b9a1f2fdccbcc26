//! Scenario configuration: which models exist and how each one behaves.
//!
//! Load it from a TOML (or JSON) scenario with [`SimConfig::from_path`] /
//! [`SimConfig::from_toml_str`], start from [`SimConfig::default`], or build it in code with
//! [`SimConfig::builder`] and [`ModelConfig::new`].

use std::collections::HashSet;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::SimError;
use crate::fault::{Fault, RandomFault, ScriptStep};

/// Whole simulator configuration (one scenario).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Address to listen on. Default `127.0.0.1:0` (a free port).
    pub bind: SocketAddr,
    /// Accepted bearer key. `None` accepts any bearer key (a key is still required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Account credits in USD (`total_credits`). `None` = unlimited (no 402 ever).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits: Option<f64>,
    /// Simulated seconds per real second (60 = one simulated minute per real second).
    /// Applies to quota windows, `Retry-After` and `X-RateLimit-Reset`, not to latency.
    pub time_scale: f64,
    /// Simulated time only moves through `Simulator::advance` (for exact quota tests).
    pub manual_clock: bool,
    /// Simulated time at start, Unix epoch milliseconds. Default: the wall clock, or
    /// 2025-01-01T00:00:00Z (`1735689600000`) with the manual clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_epoch_ms: Option<u64>,
    /// Seed of the random source (jitter, random faults).
    pub seed: u64,
    /// Model used when a request names neither `model` nor `models`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_model: Option<String>,
    /// Real milliseconds between `: OPENROUTER PROCESSING` comments while a stream waits for
    /// its first token (one is always sent first).
    pub keepalive_ms: u64,
    /// Number of request-log entries kept (oldest dropped first).
    pub log_capacity: usize,
    /// The models served.
    pub models: Vec<ModelConfig>,
}

/// Epoch ms of 2025-01-01T00:00:00Z, the manual clock's default start.
pub const MANUAL_CLOCK_START_MS: u64 = 1_735_689_600_000;

impl Default for SimConfig {
    /// A handful of models (paid and `:free`), zero latency, unlimited quotas and credits.
    fn default() -> Self {
        Self {
            models: default_models(),
            ..Self::empty()
        }
    }
}

fn default_models() -> Vec<ModelConfig> {
    vec![
        ModelConfig::new("openai/gpt-4o-mini").price("0.00000015", "0.0000006"),
        ModelConfig::new("openai/gpt-4o").price("0.0000025", "0.00001"),
        ModelConfig::new("anthropic/claude-sonnet-4.5").price("0.000003", "0.000015"),
        ModelConfig::new("anthropic/claude-3-opus-20k").price("0.000015", "0.000075"),
        ModelConfig::new("google/gemini-2.5-flash:free"),
        ModelConfig::new("mistralai/mixtral-8x7b:free"),
        ModelConfig::new("meta-llama/llama-3.3-70b-instruct:free"),
    ]
}

impl SimConfig {
    /// A configuration without any model (every chat request fails with 400).
    pub fn empty() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            api_key: None,
            credits: None,
            time_scale: 1.0,
            manual_clock: false,
            start_epoch_ms: None,
            seed: 0x5eed,
            default_model: None,
            keepalive_ms: 250,
            log_capacity: 100_000,
            models: Vec::new(),
        }
    }

    /// Starts a builder with no models (add them with [`SimConfigBuilder::model`], or
    /// [`SimConfigBuilder::default_models`]).
    pub fn builder() -> SimConfigBuilder {
        SimConfigBuilder(Self::empty())
    }

    /// Loads a scenario file: JSON when the name ends in `.json`, TOML otherwise.
    ///
    /// # Errors
    /// [`SimError::Read`], [`SimError::Toml`]/[`SimError::Json`] (with the line) or
    /// [`SimError::Invalid`] (with the field path).
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, SimError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
            path: path.to_owned(),
            source,
        })?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let config: Self = if json {
            serde_json::from_str(&text).map_err(|source| SimError::Json {
                path: Some(path.to_owned()),
                source,
            })?
        } else {
            toml::from_str(&text).map_err(|source| SimError::Toml {
                path: Some(path.to_owned()),
                source,
            })?
        };
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML scenario.
    ///
    /// # Errors
    /// [`SimError::Toml`] (with the line) or [`SimError::Invalid`] (with the field path).
    pub fn from_toml_str(text: &str) -> Result<Self, SimError> {
        let config: Self =
            toml::from_str(text).map_err(|source| SimError::Toml { path: None, source })?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a JSON scenario (same fields as TOML).
    ///
    /// # Errors
    /// [`SimError::Json`] (with the line) or [`SimError::Invalid`] (with the field path).
    pub fn from_json_str(text: &str) -> Result<Self, SimError> {
        let config: Self =
            serde_json::from_str(text).map_err(|source| SimError::Json { path: None, source })?;
        config.validate()?;
        Ok(config)
    }

    /// Looks a model up by id.
    pub fn model(&self, id: &str) -> Option<&ModelConfig> {
        self.models.iter().find(|m| m.id == id)
    }

    /// Checks values that parse but make no sense. Called by every loader and by
    /// [`SimConfigBuilder::build`] and `Simulator::start`.
    ///
    /// # Errors
    /// [`SimError::Invalid`] naming the field.
    pub fn validate(&self) -> Result<(), SimError> {
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err(SimError::invalid("time_scale", "must be a positive number"));
        }
        if let Some(c) = self.credits
            && !c.is_finite()
        {
            return Err(SimError::invalid("credits", "must be a finite number"));
        }
        let mut seen = HashSet::new();
        for (i, m) in self.models.iter().enumerate() {
            if !seen.insert(m.id.as_str()) {
                return Err(SimError::invalid(
                    format!("models[{i}].id"),
                    format!("duplicate model id `{}`", m.id),
                ));
            }
            m.validate()
                .map_err(|(field, msg)| SimError::invalid(format!("models[{i}].{field}"), msg))?;
        }
        if let Some(d) = &self.default_model
            && !seen.contains(d.as_str())
        {
            return Err(SimError::invalid(
                "default_model",
                format!("`{d}` is not one of the models"),
            ));
        }
        Ok(())
    }
}

/// Builder for [`SimConfig`], mainly for tests.
#[derive(Clone, Debug)]
pub struct SimConfigBuilder(SimConfig);

impl SimConfigBuilder {
    /// Only accept this bearer key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.0.api_key = Some(key.into());
        self
    }
    /// Account credits in USD.
    pub fn credits(mut self, usd: f64) -> Self {
        self.0.credits = Some(usd);
        self
    }
    /// Simulated seconds per real second.
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.0.time_scale = scale;
        self
    }
    /// Manual clock: simulated time moves only through `Simulator::advance`.
    pub fn manual_clock(mut self) -> Self {
        self.0.manual_clock = true;
        self
    }
    /// Simulated start time (epoch ms).
    pub fn start_epoch_ms(mut self, ms: u64) -> Self {
        self.0.start_epoch_ms = Some(ms);
        self
    }
    /// Listen on this port of 127.0.0.1 (0 = any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.0.bind.set_port(port);
        self
    }
    /// Listen on this address.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.0.bind = addr;
        self
    }
    /// Seed of the random source.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
    /// Model used when a request names none.
    pub fn default_model(mut self, id: impl Into<String>) -> Self {
        self.0.default_model = Some(id.into());
        self
    }
    /// Interval of `: OPENROUTER PROCESSING` comments while waiting for the first token.
    pub fn keepalive(mut self, every: Duration) -> Self {
        self.0.keepalive_ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
        self
    }
    /// Request-log capacity.
    pub fn log_capacity(mut self, entries: usize) -> Self {
        self.0.log_capacity = entries;
        self
    }
    /// Adds (or replaces, by id) a model.
    pub fn model(mut self, model: ModelConfig) -> Self {
        self.0.models.retain(|m| m.id != model.id);
        self.0.models.push(model);
        self
    }
    /// Adds the models of [`SimConfig::default`].
    pub fn default_models(mut self) -> Self {
        for m in default_models() {
            self = self.model(m);
        }
        self
    }
    /// Validates and returns the configuration.
    ///
    /// # Errors
    /// [`SimError::Invalid`] naming the field.
    pub fn build(self) -> Result<SimConfig, SimError> {
        self.0.validate()?;
        Ok(self.0)
    }
}

/// Per-token prices in USD, like OpenRouter's `pricing` (decimal strings or numbers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pricing {
    /// USD per prompt token.
    #[serde(with = "price")]
    pub prompt: f64,
    /// USD per completion token.
    #[serde(with = "price")]
    pub completion: f64,
    /// USD per request.
    #[serde(with = "price")]
    pub request: f64,
}

impl Pricing {
    /// Cost of one request in USD.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        prompt_tokens as f64 * self.prompt
            + completion_tokens as f64 * self.completion
            + self.request
    }

    /// True when everything is free.
    pub fn is_free(&self) -> bool {
        self.prompt == 0.0 && self.completion == 0.0 && self.request == 0.0
    }
}

/// Formats a price as OpenRouter does: a plain decimal string, `"0"` when free.
pub(crate) fn price_string(p: f64) -> String {
    if p == 0.0 { "0".into() } else { format!("{p}") }
}

mod price {
    use super::*;

    pub(super) fn serialize<S: Serializer>(p: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&price_string(*p))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = f64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a price in USD per token, as a decimal string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
                let p: f64 = v
                    .trim()
                    .parse()
                    .map_err(|_| E::custom(format!("`{v}` is not a decimal number")))?;
                self.visit_f64(p)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
                if v.is_finite() && v >= 0.0 {
                    Ok(v)
                } else {
                    Err(E::custom("a price must be a finite number >= 0"))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

/// Latency of a model, in real (wall-clock) milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Latency {
    /// Time to first token (and to the whole answer's start for JSON requests).
    pub ttft_ms: u64,
    /// Pause between two streamed tokens (JSON requests wait `tokens × per_token_ms` too).
    pub per_token_ms: u64,
    /// Up to this much extra time, uniformly drawn, added to `ttft_ms`.
    pub jitter_ms: u64,
    /// Up to this much extra time, uniformly drawn, added to each token's pause.
    pub token_jitter_ms: u64,
}

impl Latency {
    /// No latency at all.
    pub const ZERO: Self = Self {
        ttft_ms: 0,
        per_token_ms: 0,
        jitter_ms: 0,
        token_jitter_ms: 0,
    };

    /// Time to first token and per-token pace, without jitter.
    pub fn new(ttft: Duration, per_token: Duration) -> Self {
        Self {
            ttft_ms: millis(ttft),
            per_token_ms: millis(per_token),
            ..Self::ZERO
        }
    }

    /// Adds jitter to the time to first token and to each token's pause.
    pub fn with_jitter(mut self, ttft: Duration, per_token: Duration) -> Self {
        self.jitter_ms = millis(ttft);
        self.token_jitter_ms = millis(per_token);
        self
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// How one model behaves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Model id, e.g. `google/gemini-2.5-flash:free`.
    pub id: String,
    /// Display name (default: derived from the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Provider name reported in responses (default: derived from the author, e.g. `Google`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Prices (all zero by default; must be zero for `:free` ids).
    #[serde(default)]
    pub pricing: Pricing,
    /// Context window in tokens.
    #[serde(default = "default_context")]
    pub context_length: u64,
    /// Output cap; also the `max_tokens` assumed by the credit pre-check when a request has none.
    #[serde(default = "default_max_completion")]
    pub max_completion_tokens: u32,
    /// Length of each answer in completion tokens (capped by the request's `max_tokens`).
    #[serde(default = "default_completion")]
    pub completion_tokens: u32,
    /// Latency.
    #[serde(default)]
    pub latency: Latency,
    /// Requests allowed per simulated minute (fixed window aligned on the minute).
    #[serde(default, alias = "rpm", skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    /// Requests allowed per simulated UTC day (resets at simulated midnight UTC).
    #[serde(default, alias = "rpd", skip_serializing_if = "Option::is_none")]
    pub requests_per_day: Option<u32>,
    /// Faults applied in order to the next requests, before any random fault.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub script: Vec<ScriptStep>,
    /// Faults drawn at random once the script is used up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub random: Vec<RandomFault>,
    /// `false` = listed but no provider serves it (404 "No endpoints found").
    #[serde(default = "yes")]
    pub available: bool,
}

fn default_context() -> u64 {
    128_000
}
fn default_max_completion() -> u32 {
    4096
}
fn default_completion() -> u32 {
    16
}
fn yes() -> bool {
    true
}

impl ModelConfig {
    /// A free-of-charge, zero-latency, unlimited model answering 16 tokens.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: None,
            provider: None,
            pricing: Pricing::default(),
            context_length: default_context(),
            max_completion_tokens: default_max_completion(),
            completion_tokens: default_completion(),
            latency: Latency::ZERO,
            requests_per_minute: None,
            requests_per_day: None,
            script: Vec::new(),
            random: Vec::new(),
            available: true,
        }
    }

    /// Sets prompt and completion prices (USD per token, decimal strings as OpenRouter
    /// lists them). Unparsable strings count as 0 (use [`ModelConfig::pricing`] to be exact).
    pub fn price(mut self, prompt: &str, completion: &str) -> Self {
        self.pricing.prompt = prompt.trim().parse().unwrap_or(0.0);
        self.pricing.completion = completion.trim().parse().unwrap_or(0.0);
        self
    }
    /// Sets the full pricing.
    pub fn pricing(mut self, pricing: Pricing) -> Self {
        self.pricing = pricing;
        self
    }
    /// Sets the provider name reported in responses.
    pub fn provider(mut self, name: impl Into<String>) -> Self {
        self.provider = Some(name.into());
        self
    }
    /// Requests per simulated minute.
    pub fn rpm(mut self, n: u32) -> Self {
        self.requests_per_minute = Some(n);
        self
    }
    /// Requests per simulated day.
    pub fn rpd(mut self, n: u32) -> Self {
        self.requests_per_day = Some(n);
        self
    }
    /// Answer length in completion tokens.
    pub fn completion_tokens(mut self, n: u32) -> Self {
        self.completion_tokens = n;
        self
    }
    /// Output cap (and the credit pre-check's default `max_tokens`).
    pub fn max_completion_tokens(mut self, n: u32) -> Self {
        self.max_completion_tokens = n;
        self
    }
    /// Context window.
    pub fn context_length(mut self, n: u64) -> Self {
        self.context_length = n;
        self
    }
    /// Latency.
    pub fn latency(mut self, latency: Latency) -> Self {
        self.latency = latency;
        self
    }
    /// Appends a script step.
    pub fn script_step(mut self, step: ScriptStep) -> Self {
        self.script.push(step);
        self
    }
    /// Appends `times` occurrences of `fault` to the script.
    pub fn then_fault(self, fault: Fault, times: u32) -> Self {
        self.script_step(ScriptStep::fault(fault, times))
    }
    /// Adds a random fault.
    pub fn random_fault(mut self, probability: f64, fault: Fault) -> Self {
        self.random.push(RandomFault::new(probability, fault));
        self
    }
    /// Marks the model as listed but unserved (404 "No endpoints found").
    pub fn unavailable(mut self) -> Self {
        self.available = false;
        self
    }

    /// Provider name reported in responses.
    pub fn provider_name(&self) -> String {
        if let Some(p) = &self.provider {
            return p.clone();
        }
        let author = self.id.split('/').next().unwrap_or("");
        match author {
            "openai" => "OpenAI".into(),
            "anthropic" => "Anthropic".into(),
            "google" => "Google AI Studio".into(),
            "mistralai" => "Mistral".into(),
            "meta-llama" => "Together".into(),
            other => capitalise(other),
        }
    }

    /// Display name.
    pub fn display_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let slug = self.id.rsplit('/').next().unwrap_or(&self.id);
        let (slug, free) = match slug.strip_suffix(":free") {
            Some(s) => (s, " (free)"),
            None => (slug, ""),
        };
        let author = capitalise(self.id.split('/').next().unwrap_or(""));
        let words: Vec<String> = slug.split('-').map(capitalise).collect();
        format!("{author}: {}{free}", words.join(" "))
    }

    /// True for `…:free` ids.
    pub fn is_free_variant(&self) -> bool {
        self.id.ends_with(":free")
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let err = |f: &str, m: String| Err((f.to_owned(), m));
        if self.id.trim().is_empty() || self.id.chars().any(char::is_whitespace) {
            return err("id", format!("`{}` is not a model id", self.id));
        }
        if self.is_free_variant() && !self.pricing.is_free() {
            return err("pricing", "a `:free` model must have zero prices".into());
        }
        if self.requests_per_minute == Some(0) {
            return err(
                "requests_per_minute",
                "must be at least 1 (omit for no limit)".into(),
            );
        }
        if self.requests_per_day == Some(0) {
            return err(
                "requests_per_day",
                "must be at least 1 (omit for no limit)".into(),
            );
        }
        if self.completion_tokens == 0 {
            return err("completion_tokens", "must be at least 1".into());
        }
        for (i, step) in self.script.iter().enumerate() {
            if step.times == 0 {
                return err(&format!("script[{i}].times"), "must be at least 1".into());
            }
            if let Some(f) = &step.fault {
                f.validate().or_else(|m| err(&format!("script[{i}]"), m))?;
            }
        }
        let mut total = 0.0;
        for (i, r) in self.random.iter().enumerate() {
            if !(0.0..=1.0).contains(&r.probability) {
                return err(
                    &format!("random[{i}].probability"),
                    "must be between 0 and 1".into(),
                );
            }
            r.fault
                .validate()
                .or_else(|m| err(&format!("random[{i}].fault"), m))?;
            total += r.probability;
        }
        if total > 1.0 + 1e-9 {
            return err("random", format!("probabilities add up to {total} > 1"));
        }
        Ok(())
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        SimConfig::default().validate().unwrap();
        assert!(
            SimConfig::default()
                .models
                .iter()
                .any(|m| m.is_free_variant())
        );
    }

    #[test]
    fn names() {
        let m = ModelConfig::new("google/gemini-2.5-flash:free");
        assert_eq!(m.display_name(), "Google: Gemini 2.5 Flash (free)");
        assert_eq!(m.provider_name(), "Google AI Studio");
        assert_eq!(price_string(0.000015), "0.000015");
        assert_eq!(price_string(0.0), "0");
    }
}
