//! Measurement 4, goodput under a quota: the simulator enforces a per-minute quota on a scaled
//! clock (one simulated minute per real second), the client's quota is set to the same figure
//! and runs on a matching `ScaledClock`; more callers than the quota allows keep asking.
//!
//! Two quotas run side by side: OpenRouter's free-model limit (20 a minute) and a busier
//! 120 a minute. On a clock scaled 60×, every millisecond a caller wakes late costs 60
//! simulated ones, so the busier quota is the harder case. The run repeats at each scale of
//! `--goodput-scales` (default 60 and 10); the quota share is judged at the lowest, the
//! closest to real time.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Result;
use orchestra_llm::{
    AttemptOutcome, ErrorKind, LlmClient, RateLimitScope, resilience::ScaledClock,
};
use orchestra_sim::{ModelConfig, RequestRecord, SimConfig};
use serde_json::json;

use crate::{
    report::{Check, Section},
    setup::{self, Ctx},
};

const QUOTAS: [(&str, u32); 2] = [("quota/free-tier", 20), ("quota/busy", 120)];
const CALLERS: usize = 16;

#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    held_back: u64,
    upstream_429: u64,
    other: u64,
    first_other: Option<String>,
}

/// Whether every attempt of a failed call was skipped (nothing went upstream).
fn never_sent(error: &orchestra_llm::Error) -> bool {
    error
        .attempts()
        .iter()
        .all(|attempt| matches!(attempt.outcome, AttemptOutcome::Skipped(_)))
}

async fn callers(client: LlmClient, deadline: Instant) -> Tally {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CALLERS {
        let client = client.clone();
        tasks.spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                let call = client
                    .generate_chat_completion(setup::messages())
                    .max_tokens(setup::MAX_TOKENS);
                match call.await {
                    Ok(_) => tally.ok += 1,
                    Err(error) => match (error.kind(), error.rate_limit_scope()) {
                        (ErrorKind::RateLimited, Some(RateLimitScope::LocalQuota)) => {
                            tally.held_back += 1;
                        }
                        // The router's error when its only target's quota held the call back.
                        (ErrorKind::AllTargetsFailed, _) if never_sent(&error) => {
                            tally.held_back += 1;
                        }
                        (ErrorKind::RateLimited, _) => tally.upstream_429 += 1,
                        _ => {
                            tally.other += 1;
                            tally.first_other.get_or_insert(error.to_string());
                        }
                    },
                }
            }
            tally
        });
    }
    let mut total = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        let Ok(t) = joined else {
            total.other += 1;
            continue;
        };
        total.ok += t.ok;
        total.held_back += t.held_back;
        total.upstream_429 += t.upstream_429;
        total.other += t.other;
        if total.first_other.is_none() {
            total.first_other = t.first_other;
        }
    }
    total
}

/// Successes in each simulated minute window lying wholly inside `[start_ms, end_ms]` (the
/// simulator's windows are aligned on the minute).
fn full_windows(log: &[RequestRecord], model: &str, start_ms: u64, end_ms: u64) -> Vec<u64> {
    let mut per_window: BTreeMap<u64, u64> = BTreeMap::new();
    for record in log {
        if record.status == 200 && record.served.as_deref() == Some(model) {
            *per_window.entry(record.at_ms / 60_000).or_default() += 1;
        }
    }
    (start_ms.div_ceil(60_000)..end_ms / 60_000)
        .map(|w| per_window.get(&w).copied().unwrap_or(0))
        .collect()
}

pub(crate) fn run(ctx: &Ctx) -> Result<Section> {
    let judged = ctx.goodput_scales.iter().copied().fold(f64::MAX, f64::min);
    let mut md = String::new();
    let mut checks = Vec::new();
    let mut runs = Vec::new();
    for &scale in &ctx.goodput_scales {
        let (part, part_checks, results) = run_scale(ctx, scale, scale == judged)?;
        md.push_str(&part);
        checks.extend(part_checks);
        runs.push(results);
    }
    Ok(Section {
        id: "goodput",
        title: "4. Goodput under quota".to_owned(),
        markdown: md,
        results: json!({"callers": CALLERS, "judged_scale": judged, "runs": runs}),
        checks,
    })
}

