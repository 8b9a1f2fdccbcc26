//! Measurement 3, fallback under a rate limit: the primary answers every request with 429 and
//! `Retry-After: 60`; after the first 429 the cooldown must send every request straight to the
//! fallback.

use std::{fmt::Write as _, time::Duration, time::Instant};

use anyhow::{Result, anyhow, ensure};
use orchestra_llm::LlmClient;
use orchestra_sim::{Fault, Latency, ModelConfig, SimConfig};
use serde_json::json;

use crate::{
    charts,
    report::{Check, Section},
    setup::{self, Ctx, Plain},
    stats::{Samples, us},
};

const PRIMARY: &str = "fb/primary";
const FALLBACK: &str = "fb/fallback-1";
const FALLBACK_2: &str = "fb/fallback-2";
/// The fallback's simulated latency: small, so a wasted round trip or wait would show.
const FALLBACK_LATENCY: Duration = Duration::from_millis(5);

async fn via_stack(client: &LlmClient) -> Result<Duration> {
    let started = Instant::now();
    let response = client
        .generate_chat_completion(setup::messages())
        .max_tokens(setup::MAX_TOKENS)
        .await
        .map_err(|error| anyhow!("stack: {error}"))?;
    let elapsed = started.elapsed();
    ensure!(response.model == FALLBACK, "served by {}", response.model);
    Ok(elapsed)
}

async fn via_plain(plain: &Plain) -> Result<Duration> {
    let started = Instant::now();
    let text = plain.chat(FALLBACK).await?;
    let elapsed = started.elapsed();
    ensure!(text.starts_with(FALLBACK), "unexpected answer {text:?}");
    Ok(elapsed)
}

pub(crate) fn run(ctx: &Ctx) -> Result<Section> {
    let latency = Latency::new(FALLBACK_LATENCY, Duration::ZERO);
    let sim = ctx.start_sim(
        SimConfig::builder()
            .api_key(setup::KEY)
            .model(
                ModelConfig::new(PRIMARY).then_fault(Fault::status_retry_after(429, 60), 1_000_000),
            )
            .model(ModelConfig::new(FALLBACK).latency(latency))
            .model(ModelConfig::new(FALLBACK_2).latency(latency))
            .build()?,
    )?;
    let common = [("LLM_RATE_LIMITS", "{}"), ("LLM_CACHE", "off")];
    let with_primary = setup::settings(
        &sim,
        &[
            &common[..],
            &[
                ("OPENROUTER_DEFAULT_MODEL", PRIMARY),
                ("OPENROUTER_FREE_FALLBACKS", "fb/fallback-1,fb/fallback-2"),
            ],
        ]
        .concat(),
    )?;
    let direct = setup::settings(
        &sim,
        &[&common[..], &[("OPENROUTER_DEFAULT_MODEL", FALLBACK)]].concat(),
    )?;
    let plain = Plain::new(&sim)?;
    let n: usize = ctx.pick(600, 150);

    let (first, fell_back, stack_direct, plain_direct) = ctx.client_rt.block_on(async {
        let falling = setup::stack(with_primary, None)?;
        let direct = setup::stack(direct, None)?;
        // Warm the connections to the fallback on every side; the primary is not called yet.
        for _ in 0..20 {
            via_plain(&plain).await?;
            via_stack(&direct).await?;
        }
        let first = via_stack(&falling).await?;
        let mut out = [Samples::default(), Samples::default(), Samples::default()];
        for i in 0..n {
            for k in 0..3 {
                match (i + k) % 3 {
                    0 => out[0].push(via_stack(&falling).await?),
                    1 => out[1].push(via_stack(&direct).await?),
                    _ => out[2].push(via_plain(&plain).await?),
                }
            }
        }
        let [a, b, c] = out;
        anyhow::Ok((first, a, b, c))
    })?;
    let primary_requests = sim.model_stats(PRIMARY).requests;
    let primary_429s = sim.model_stats(PRIMARY).rate_limited;
    ctx.sim_rt.block_on(sim.shutdown());

    let s_fell = fell_back.summary();
    let s_direct = stack_direct.summary();
    let s_plain = plain_direct.summary();
    let ratio = s_fell.p99_us / s_plain.p99_us;
    let ratio_stack = s_fell.p99_us / s_direct.p99_us;
    charts::cdf(
        &ctx.out.join("fallback.svg"),
        "Fallback: primary cooling down after a 429 (Retry-After 60 s), fallback answers in 5 ms",
        &[
            (
                "plain reqwest, fallback called directly",
                &plain_direct.sorted(),
            ),
            (
                "stack, fallback model configured directly",
                &stack_direct.sorted(),
            ),
            ("stack, primary 429 → fallback", &fell_back.sorted()),
        ],
    )?;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Targets `{PRIMARY}` (429 with `Retry-After: 60` on every request), `{FALLBACK}` and \
         `{FALLBACK_2}` (both answer after {} ms); default retries (3), quotas off. {n} calls per \
         client, interleaved. The first call through the primary took {} (one 429, then the \
         fallback); the simulator saw {primary_requests} request(s) for the primary in all.\n",
        FALLBACK_LATENCY.as_millis(),
        us(first.as_secs_f64() * 1e6)
    );
    let _ = writeln!(md, "| Client | mean | p50 | p90 | p99 | p99 vs plain |");
    let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- |");
    for (who, s) in [
        ("plain reqwest → fallback", &s_plain),
        ("stack → fallback (configured directly)", &s_direct),
        ("stack → primary cooling down → fallback", &s_fell),
    ] {
        let _ = writeln!(
            md,
            "| {who} | {} | {} | {} | {} | {:.3}× |",
            us(s.mean_us),
            us(s.p50_us),
            us(s.p90_us),
            us(s.p99_us),
            s.p99_us / s_plain.p99_us
        );
    }
    let _ = writeln!(md, "\n![Fallback latency](benchmarks/fallback.svg)");
    let checks = vec![
        Check::new(
            "p99 after the first 429 vs fallback called directly (plain reqwest)",
            "≤ 1.1×",
            format!("{ratio:.3}×"),
            ratio <= 1.1,
        ),
        Check::new(
            "requests to the rate-limited primary",
            "1",
            primary_requests.to_string(),
            primary_requests == 1,
        ),
    ];
    Ok(Section {
        id: "fallback",
        title: "3. Fallback under rate limit".to_owned(),
        markdown: md,
        results: json!({
            "fallback_latency_ms": FALLBACK_LATENCY.as_millis(),
            "first_call_us": first.as_secs_f64() * 1e6,
            "stack_fallback": s_fell,
            "stack_direct": s_direct,
            "plain_direct": s_plain,
            "p99_ratio_vs_plain": ratio,
            "p99_ratio_vs_stack_direct": ratio_stack,
            "primary_requests": primary_requests,
            "primary_429s": primary_429s,
        }),
        checks,
    })
}
