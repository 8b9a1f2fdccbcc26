//! The fault matrix: every upstream fault × (chat, stream) through the full client. The
//! table of what happened is pinned as a snapshot (and copied into docs/reliability.md by
//! `cargo xtask codegen`), so a change of behaviour shows up as a diff.

use std::{fmt::Write as _, sync::Arc};

use futures_util::StreamExt;
use orchestra_llm::{
    AttemptOutcome, ChatResponse, Error, ErrorKind, LlmClient, Message, Provider, Secret,
    StreamAccumulator,
    config::{MapEnv, Settings},
    openrouter::OpenRouter,
};
use orchestra_sim::{Fault, ModelConfig, SimConfig, Simulator};

const KEY: &str = "sk-or-v1-fault-matrix-key";
const PRIMARY: &str = "paid/primary";
const FALLBACK: &str = "free/backup:free";

/// A fault, or a dead upstream (`None`: the primary's provider refuses connections).
fn faults() -> Vec<(&'static str, Option<Fault>)> {
    let status = |code| Some(Fault::status(code));
    vec![
        (
            "429 with Retry-After",
            Some(Fault::status_retry_after(429, 30)),
        ),
        ("429 without Retry-After", status(429)),
        ("402 insufficient credits", status(402)),
        ("401 invalid key", status(401)),
        ("403 forbidden", status(403)),
        ("404 model not found", status(404)),
        ("408 request timeout", status(408)),
        ("500 internal error", status(500)),
        ("502 bad gateway", status(502)),
        ("503 unavailable", status(503)),
        ("524 upstream timeout", status(524)),
        ("529 overloaded", status(529)),
        ("hang (no answer)", Some(Fault::Hang)),
        ("connection refused", None),
        (
            "connection reset mid-body",
            Some(Fault::ResetMidBody { after: 2 }),
        ),
        ("malformed JSON", Some(Fault::Malformed)),
        (
            "200 with an error body",
            Some(Fault::ErrorIn200 {
                code: 502,
                message: None,
            }),
        ),
        ("truncated stream", Some(Fault::StreamCut { after: 2 })),
        (
            "mid-stream error event",
            Some(Fault::StreamError {
                after: 2,
                code: 502,
                message: None,
            }),
        ),
        (
            "stalled stream",
            Some(Fault::Stall {
                after: 2,
                ms: 1_500,
            }),
        ),
        (
            "oversized response",
            // Past MAX_RESPONSE_BODY_BYTES (64 MiB) and MAX_SSE_LINE_BYTES (1 MiB).
            Some(Fault::Oversized { bytes: 65 << 20 }),
        ),
    ]
}

async fn client_for(fault: Option<Fault>) -> (Simulator, LlmClient) {
    let primary = ModelConfig::new(PRIMARY).price("0.000001", "0.000002");
    let primary = match &fault {
        Some(fault) => primary.then_fault(fault.clone(), 1),
        None => primary,
    };
    let sim = Simulator::start(
        SimConfig::builder()
            .api_key(KEY)
            .model(primary)
            .model(ModelConfig::new(FALLBACK))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    // A provider registered under a provider slug LLM_ROUTING_TARGETS accepts.
    let primary_provider = if fault.is_some() {
        "openrouter"
    } else {
        "groq"
    };
    let targets = format!(
        r#"[{{"provider":"{primary_provider}","model":"{PRIMARY}"}},{{"provider":"openrouter","model":"{FALLBACK}"}}]"#
    );
    let env = MapEnv::from_iter([
        ("OPENROUTER_API_KEY", KEY.to_owned()),
        ("OPENROUTER_BASE_URL", sim.base_url()),
        ("LLM_ROUTING_TARGETS", targets),
        ("LLM_MAX_RETRIES", "2".to_owned()),
        ("LLM_RETRY_DELAY", "0.01".to_owned()),
        ("LLM_REQUEST_TIMEOUT", "0.5".to_owned()),
        ("LLM_STREAM_IDLE_TIMEOUT", "0.5".to_owned()),
        ("LLM_RATE_LIMITS", "{}".to_owned()),
    ]);
    let settings = Settings::load(&env).unwrap().settings;
    // Port 9 on loopback (discard) has no listener here: every connect is refused.
    let dead: Arc<dyn Provider> = Arc::new(
        OpenRouter::builder()
            .api_key(Secret::new(KEY))
            .base_url("http://127.0.0.1:9/api/v1")
            .build()
            .unwrap(),
    );
    let client = LlmClient::builder(settings)
        .provider("groq", dead)
        .build()
        .unwrap();
    (sim, client)
}

fn ask(client: &LlmClient) -> orchestra_llm::ChatCall<'_> {
    client
        .generate_chat_completion([Message::user("Describe the tides.")])
        .max_tokens(16)
}