/// One run at time scale `scale`: its table, checks (the quota share judged when `judged`)
/// and results.
fn run_scale(
    ctx: &Ctx,
    scale: f64,
    judged: bool,
) -> Result<(String, Vec<Check>, serde_json::Value)> {
    let mut builder = SimConfig::builder()
        .api_key(setup::KEY)
        .time_scale(scale)
        .log_capacity(100_000);
    for (model, rpm) in QUOTAS {
        builder = builder.model(ModelConfig::new(model).rpm(rpm));
    }
    let sim = ctx.start_sim(builder.build()?)?;
    let mut clients = Vec::new();
    for (model, rpm) in QUOTAS {
        let limits = format!(r#"{{"{model}":{{"rpm":{rpm}}}}}"#);
        let settings = setup::settings(
            &sim,
            &[
                ("OPENROUTER_DEFAULT_MODEL", model),
                ("LLM_RATE_LIMITS", limits.as_str()),
                ("LLM_CACHE", "off"),
            ],
        )?;
        clients.push(settings);
    }
    // 12 simulated minutes at 60× (6 quick); fewer at lower scales, which take longer.
    let simulated_minutes: f64 = if scale >= 60.0 {
        ctx.pick(12.0, 6.0)
    } else {
        ctx.pick(5.0, 3.0)
    };
    let run_for = Duration::from_secs_f64(simulated_minutes * 60.0 / scale);
    let seconds = run_for.as_secs_f64();
    let (tallies, start_ms, end_ms) = ctx.client_rt.block_on(async {
        let clock = Arc::new(ScaledClock::new(scale));
        let mut built = Vec::new();
        for settings in clients {
            built.push(setup::stack(settings, Some(clock.clone()))?);
        }
        let start_ms = sim.now_epoch_ms();
        let deadline = Instant::now() + run_for;
        let runs = built.into_iter().map(|client| callers(client, deadline));
        let tallies = futures_util::future::join_all(runs).await;
        // Windows count up to the deadline, when the callers stop asking: calls already
        // waiting for the quota then still trickle in, and a window they alone fill is
        // not one the client had the chance to use whole.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let asked_until = start_ms + (run_for.as_secs_f64() * scale * 1000.0) as u64;
        anyhow::Ok((tallies, start_ms, asked_until.min(sim.now_epoch_ms())))
    })?;
    let log = sim.chat_requests();
    let stats: Vec<_> = QUOTAS.iter().map(|(m, _)| sim.model_stats(m)).collect();
    ctx.sim_rt.block_on(sim.shutdown());

    #[allow(clippy::cast_precision_loss)]
    let minutes = (end_ms - start_ms) as f64 / 60_000.0;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "**Time scale {scale}×.** Simulator: per-minute quotas in fixed windows on simulated \
         time, `time_scale` {scale} (a simulated minute per {:.1} real seconds). Client: \
         `LLM_RATE_LIMITS` with the same `rpm` on `ScaledClock::new({scale})`, default retries \
         and deadline; per quota {CALLERS} callers asking back to back (a call whose quota wait \
         would pass its deadline fails at once, *held back*) for {seconds:.0} s ({minutes:.1} \
         simulated minutes). Quota used = answers in the simulated minute windows wholly inside \
         the time the callers were asking / (`rpm` × windows). *Other errors* are calls that waited for the quota until their \
         deadline passed; when *sent upstream* equals *answered*, none of them reached the \
         simulator.\n",
        60.0 / scale
    );
    let _ = writeln!(
        md,
        "| Quota (rpm) | answered | sent upstream | upstream 429s | held back by the client | other errors | quota used | per full window |"
    );
    let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut checks = Vec::new();
    let mut results = Vec::new();
    for (((model, rpm), tally), stat) in QUOTAS.iter().zip(&tallies).zip(&stats) {
        let full = full_windows(&log, model, start_ms, end_ms);
        #[allow(clippy::cast_precision_loss)]
        let used = full.iter().sum::<u64>() as f64 / (f64::from(*rpm) * full.len().max(1) as f64);
        let _ = writeln!(
            md,
            "| `{model}` ({rpm}) | {} | {} | {} | {} | {} | {:.1}% | {} |",
            tally.ok,
            stat.requests,
            stat.rate_limited,
            tally.held_back,
            tally.other,
            used * 100.0,
            full.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(error) = &tally.first_other {
            let _ = writeln!(md, "\nFirst other error ({model}): `{error}`\n");
        }
        checks.push(Check::new(
            format!("upstream 429s, rpm {rpm}, {scale}× clock"),
            "0",
            stat.rate_limited.to_string(),
            stat.rate_limited == 0,
        ));
        checks.push(if judged {
            Check::new(
                format!("share of the quota used, rpm {rpm}, {scale}× clock"),
                "≥ 95%",
                format!("{:.1}%", used * 100.0),
                used >= 0.95,
            )
        } else {
            // A faster clock magnifies each late wake-up by the scale: reported, judged at
            // the lowest scale.
            Check::new(
                format!("share of the quota used, rpm {rpm}, {scale}× clock"),
                "– (judged at the lowest scale)",
                format!("{:.1}%", used * 100.0),
                true,
            )
        });
        results.push(json!({
            "model": model, "rpm": rpm, "answered": tally.ok,
            "sent_upstream": stat.requests, "upstream_429s": stat.rate_limited, "failed_upstream_429": tally.upstream_429,
            "held_back": tally.held_back, "other_errors": tally.other,
            "first_other_error": tally.first_other,
            "full_windows": full, "quota_used": used,
        }));
    }
    Ok((
        md,
        checks,
        json!({"time_scale": scale, "seconds": seconds, "quotas": results}),
    ))
}
