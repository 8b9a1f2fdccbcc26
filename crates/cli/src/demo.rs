//! `orchestra demo`: the origin documents' situation, offline, through the full client.

use std::{
    io,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use orchestra_config::{MapEnv, Settings};
use orchestra_core::{Message, StreamAccumulator};
use orchestra_llm::{LlmClient, resilience::ScaledClock};
use orchestra_sim::{Fault, Latency, ModelConfig, SimConfig, SimError, Simulator};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde_json::json;

use crate::{ExitStatus, Output, cli::DemoArgs, progress::Progress, summary::Summary};

/// Simulated seconds per real second: OpenRouter's per-minute limits bite within seconds.
const TIME_SCALE: f64 = 60.0;
const KEY: &str = "sk-or-v1-demo-offline-simulated-key";
const PRIMARY: &str = "openai/gpt-4o";
const RESEARCHER: &str = "anthropic/claude-3-opus-20k";
const EXECUTOR: &str = "meta-llama/llama-3-70b-instruct";
const FREE: [&str; 2] = [
    "google/gemini-2.5-flash:free",
    "mistralai/mixtral-8x7b:free",
];

pub(crate) fn run(args: &DemoArgs, output: &mut Output<'_>) -> io::Result<ExitStatus> {
    if args.requests == 0 || args.concurrency == 0 {
        writeln!(
            output.err,
            "error: --requests and --concurrency must be at least 1"
        )?;
        return Ok(ExitStatus::InvalidUsage);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(demo(args, output))
}

async fn demo(args: &DemoArgs, output: &mut Output<'_>) -> io::Result<ExitStatus> {
    let started = match scenario(args.seed) {
        Ok(config) => Simulator::start(config).await,
        Err(error) => Err(error),
    };
    let sim = match started {
        Ok(sim) => sim,
        Err(error) => {
            writeln!(output.err, "error: cannot start the simulator: {error}")?;
            return Ok(ExitStatus::RequestFailed);
        }
    };
    let settings = match settings(&sim) {
        Ok(settings) => settings,
        Err(error) => {
            writeln!(
                output.err,
                "error: the demo's settings are invalid: {error}"
            )?;
            return Ok(ExitStatus::RequestFailed);
        }
    };
    let client = match LlmClient::builder(settings)
        .clock(Arc::new(ScaledClock::new(TIME_SCALE)))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            writeln!(output.err, "error: {error}")?;
            return Ok(ExitStatus::RequestFailed);
        }
    };
    if !args.json {
        writeln!(
            output.err,
            "orchestra demo: simulated OpenRouter at {} ({}× time), {} requests, {} in flight",
            sim.base_url(),
            TIME_SCALE,
            args.requests,
            args.concurrency
        )?;
    }
    // The origin documents' first step: check credits. $25 bought lifts the free models'
    // daily quota from 50 to 1,000, and the client's quota table follows.
    let credits = client.monitor_credits().await;
    if let (false, Err(error)) = (args.json, &credits) {
        writeln!(output.err, "warning: credits unavailable: {error}")?;
    }

    let jobs = workload(args.requests, args.seed);
    let progress = Progress::new(u64::from(args.requests), "demo");
    let simulated_start = sim.now_epoch_ms();
    let started = Instant::now();
    let concurrency = usize::try_from(args.concurrency).unwrap_or(usize::MAX);
    let mut outcomes = futures_util::stream::iter(jobs)
        .map(|job| {
            let client = &client;
            async move { job.run(client).await }
        })
        .buffer_unordered(concurrency);
    while let Some(answered) = outcomes.next().await {
        progress.advance(answered);
    }
    drop(outcomes);
    progress.finish();
    let wall = started.elapsed();
    let simulated = Duration::from_millis(sim.now_epoch_ms().saturating_sub(simulated_start));
    let summary = Summary::of(&client, wall, Some(simulated));
    let stats = sim.stats();
    let upstream_429s: u64 = stats.models.values().map(|model| model.rate_limited).sum();
    if args.json {
        let mut report = summary.to_json();
        report["simulator"] = json!({
            "time_scale": TIME_SCALE,
            "upstream_429s": upstream_429s,
            "chat_requests": stats.chat_requests,
        });
        writeln!(output.out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        summary.print(output.out)?;
        writeln!(
            output.out,
            "The simulator counted {upstream_429s} 429s sent: the same figure, seen from the \
             other side."
        )?;
    }
    sim.shutdown().await;
    Ok(ExitStatus::Success)
}

/// The situation of the origin documents: a paid primary with a per-minute limit that the
/// workload exceeds, agents with their own models (one flaky), two free fallbacks limited
/// to 20 requests a minute, and $25 of credits.
fn scenario(seed: u64) -> Result<SimConfig, SimError> {
    let latency = |ttft: u64, per_token: u64| {
        Latency::new(
            Duration::from_millis(ttft),
            Duration::from_micros(per_token),
        )
    };
    let config = SimConfig::builder()
        .api_key(KEY)
        .credits(25.0)
        .time_scale(TIME_SCALE)
        .seed(seed)
        .model(
            ModelConfig::new(PRIMARY)
                .price("0.0000025", "0.00001")
                .rpm(15)
                .completion_tokens(120)
                .latency(latency(30, 150)),
        )
        .model(
            ModelConfig::new(RESEARCHER)
                .price("0.000015", "0.000075")
                .completion_tokens(300)
                .latency(latency(60, 250))
                .random_fault(0.03, Fault::status(503)),
        )
        .model(
            ModelConfig::new(EXECUTOR)
                .price("0.00000059", "0.00000079")
                .completion_tokens(80)
                .latency(latency(20, 100))
                .random_fault(0.05, Fault::status(502)),
        );
    let config = FREE.iter().fold(config, |config, model| {
        config.model(
            ModelConfig::new(*model)
                .rpm(20)
                .rpd(1000)
                .completion_tokens(100)
                .latency(latency(25, 120)),
        )
    });
    config.build()
}

/// The variables an application of the origin documents would set.
fn settings(sim: &Simulator) -> Result<Settings, orchestra_config::ConfigErrors> {
    let agent_models = json!({
        "researcher": RESEARCHER,
        "executor": EXECUTOR,
        "validator": PRIMARY,
    })
    .to_string();
    let env = MapEnv::from_iter([
        ("OPENROUTER_API_KEY", KEY.to_owned()),
        ("OPENROUTER_BASE_URL", sim.base_url()),
        ("OPENROUTER_DEFAULT_MODEL", PRIMARY.to_owned()),
        ("OPENROUTER_FREE_FALLBACKS", FREE.join(",")),
        ("AGENT_MODEL_MAP", agent_models),
        ("LLM_MAX_RETRIES", "3".to_owned()),
        ("LLM_RETRY_DELAY", "1".to_owned()),
        ("LLM_CACHE", "semantic".to_owned()),
    ]);
    Settings::load(&env).map(|loaded| loaded.settings)
}

/// One request of the workload.
struct Job {
    agent: Option<&'static str>,
    prompt: String,
    stream: bool,
}

impl Job {
    /// Sends it; `true` when it was answered.
    async fn run(self, client: &LlmClient) -> bool {
        let mut call = client
            .generate_chat_completion([Message::user(self.prompt)])
            .max_tokens(400);
        if let Some(agent) = self.agent {
            call = call.agent_type(agent);
        }
        if !self.stream {
            return call.await.is_ok();
        }
        let Ok(mut stream) = call.stream().await else {
            return false;
        };
        let mut accumulator = StreamAccumulator::default();
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => accumulator.push(&event),
                Err(_) => return false,
            }
        }
        accumulator.is_finished()
    }
}