async fn stream(client: &LlmClient) -> Result<ChatResponse, Error> {
    let mut events = ask(client).stream().await?;
    let mut accumulator = StreamAccumulator::default();
    while let Some(event) = events.next().await {
        accumulator.push(&event?);
    }
    if !accumulator.is_finished() {
        return Err(Error::stream_interrupted(
            accumulator.partial_text(),
            "ended without a finish reason",
        ));
    }
    Ok(accumulator.into_response())
}

/// What happened, in a few words: the action taken and how the call ended.
fn describe(result: &Result<ChatResponse, Error>) -> String {
    let attempts = match result {
        Ok(response) => &response.metadata.attempts,
        Err(error) => error.attempts(),
    };
    let trail: Vec<String> = attempts
        .iter()
        .map(|attempt| {
            let who = if attempt.model == PRIMARY { "P" } else { "F" };
            let status = attempt.status.map_or_else(String::new, |s| format!(" {s}"));
            match attempt.outcome {
                AttemptOutcome::Success => format!("{who} ok"),
                outcome => format!("{who} {outcome}{status}"),
            }
        })
        .collect();
    let ending = match result {
        Ok(response) if response.model == PRIMARY && attempts.len() > 1 => {
            "**retried**, served by the primary".to_owned()
        }
        Ok(response) if response.model == PRIMARY => "served by the primary".to_owned(),
        Ok(_) => "**fell back**, served by the fallback".to_owned(),
        Err(error) => {
            let partial = error.partial_content().map_or(String::new(), |text| {
                format!(", partial text kept ({} bytes)", text.len())
            });
            format!("**failed**: `{}`{partial}", error.kind())
        }
    };
    if trail.is_empty() {
        // A failure after content arrives in the stream, past every attempt record.
        return format!("{ending} (after the first tokens: no failover)");
    }
    format!("{ending} ({})", trail.join(" → "))
}

fn check_typed(result: &Result<ChatResponse, Error>) {
    if let Err(error) = result {
        assert!(!error.message().is_empty());
        assert_ne!(error.kind(), ErrorKind::Unsupported, "{error}");
        assert!(!error.to_string().contains(KEY), "the key leaked: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_retried_failed_over_or_failed_fast_as_documented() {
    let mut table = String::from(
        "| Upstream fault (once, on the primary) | `chat` | `chat_stream` |\n| --- | --- | --- |\n",
    );
    for (name, fault) in faults() {
        let (sim, client) = client_for(fault.clone()).await;
        let chat = ask(&client).await;
        check_typed(&chat);
        let (stream_sim, stream_client) = client_for(fault).await;
        let streamed = stream(&stream_client).await;
        check_typed(&streamed);
        writeln!(
            table,
            "| {name} | {} | {} |",
            describe(&chat),
            describe(&streamed)
        )
        .unwrap();
        // Every call ends in exactly one response or one error, and the ledger saw it.
        for client in [&client, &stream_client] {
            let usage = client.usage();
            assert_eq!(usage.requests, 1, "{name}");
        }
        drop((sim, stream_sim));
    }
    insta::assert_snapshot!("fault_matrix", table);
}
