//! What every measurement shares: runtimes, the simulator, the stack's settings and the
//! plain-reqwest baseline.

use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow, bail};
use orchestra_llm::{
    LlmClient, Message,
    config::{MapEnv, Settings},
    openrouter::OpenRouter,
    resilience::Clock,
};
use orchestra_sim::{SimConfig, Simulator};
use serde::Serialize;
use tokio::runtime::Runtime;

/// The API key the simulators accept.
pub(crate) const KEY: &str = "sk-or-v1-orchestra-bench";

/// The system prompt of every benchmark request.
const SYSTEM: &str = "You are a concise assistant.";

/// The question of every benchmark request.
pub(crate) const QUESTION: &str = "Name three causes of the 2008 financial crisis.";

/// Completion cap of every benchmark request.
pub(crate) const MAX_TOKENS: u32 = 16;

/// Goodput (4.) runs at 60× (a simulated minute per real second: many windows in little
/// time) and at 10×, where a caller waking 1-2 ms late on tokio's timer costs a sixth as
/// much of a slot; the lowest scale is the one judged, being closest to real time.
pub(crate) const DEFAULT_GOODPUT_SCALES: [f64; 2] = [60.0, 10.0];

/// The run's options and its two runtimes: the simulator serves on one worker thread, the
/// client under test runs on another, so on a 2-core machine each has a core.
pub(crate) struct Ctx {
    pub(crate) quick: bool,
    pub(crate) out: std::path::PathBuf,
    /// Time scales of the goodput measurement (4.), the first judged last: see
    /// [`DEFAULT_GOODPUT_SCALES`].
    pub(crate) goodput_scales: Vec<f64>,
    pub(crate) sim_rt: Runtime,
    pub(crate) client_rt: Runtime,
}

impl Ctx {
    pub(crate) fn new(quick: bool, out: std::path::PathBuf) -> Result<Self> {
        Ok(Self {
            quick,
            out,
            goodput_scales: DEFAULT_GOODPUT_SCALES.to_vec(),
            sim_rt: runtime("sim", 1)?,
            client_rt: runtime("client", 1)?,
        })
    }

    /// Starts a simulator on the simulator's runtime.
    pub(crate) fn start_sim(&self, config: SimConfig) -> Result<Simulator> {
        self.sim_rt
            .block_on(Simulator::start(config))
            .context("starting the simulator")
    }

    /// Full-run or `--quick` value.
    pub(crate) fn pick<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }
}

/// A multi-thread runtime with `threads` workers.
pub(crate) fn runtime(name: &str, threads: usize) -> Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .with_context(|| format!("building the {name} runtime"))
}

/// Settings for a stack in front of `sim`, with `vars` on top of the key and base URL.
pub(crate) fn settings(sim: &Simulator, vars: &[(&str, &str)]) -> Result<Settings> {
    settings_for_url(&sim.base_url(), vars)
}

/// Settings for a stack in front of the simulator at `base_url`.
pub(crate) fn settings_for_url(base_url: &str, vars: &[(&str, &str)]) -> Result<Settings> {
    let mut env = vec![
        ("OPENROUTER_API_KEY", KEY),
        ("OPENROUTER_BASE_URL", base_url),
    ];
    env.extend_from_slice(vars);
    let loaded = Settings::load(&MapEnv::from_iter(env))
        .map_err(|errors| anyhow!("benchmark settings: {errors}"))?;
    Ok(loaded.settings)
}

/// The full stack (provider, resilience, router, ledger; cache as `LLM_CACHE` says) on
/// `clock` when given.
pub(crate) fn stack(settings: Settings, clock: Option<Arc<dyn Clock>>) -> Result<LlmClient> {
    let mut builder = LlmClient::builder(settings);
    if let Some(clock) = clock {
        builder = builder.clock(clock);
    }
    builder
        .build()
        .map_err(|error| anyhow!("building the stack: {error}"))
}

/// The full stack as [`stack`] builds it, its OpenRouter provider speaking HTTP/2 with prior
/// knowledge (the simulator serves h2c), so in-flight requests share one connection as they
/// do against OpenRouter over TLS.
pub(crate) fn stack_http2(settings: Settings) -> Result<LlmClient> {
    let openrouter = OpenRouter::builder_from_settings(&settings)
        // The router does the fallbacks, as LlmClient's own OpenRouter client has it.
        .fallback_models(Vec::new())
        .http2_prior_knowledge()
        .build()
        .map_err(|error| anyhow!("building the HTTP/2 provider: {error}"))?;
    LlmClient::builder(settings)
        .provider("openrouter", Arc::new(openrouter))
        .build()
        .map_err(|error| anyhow!("building the stack: {error}"))
}

/// The benchmark request's messages.
pub(crate) fn messages() -> [Message; 2] {
    [Message::system(SYSTEM), Message::user(QUESTION)]
}

/// One chat completion through the stack; the answer's text.
pub(crate) async fn stack_chat(client: &LlmClient) -> Result<String> {
    let response = client
        .generate_chat_completion(messages())
        .max_tokens(MAX_TOKENS)
        .await
        .map_err(|error| anyhow!("stack: {error}"))?;
    Ok(response.content().unwrap_or_default().to_owned())
}

/// The plain-reqwest baseline: one connection pool, the body serialised with serde_json, the
/// answer parsed into a `serde_json::Value`. This is the least an application calling the
/// endpoint itself would do.
#[derive(Clone, Debug)]
pub(crate) struct Plain {
    client: reqwest::Client,
    url: String,
    auth: String,
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: [WireMessage<'a>; 2],
    max_tokens: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'a str,
    content: &'a str,
}

impl Plain {
    pub(crate) fn new(sim: &Simulator) -> Result<Self> {
        Self::from_base_url(&sim.base_url())
    }

    /// A baseline for the simulator at `base_url` (`http://…/api/v1`).
    pub(crate) fn from_base_url(base_url: &str) -> Result<Self> {
        Self::with_client(base_url, reqwest::Client::builder())
    }

    /// A baseline speaking HTTP/2 with prior knowledge (h2c) to the simulator at `base_url`.
    pub(crate) fn http2(base_url: &str) -> Result<Self> {
        Self::with_client(base_url, reqwest::Client::builder().http2_prior_knowledge())
    }

    fn with_client(base_url: &str, builder: reqwest::ClientBuilder) -> Result<Self> {
        Ok(Self {
            client: builder.build().context("building the reqwest client")?,
            url: format!("{base_url}/chat/completions"),
            auth: format!("Bearer {KEY}"),
        })
    }

    fn body(model: &str, stream: bool) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec(&WireRequest {
            model,
            messages: [
                WireMessage {
                    role: "system",
                    content: SYSTEM,
                },
                WireMessage {
                    role: "user",
                    content: QUESTION,
                },
            ],
            max_tokens: MAX_TOKENS,
            stream,
        })?)
    }

    /// Sends the request for `model`; the response, status checked.
    pub(crate) async fn send(&self, model: &str, stream: bool) -> Result<reqwest::Response> {
        let response = self
            .client
            .post(&self.url)
            .header("authorization", &self.auth)
            .header("content-type", "application/json")
            .body(Self::body(model, stream)?)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("plain reqwest: HTTP {}", response.status());
        }
        Ok(response)
    }

    /// One chat completion of `model`; the answer's text.
    pub(crate) async fn chat(&self, model: &str) -> Result<String> {
        let bytes = self.send(model, false).await?.bytes().await?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)?;
        value["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("plain reqwest: no content in {value}"))
    }
}