/// `requests` questions from four kinds of agent; popular questions come back (sometimes
/// with different capitals and punctuation), as they do in real multi-agent systems.
fn workload(requests: u32, seed: u64) -> Vec<Job> {
    const TOPICS: [&str; 30] = [
        "tidal energy",
        "the 2008 financial crisis",
        "CRISPR gene editing",
        "the Rust borrow checker",
        "supply chains in Southeast Asia",
        "urban heat islands",
        "quantum error correction",
        "the history of the printing press",
        "coral reef bleaching",
        "battery recycling",
        "monetary policy after 2020",
        "zero-knowledge proofs",
        "soil carbon storage",
        "the Byzantine generals problem",
        "antibiotic resistance",
        "high-speed rail in Europe",
        "the James Webb telescope",
        "container shipping rates",
        "federated learning",
        "the Green Revolution",
        "microplastics in rivers",
        "RISC-V adoption",
        "the Bretton Woods system",
        "permafrost thaw",
        "mRNA vaccines",
        "desalination costs",
        "the Apollo guidance computer",
        "wildfire smoke and health",
        "central bank digital currencies",
        "vertical farming",
    ];
    const ASKS: [(Option<&str>, &str); 8] = [
        (
            Some("researcher"),
            "Find and summarise three sources on {}.",
        ),
        (
            Some("researcher"),
            "What are the open research questions about {}?",
        ),
        (Some("executor"), "Write a step-by-step plan to act on {}."),
        (
            Some("executor"),
            "Draft a checklist for a project about {}.",
        ),
        (
            Some("validator"),
            "Check this claim for errors: {} is well understood.",
        ),
        (None, "Explain {} in two paragraphs."),
        (None, "Give me five facts about {}."),
        (None, "What should a newcomer read first about {}?"),
    ];
    let mut rng = StdRng::seed_from_u64(seed);
    (0..requests)
        .map(|_| {
            let (agent, template) = ASKS[rng.random_range(0..ASKS.len())];
            // Squaring a uniform draw favours the first topics: some questions are popular.
            let draw: f64 = rng.random();
            let index = (draw * draw * TOPICS.len() as f64) as usize;
            let topic = TOPICS[index.min(TOPICS.len() - 1)];
            let mut prompt = template.replace("{}", topic);
            if rng.random_range(0..5) == 0 {
                // The same question typed differently: a near-duplicate for the cache.
                prompt = prompt.to_lowercase().replace(['.', '?'], "");
            }
            Job {
                agent,
                prompt,
                stream: rng.random_range(0..10) == 0,
            }
        })
        .collect()
}
