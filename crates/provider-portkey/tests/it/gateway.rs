//! Against the real open-source gateway: fallback, loadbalance, retries, streaming, gateway
//! errors, trace ids, the cache warning and the credit report.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use orchestra_core::{
    AttemptOutcome, CacheStatus, ChatRequest, ErrorKind, Message, Provider, RateLimitScope, Secret,
    StreamAccumulator, StreamEvent,
};
use orchestra_provider_openrouter::OpenRouter;
use orchestra_provider_portkey::{Mode, PortkeyTarget, RetryPolicy, harness::Gateway};
use orchestra_sim::{Fault, ModelConfig};

use crate::support::{KEY, Logs, builder, client, simulator, target};

fn hello() -> ChatRequest {
    ChatRequest::new(vec![Message::user("hello")]).max_tokens(16)
}

fn limited() -> ModelConfig {
    ModelConfig::new("sim/limited").then_fault(Fault::status_retry_after(429, 7), 1000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_from_a_429_target_reports_the_one_that_served_and_the_attempts() {
    let sim = simulator(vec![
        limited(),
        ModelConfig::new("sim/ok").price("0.000001", "0.000002"),
    ])
    .await;
    let gateway = Gateway::start();
    let portkey = client(
        &gateway,
        vec![target(&sim, "sim/limited"), target(&sim, "sim/ok")],
        Mode::Fallback,
    );

    let response = portkey.chat(&hello()).await.unwrap();
    assert_eq!(response.model, "sim/ok");
    assert_eq!(response.provider, "portkey");
    assert_eq!(response.upstream_provider.as_deref(), Some("openai"));
    assert!(response.content().unwrap().starts_with("sim/ok"));
    assert_eq!(response.metadata.cache, CacheStatus::Off);
    let attempts = &response.metadata.attempts;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0].model, "sim/limited");
    assert_eq!(
        attempts[0].outcome,
        AttemptOutcome::Failed(ErrorKind::Server)
    );
    assert!(
        attempts[0]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("config.targets[0] (openai)")
    );
    assert_eq!(attempts[1].model, "sim/ok");
    assert_eq!(attempts[1].outcome, AttemptOutcome::Success);
    assert_eq!(attempts[1].status, Some(200));
    assert!(
        attempts[1]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("config.targets[1]")
    );
    // The gateway really asked the first target, which refused.
    assert_eq!(sim.model_stats("sim/limited").rate_limited, 1);
    assert_eq!(sim.model_stats("sim/ok").successes, 1);

    // When every target refuses, the last refusal comes back typed, Retry-After kept.
    let all_limited = client(
        &gateway,
        vec![target(&sim, "sim/limited"), target(&sim, "sim/limited")],
        Mode::Fallback,
    );
    let error = all_limited.chat(&hello()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.rate_limit_scope(), Some(RateLimitScope::Upstream));
    assert_eq!(error.status(), Some(429));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(error.model(), Some("sim/limited"));
    assert!(error.message().contains("(via openai)"), "{error}");
    let attempts = error.attempts();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(
        attempts[1].outcome,
        AttemptOutcome::Failed(ErrorKind::RateLimited)
    );
    assert!(!format!("{error} {error:?}").contains(KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadbalance_follows_the_weights_over_hundreds_of_requests() {
    let sim = simulator(vec![
        ModelConfig::new("sim/a"),
        ModelConfig::new("sim/b"),
        ModelConfig::new("sim/never"),
    ])
    .await;
    let gateway = Gateway::start();
    let portkey = client(
        &gateway,
        vec![
            target(&sim, "sim/a").weight(0.75),
            target(&sim, "sim/b").weight(0.25),
            target(&sim, "sim/never").weight(0.0),
        ],
        Mode::Loadbalance,
    );
    const REQUESTS: usize = 300;
    let served: Vec<String> = futures_util::stream::iter(0..REQUESTS)
        .map(|_| {
            let portkey = portkey.clone();
            async move { portkey.chat(&hello()).await.unwrap().model }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let count = |model: &str| served.iter().filter(|served| *served == model).count();
    let (a, b) = (count("sim/a"), count("sim/b"));
    assert_eq!(a + b, REQUESTS);
    assert_eq!(count("sim/never"), 0);
    assert_eq!(sim.model_stats("sim/never").requests, 0);
    // Expected 225 / 75; the standard deviation of a is 7.5, so ±30 is four of them.
    assert!((195..=255).contains(&a), "sim/a served {a} of {REQUESTS}");
    assert_eq!(sim.model_stats("sim/a").successes, a as u64);
    assert_eq!(sim.model_stats("sim/b").successes, b as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_retries_are_reported_and_exhausted_retries_are_typed() {
    let sim = simulator(vec![
        ModelConfig::new("sim/flaky").then_fault(Fault::status(429), 1),
        limited(),
    ])
    .await;
    let gateway = Gateway::start();
    let retry = Some(RetryPolicy::new(1, [429]));

    let portkey = builder(&gateway, vec![target(&sim, "sim/flaky")], Mode::Fallback)
        .retry(retry.clone())
        .build()
        .unwrap();
    let response = portkey.chat(&hello()).await.unwrap();
    assert_eq!(response.model, "sim/flaky");
    let attempts = &response.metadata.attempts;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(
        attempts[0].outcome,
        AttemptOutcome::Failed(ErrorKind::RateLimited)
    );
    assert!(
        attempts[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("retried by the gateway")
    );
    assert_eq!(attempts[1].outcome, AttemptOutcome::Success);
    assert_eq!(sim.model_stats("sim/flaky").requests, 2);

    let portkey = builder(&gateway, vec![target(&sim, "sim/limited")], Mode::Fallback)
        .retry(retry)
        .build()
        .unwrap();
    let error = portkey.chat(&hello()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    // One retry (the gateway reports -1: all used), then the final refusal.
    assert_eq!(error.attempts().len(), 2, "{:?}", error.attempts());
    assert_eq!(sim.model_stats("sim/limited").rate_limited, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_through_a_fallback_with_usage_and_attempts() {
    let sim = simulator(vec![
        limited(),
        ModelConfig::new("sim/ok").completion_tokens(6),
    ])
    .await;
    let gateway = Gateway::start();
    let portkey = client(
        &gateway,
        vec![target(&sim, "sim/limited"), target(&sim, "sim/ok")],
        Mode::Fallback,
    );
    let mut events = portkey.chat_stream(&hello()).await.unwrap();
    let mut accumulator = StreamAccumulator::default();
    let mut first = None;
    while let Some(event) = events.next().await {
        let event = event.unwrap();
        first.get_or_insert_with(|| event.clone());
        accumulator.push(&event);
    }
    let Some(StreamEvent::Start(start)) = first else {
        panic!("the first event is not Start: {first:?}");
    };
    assert_eq!(start.model, "sim/ok");
    assert_eq!(start.provider, "portkey");
    assert_eq!(start.attempts.len(), 1);
    assert_eq!(start.attempts[0].model, "sim/limited");
    assert!(accumulator.is_finished());
    let response = accumulator.into_response();
    assert!(response.content().unwrap().starts_with("sim/ok"));
    assert_eq!(response.usage.unwrap().completion_tokens, 6);

    // The ledger saw the streamed answer and the fallback.
    let report = portkey.monitor_credits().await;
    let ok = report.targets.iter().find(|t| t.model == "sim/ok").unwrap();
    assert_eq!((ok.responses, ok.completion_tokens), (1, 6));
    let refused = report
        .targets
        .iter()
        .find(|t| t.model == "sim/limited")
        .unwrap();
    assert_eq!(refused.fallen_back, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_stream_is_interrupted_with_the_partial_text() {
    let sim = simulator(vec![
        ModelConfig::new("sim/cut").then_fault(Fault::parse("stream_cut after=3").unwrap(), 10),
    ])
    .await;
    let gateway = Gateway::start();
    let portkey = client(&gateway, vec![target(&sim, "sim/cut")], Mode::Fallback);
    let mut events = portkey.chat_stream(&hello()).await.unwrap();
    let mut text = String::new();
    let error = loop {
        match events.next().await {
            Some(Ok(StreamEvent::ContentDelta { text: piece, .. })) => text.push_str(&piece),
            Some(Ok(_)) => {}
            Some(Err(error)) => break error,
            None => panic!("a cut stream ended cleanly after {text:?}"),
        }
    };
    assert_eq!(error.kind(), ErrorKind::StreamInterrupted);
    assert!(text.starts_with("sim/cut"), "{text:?}");
    assert_eq!(error.partial_content(), Some(text.as_str()));
    assert!(events.next().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_errors_are_typed() {
    let sim = simulator(vec![ModelConfig::new("sim/ok")]).await;
    let gateway = Gateway::start();

    // A provider the gateway does not know: its config validation refuses the request.
    let unknown = client(
        &gateway,
        vec![PortkeyTarget::new("no-such-provider", "m").api_key(Secret::new(KEY))],
        Mode::Fallback,
    );
    let error = unknown.chat(&hello()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    assert_eq!(error.status(), Some(400));
    assert_eq!(error.upstream_code(), Some("gateway_validation"));
    assert!(
        error.message().contains("Invalid 'provider' value"),
        "{error}"
    );

    // An upstream that refuses connections: the gateway's html-message.
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/v1", refused.local_addr().unwrap());
    drop(refused);
    let unreachable = client(
        &gateway,
        vec![
            PortkeyTarget::new("openai", "m")
                .api_key(Secret::new(KEY))
                .custom_host(dead),
        ],
        Mode::Fallback,
    );
    let error = unreachable.chat(&hello()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection, "{error}");
    assert_eq!(error.status(), Some(500));

    // The gateway's own per-try timeout (1 ms) against a slow target: 408.
    let slow = simulator(vec![
        ModelConfig::new("sim/slow").then_fault(Fault::parse("slow ms=300").unwrap(), 10),
    ])
    .await;
    let timed_out = builder(&gateway, vec![target(&slow, "sim/slow")], Mode::Fallback)
        .request_timeout(Duration::from_millis(1))
        .build()
        .unwrap();
    let error = timed_out.chat(&hello()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert_eq!(error.status(), Some(408));
    assert_eq!(error.upstream_code(), Some("timeout_error"));
    assert_eq!(sim.model_stats("sim/ok").requests, 0);
}

#[tokio::test(flavor = "current_thread")]
async fn trace_ids_are_echoed_and_the_missing_cache_is_reported_once() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let sim = simulator(vec![ModelConfig::new("sim/ok")]).await;
    let gateway = Gateway::start();

    let traced = builder(&gateway, vec![target(&sim, "sim/ok")], Mode::Fallback)
        .trace_id("checkout-agent-42")
        .semantic_cache(true)
        .build()
        .unwrap();
    for _ in 0..2 {
        let response = traced
            .chat(&hello().agent_type("researcher"))
            .await
            .unwrap();
        assert_eq!(response.metadata.cache, CacheStatus::Off);
    }
    let fresh = client(&gateway, vec![target(&sim, "sim/ok")], Mode::Fallback);
    fresh.chat(&hello()).await.unwrap();
    fresh.chat(&hello()).await.unwrap();

    let text = logs.text();
    assert!(!text.contains(KEY), "the key leaked into the logs:\n{text}");
    let field = |line: &str, name: &str| {
        let start = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        line[start..].split('"').next().unwrap().to_owned()
    };
    let done: Vec<(String, String)> = text
        .lines()
        .filter(|line| line.contains("portkey request succeeded"))
        .map(|line| {
            (
                field(line, "orchestra.portkey.trace_id"),
                field(line, "orchestra.portkey.trace_id_echoed"),
            )
        })
        .collect();
    assert_eq!(done.len(), 4, "{text}");
    for (sent, echoed) in &done[..2] {
        assert_eq!(
            (sent.as_str(), echoed.as_str()),
            ("checkout-agent-42", "checkout-agent-42")
        );
    }
    // Without TRACE_ID each request gets its own id, and the gateway echoes it.
    for (sent, echoed) in &done[2..] {
        assert_eq!(sent, echoed);
        assert_eq!(sent.len(), 32);
    }
    assert_ne!(done[2].0, done[3].0);
    assert_eq!(
        text.matches("reports its cache DISABLED").count(),
        1,
        "{text}"
    );
    assert!(
        text.contains("orchestra.portkey.target=\"config.targets[0]\""),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credit_report_adds_up_the_ledger_and_reads_the_openrouter_balance() {
    let sim = simulator(vec![
        limited(),
        ModelConfig::new("openai/gpt-4o-mini").price("0.00000015", "0.0000006"),
    ])
    .await;
    sim.set_credits(Some(25.0));
    let gateway = Gateway::start();
    // The gateway's openrouter provider appends `/v1/chat/completions` to its host.
    let api_root = sim.base_url().trim_end_matches("/v1").to_owned();
    let openrouter_target = PortkeyTarget::new("openrouter", "openai/gpt-4o-mini")
        .api_key(Secret::new(KEY))
        .custom_host(api_root);
    let portkey = client(
        &gateway,
        vec![target(&sim, "sim/limited"), openrouter_target],
        Mode::Fallback,
    );
    for _ in 0..3 {
        portkey.chat(&hello()).await.unwrap();
    }
    let report = portkey.monitor_credits().await;
    let served = sim.model_stats("openai/gpt-4o-mini");
    assert_eq!(report.responses, 3);
    assert_eq!(report.failures, 0);
    assert_eq!(report.prompt_tokens, served.prompt_tokens);
    assert_eq!(report.completion_tokens, served.completion_tokens);
    assert!(
        (report.cost_usd - served.cost).abs() < 1e-12,
        "{report:?} vs {served:?}"
    );
    let gpt = report
        .targets
        .iter()
        .find(|target| target.model == "openai/gpt-4o-mini")
        .unwrap();
    assert_eq!(
        (
            gpt.provider.as_str(),
            gpt.responses,
            gpt.responses_without_cost
        ),
        ("openrouter", 3, 0)
    );
    let refused = report
        .targets
        .iter()
        .find(|t| t.model == "sim/limited")
        .unwrap();
    assert_eq!((refused.responses, refused.fallen_back), (0, 3));

    assert_eq!(report.openrouter.len(), 1);
    let account = &report.openrouter[0];
    assert_eq!(account.models, ["openai/gpt-4o-mini"]);
    assert_eq!(account.base_url, sim.base_url());
    let balance = account.report.as_ref().unwrap();
    assert_eq!(balance.total_credits, Some(25.0));
    assert!((balance.total_usage.unwrap() - served.cost).abs() < 1e-9);

    let credits = portkey.credits().await.unwrap();
    assert_eq!(credits.provider, "portkey");
    assert_eq!(credits.total_credits, Some(25.0));
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(KEY));

    // Without an OpenRouter key there is no balance to report.
    let no_account = client(&gateway, vec![target(&sim, "sim/limited")], Mode::Fallback);
    assert_eq!(
        no_account.credits().await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cost_aware_sends_the_cheapest_target_first_as_a_fallback() {
    let sim = simulator(vec![
        ModelConfig::new("anthropic/claude-3-opus").price("0.000015", "0.000075"),
        ModelConfig::new("openai/gpt-4o-mini").price("0.00000015", "0.0000006"),
    ])
    .await;
    let gateway = Gateway::start();
    let prices = OpenRouter::builder()
        .api_key(Secret::new(KEY))
        .base_url(sim.base_url())
        .build()
        .unwrap();
    let portkey = builder(
        &gateway,
        vec![
            target(&sim, "unpriced"),
            target(&sim, "anthropic/claude-3-opus"),
            target(&sim, "openai/gpt-4o-mini"),
        ],
        Mode::CostAware,
    )
    .price_source(Arc::new(prices))
    .build()
    .unwrap();
    let config = portkey.config_for(&hello()).await;
    assert_eq!(config["strategy"]["mode"], "fallback");
    let order: Vec<&str> = config["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|target| target["override_params"]["model"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["openai/gpt-4o-mini", "anthropic/claude-3-opus", "unpriced"]
    );
    let response = portkey.chat(&hello()).await.unwrap();
    assert_eq!(response.model, "openai/gpt-4o-mini");
    // Prices were fetched once and cached.
    portkey.chat(&hello()).await.unwrap();
    let model_lists = sim
        .requests()
        .iter()
        .filter(|record| record.path.ends_with("/models"))
        .count();
    assert_eq!(model_lists, 1);
    let models = portkey.models().await.unwrap();
    assert_eq!(models.len(), 3);
    assert!(models[0].pricing.is_none());
    assert_eq!(models[2].pricing.unwrap().prompt.to_string(), "0.00000015");
}
