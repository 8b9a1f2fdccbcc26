//! Measurement 1, overhead: the full stack against plain reqwest, to the same simulator
//! endpoint.

use std::{
    fmt::Write as _,
    time::{Duration, Instant},
};

use anyhow::Result;
use orchestra_llm::LlmClient;
use orchestra_sim::{ModelConfig, SimConfig};
use serde_json::json;

use crate::{
    charts,
    report::{Check, Section},
    setup::{self, Ctx, Plain},
    stats::{Samples, Summary, us},
};

const PRIMARY: &str = "bench/primary";
const CONCURRENCY: usize = 64;

/// Which client a sample came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Plain,
    Stack,
}

async fn one(side: Side, plain: &Plain, stack: &LlmClient) -> Result<Duration> {
    let started = Instant::now();
    let text = match side {
        Side::Plain => plain.chat(PRIMARY).await?,
        Side::Stack => setup::stack_chat(stack).await?,
    };
    let elapsed = started.elapsed();
    anyhow::ensure!(text.starts_with(PRIMARY), "unexpected answer {text:?}");
    Ok(elapsed)
}

/// `CONCURRENCY` workers calling `side` back to back for `window`: latencies and errors.
async fn window(side: Side, plain: &Plain, stack: &LlmClient, window: Duration) -> Tally {
    let started = Instant::now();
    let deadline = started + window;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (plain, stack) = (plain.clone(), stack.clone());
        tasks.spawn(async move {
            let mut samples = Samples::with_capacity(4096);
            let mut errors = 0u64;
            while Instant::now() < deadline {
                match one(side, &plain, &stack).await {
                    Ok(elapsed) => samples.push(elapsed),
                    Err(_) => errors += 1,
                }
            }
            (samples, errors)
        });
    }
    let mut all = Samples::default();
    let mut errors = 0;
    while let Some(joined) = tasks.join_next().await {
        if let Ok((samples, e)) = joined {
            all.extend(samples);
            errors += e;
        } else {
            errors += 1;
        }
    }
    (all, errors, started.elapsed())
}

/// Requests per second of the fixed-rate run: TensorZero's published anchor (p99 overhead
/// at 10k QPS), about a sixth of what plain reqwest manages at 64 in flight here.
const FIXED_RATE: u32 = 10_000;

/// Calls `side` at `FIXED_RATE` a second for `window`, whatever the answers do (an open
/// loop: a slow call does not slow the arrivals). tokio's timer ticks each millisecond, so
/// the calls start in groups of `FIXED_RATE / 1000`; each is timed from its own start.
async fn fixed_rate(side: Side, plain: &Plain, stack: &LlmClient, window: Duration) -> Tally {
    let per_tick = FIXED_RATE / 1_000;
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let mut samples = Samples::with_capacity(usize::try_from(FIXED_RATE).unwrap_or(0) * 4);
    let mut errors = 0u64;
    let mut reap = |joined: Result<Result<Duration>, tokio::task::JoinError>| match joined {
        Ok(Ok(elapsed)) => samples.push(elapsed),
        _ => errors += 1,
    };
    let started = Instant::now();
    let deadline = started + window;
    while Instant::now() < deadline {
        ticker.tick().await;
        for _ in 0..per_tick {
            let (plain, stack) = (plain.clone(), stack.clone());
            tasks.spawn(async move { one(side, &plain, &stack).await });
        }
        while let Some(joined) = tasks.try_join_next() {
            reap(joined);
        }
    }
    while let Some(joined) = tasks.join_next().await {
        reap(joined);
    }
    (samples, errors, started.elapsed())
}

/// Latencies, errors and time spent of one side.
type Tally = (Samples, u64, Duration);

/// Runs `measure` for both sides in `rounds` rounds, alternating which side goes first so
/// drift hits both alike: `[plain, stack]`, each side's windows together.
async fn alternate<F, Fut>(rounds: u32, mut measure: F) -> [Tally; 2]
where
    F: FnMut(Side) -> Fut,
    Fut: Future<Output = Tally>,
{
    let mut tallies = [
        (Samples::default(), 0u64, Duration::ZERO),
        (Samples::default(), 0u64, Duration::ZERO),
    ];
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [Side::Plain, Side::Stack]
        } else {
            [Side::Stack, Side::Plain]
        };
        for side in order {
            let (samples, errors, elapsed) = measure(side).await;
            let tally = &mut tallies[usize::from(side == Side::Stack)];
            tally.0.extend(samples);
            tally.1 += errors;
            tally.2 += elapsed;
        }
    }
    tallies
}

fn start_sim(ctx: &Ctx) -> Result<orchestra_sim::Simulator> {
    ctx.start_sim(
        SimConfig::builder()
            .api_key(setup::KEY)
            .log_capacity(1024)
            .model(ModelConfig::new(PRIMARY))
            .model(ModelConfig::new("bench/fallback-1"))
            .model(ModelConfig::new("bench/fallback-2"))
            .build()?,
    )
}

fn stack_settings(sim: &orchestra_sim::Simulator) -> Result<orchestra_llm::config::Settings> {
    setup::settings(
        sim,
        &[
            ("OPENROUTER_DEFAULT_MODEL", PRIMARY),
            (
                "OPENROUTER_FREE_FALLBACKS",
                "bench/fallback-1,bench/fallback-2",
            ),
            ("LLM_RATE_LIMITS", r#"{"bench/*":{"rpm":1000000000}}"#),
            ("LLM_CACHE", "off"),
        ],
    )
}

/// `profile --side plain|stack [--n N]`: N sequential calls of one side, for
/// `valgrind --tool=callgrind` (instruction counts of the two sides differ by the stack's
/// cost; the in-process simulator's share is the same in both).
pub(crate) fn profile(mut args: impl Iterator<Item = String>) -> Result<()> {
    let (mut side, mut n, mut concurrent) = (Side::Stack, 2_000usize, 0u64);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--concurrent-seconds", Some(value)) => concurrent = value.parse()?,
            ("--side", Some(value)) if value == "plain" => side = Side::Plain,
            ("--side", Some(value)) if value == "stack" => side = Side::Stack,
            ("--side", Some(value))
                if matches!(value.as_str(), "provider" | "resilient" | "routed") =>
            {
                return provider_profile(concurrent.max(3), &value);
            }
            ("--n", Some(value)) => n = value.parse()?,
            _ => anyhow::bail!(
                "usage: profile --side plain|stack|provider [--n N] [--concurrent-seconds S]"
            ),
        }
    }
    let ctx = Ctx::new(true, std::path::PathBuf::from("target/bench"))?;
    let sim = start_sim(&ctx)?;
    let plain = Plain::new(&sim)?;
    let settings = stack_settings(&sim)?;
    ctx.client_rt.block_on(async {
        let stack = setup::stack(settings, None)?;
        for _ in 0..100 {
            one(side, &plain, &stack).await?;
        }
        if concurrent > 0 {
            let before = thread_cpu();
            let (samples, errors, elapsed) =
                window(side, &plain, &stack, Duration::from_secs(concurrent)).await;
            let after = thread_cpu();
            #[allow(clippy::cast_precision_loss)]
            let per = |name: &str| {
                let ticks = after.get(name).copied().unwrap_or(0)
                    - before.get(name).copied().unwrap_or(0);
                ticks as f64 * 10_000.0 / samples.len() as f64
            };
            #[allow(clippy::cast_precision_loss)]
            let rps = samples.len() as f64 / elapsed.as_secs_f64();
            println!(
                "{} calls ({errors} errors) at {CONCURRENCY} in flight: {rps:.0}/s; CPU µs per call: client {:.1} (sys {:.1}), sim {:.1} (sys {:.1})",
                samples.len(),
                per("client"),
                per("client.sys"),
                per("sim"),
                per("sim.sys")
            );
            return anyhow::Ok(());
        }
        let started = Instant::now();
        for _ in 0..n {
            one(side, &plain, &stack).await?;
        }
        println!("{n} calls in {:?}", started.elapsed());
        anyhow::Ok(())
    })
}

/// `profile --side provider|resilient|routed`: part of the stack at `CONCURRENCY` in
/// flight, to split its cost. `provider`: the OpenRouter provider alone; `resilient`: under
/// retry, cooldown and quota; `routed`: that under a router over the three targets, given
/// a request built for each call (`stack` adds the ledger and `LlmClient`).
fn provider_profile(seconds: u64, side: &str) -> Result<()> {
    use orchestra_llm::{
        ChatRequest, Provider,
        openrouter::OpenRouter,
        routing::{Router, Target},
    };
    let ctx = Ctx::new(true, std::path::PathBuf::from("target/bench"))?;
    let sim = start_sim(&ctx)?;
    let settings = stack_settings(&sim)?;
    let openrouter = OpenRouter::builder_from_settings(&settings)
        .fallback_models(Vec::new())
        .build()
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let provider: std::sync::Arc<dyn Provider> = if side == "provider" {
        std::sync::Arc::new(openrouter)
    } else {
        let stack = orchestra_llm::resilience::ResilienceStack::from_settings(&settings)
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        std::sync::Arc::new(stack.wrap(openrouter))
    };
    let router = if side == "routed" {
        let mut builder = Router::builder();
        for model in [PRIMARY, "bench/fallback-1", "bench/fallback-2"] {
            builder = builder.target(Target::new(std::sync::Arc::clone(&provider), model));
        }
        Some(std::sync::Arc::new(
            builder
                .build()
                .map_err(|error| anyhow::anyhow!("{error}"))?,
        ))
    } else {
        None
    };
    let request = ChatRequest::new(setup::messages().to_vec())
        .model(PRIMARY)
        .max_tokens(setup::MAX_TOKENS);
    ctx.client_rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let before = thread_cpu();
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CONCURRENCY {
            let (provider, request) = (std::sync::Arc::clone(&provider), request.clone());
            let router = router.clone();
            tasks.spawn(async move {
                let mut calls = 0u64;
                while Instant::now() < deadline {
                    let result = match &router {
                        Some(router) => {
                            let fresh = ChatRequest::new(setup::messages().to_vec())
                                .max_tokens(setup::MAX_TOKENS);
                            router.chat_owned(fresh).await
                        }
                        None => provider.chat(&request).await,
                    };
                    if result.is_ok() {
                        calls += 1;
                    }
                }
                calls
            });
        }
        let mut calls = 0u64;
        while let Some(joined) = tasks.join_next().await {
            calls += joined.unwrap_or(0);
        }
        let after = thread_cpu();
        let per = |name: &str| {
            let ticks = after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0);
            ticks as f64 * 10_000.0 / calls as f64
        };
        println!(
            "{calls} calls at {CONCURRENCY} in flight: {:.0}/s; CPU µs per call: client {:.1} (sys {:.1}), sim {:.1}",
            calls as f64 / started.elapsed().as_secs_f64(),
            per("client"),
            per("client.sys"),
            per("sim")
        );
        anyhow::Ok(())
    })
}

pub(crate) fn run(ctx: &Ctx) -> Result<Section> {
    let sim = start_sim(ctx)?;
    let settings = stack_settings(&sim)?;
    let settings_h2 = stack_settings(&sim)?;
    let plain = Plain::new(&sim)?;
    let sequential_n: usize = ctx.pick(20_000, 3_000);
    let rounds: u32 = ctx.pick(4, 2);
    let window_len = Duration::from_millis(ctx.pick(2_000, 1_000));

    let (seq_plain, seq_stack, seq_errors, conc, fixed, h2) = ctx.client_rt.block_on(async {
        let stack = setup::stack(settings, None)?;
        // Warm up: connections, allocator, branch predictors.
        for i in 0..1_000 {
            let side = if i % 2 == 0 { Side::Plain } else { Side::Stack };
            one(side, &plain, &stack).await?;
        }
        let mut seq_plain = Samples::with_capacity(sequential_n);
        let mut seq_stack = Samples::with_capacity(sequential_n);
        let mut errors = 0u64;
        for i in 0..sequential_n {
            // Interleaved, alternating which goes first, so drift hits both alike.
            let order = if i % 2 == 0 {
                [Side::Plain, Side::Stack]
            } else {
                [Side::Stack, Side::Plain]
            };
            for side in order {
                match one(side, &plain, &stack).await {
                    Ok(elapsed) if side == Side::Plain => seq_plain.push(elapsed),
                    Ok(elapsed) => seq_stack.push(elapsed),
                    Err(_) => errors += 1,
                }
            }
        }
        let (plain, stack) = (&plain, &stack);
        let conc = alternate(rounds, |side| window(side, plain, stack, window_len)).await;
        let fixed = alternate(rounds, |side| fixed_rate(side, plain, stack, window_len)).await;
        // The same closed loop over HTTP/2 (h2c): one connection for every call in flight,
        // as OpenRouter serves them over TLS.
        let plain_h2 = &Plain::http2(&sim.base_url())?;
        let stack_h2 = &setup::stack_http2(settings_h2)?;
        for _ in 0..200 {
            one(Side::Plain, plain_h2, stack_h2).await?;
            one(Side::Stack, plain_h2, stack_h2).await?;
        }
        let h2 = alternate(rounds, |side| window(side, plain_h2, stack_h2, window_len)).await;
        anyhow::Ok((seq_plain, seq_stack, errors, conc, fixed, h2))
    })?;
    ctx.sim_rt.block_on(sim.shutdown());

    let [
        (conc_plain, conc_plain_err, conc_plain_t),
        (conc_stack, conc_stack_err, conc_stack_t),
    ] = conc;
    let s_plain = seq_plain.summary();
    let s_stack = seq_stack.summary();
    let s_added = s_stack.minus(&s_plain);
    let c_plain = conc_plain.summary();
    let c_stack = conc_stack.summary();
    let c_added = c_stack.minus(&c_plain);
    let [
        (fixed_plain, fixed_plain_err, _),
        (fixed_stack, fixed_stack_err, _),
    ] = fixed;
    let f_plain = fixed_plain.summary();
    let f_stack = fixed_stack.summary();
    let f_added = f_stack.minus(&f_plain);
    let [
        (h2_plain, h2_plain_err, h2_plain_t),
        (h2_stack, h2_stack_err, h2_stack_t),
    ] = h2;
    let h_plain = h2_plain.summary();
    let h_stack = h2_stack.summary();
    let h_added = h_stack.minus(&h_plain);
    #[allow(clippy::cast_precision_loss)]
    let rps = |n: usize, t: Duration| n as f64 / t.as_secs_f64().max(1e-9);
    let rps_plain = rps(conc_plain.len(), conc_plain_t);
    let rps_stack = rps(conc_stack.len(), conc_stack_t);
    let rps_ratio = rps_stack / rps_plain;
    let rps_h2_plain = rps(h2_plain.len(), h2_plain_t);
    let rps_h2_stack = rps(h2_stack.len(), h2_stack_t);
    let rps_h2_ratio = rps_h2_stack / rps_h2_plain;
    // Sequential throughput: one request at a time, the inverse of the mean.
    let seq_ratio = s_plain.mean_us / s_stack.mean_us;

    charts::cdf(
        &ctx.out.join("overhead.svg"),
        "Overhead: latency of one call, sequential, to the same simulator endpoint",
        &[
            ("plain reqwest", &seq_plain.sorted()),
            ("orchestra full stack", &seq_stack.sorted()),
        ],
    )?;

    let mut md = String::new();
    let _ = writeln!(
        md,
        "Full stack = `LlmClient` (OpenRouter provider → retry → cooldown → quota → router over 3 \
         targets → usage ledger; quotas on with headroom, cache off) vs plain reqwest + serde_json \
         to the same simulator endpoint (zero simulated latency, 16-token answers). Sequential: \
         {sequential_n} interleaved pairs. Concurrent: {CONCURRENCY} in flight, {rounds} \
         alternating windows of {window_len:?} per side. Fixed rate: {FIXED_RATE} calls a second \
         started whatever the answers do (an open loop, as TensorZero measures its gateway), in \
         groups of {} per millisecond tick, {rounds} alternating windows of {window_len:?} per \
         side. *HTTP/2*: the 64-in-flight loop again with both clients speaking HTTP/2 with \
         prior knowledge (h2c), every call in flight on one connection, as to OpenRouter over \
         TLS; the targets above are judged over HTTP/1.1.\n",
        FIXED_RATE / 1_000
    );
    let _ = writeln!(
        md,
        "| Run | Client | n | mean | p50 | p90 | p99 | throughput |"
    );
    let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- | --- | --- |");
    let row = |md: &mut String, run: &str, who: &str, s: &Summary, tput: String| {
        let _ = writeln!(
            md,
            "| {run} | {who} | {} | {} | {} | {} | {} | {tput} |",
            s.n,
            us(s.mean_us),
            us(s.p50_us),
            us(s.p90_us),
            us(s.p99_us)
        );
    };
    row(
        &mut md,
        "sequential",
        "plain reqwest",
        &s_plain,
        format!("{:.0}/s", 1e6 / s_plain.mean_us),
    );
    row(
        &mut md,
        "sequential",
        "full stack",
        &s_stack,
        format!("{:.0}/s", 1e6 / s_stack.mean_us),
    );
    row(
        &mut md,
        "sequential",
        "**added**",
        &s_added,
        format!("{seq_ratio:.2}×"),
    );
    row(
        &mut md,
        "64 in flight",
        "plain reqwest",
        &c_plain,
        format!("{rps_plain:.0}/s"),
    );
    row(
        &mut md,
        "64 in flight",
        "full stack",
        &c_stack,
        format!("{rps_stack:.0}/s"),
    );
    row(
        &mut md,
        "64 in flight",
        "**added**",
        &c_added,
        format!("{rps_ratio:.2}×"),
    );
    row(
        &mut md,
        "64 in flight, HTTP/2",
        "plain reqwest",
        &h_plain,
        format!("{rps_h2_plain:.0}/s"),
    );
    row(
        &mut md,
        "64 in flight, HTTP/2",
        "full stack",
        &h_stack,
        format!("{rps_h2_stack:.0}/s"),
    );
    row(
        &mut md,
        "64 in flight, HTTP/2",
        "**added**",
        &h_added,
        format!("{rps_h2_ratio:.2}×"),
    );
    let sent = |n: usize| {
        #[allow(clippy::cast_precision_loss)]
        let per_second = n as f64 / (window_len.as_secs_f64() * f64::from(rounds));
        format!("{per_second:.0}/s")
    };
    row(
        &mut md,
        "10k/s fixed rate",
        "plain reqwest",
        &f_plain,
        sent(fixed_plain.len()),
    );
    row(
        &mut md,
        "10k/s fixed rate",
        "full stack",
        &f_stack,
        sent(fixed_stack.len()),
    );
    row(
        &mut md,
        "10k/s fixed rate",
        "**added**",
        &f_added,
        "–".to_owned(),
    );
    let _ = writeln!(
        md,
        "\nErrors: {seq_errors} sequential, {conc_plain_err} plain and {conc_stack_err} stack at 64 in flight, \
         {fixed_plain_err} plain and {fixed_stack_err} stack at the fixed rate, \
         {h2_plain_err} plain and {h2_stack_err} stack over HTTP/2.\n\n\
         ![Overhead distribution](benchmarks/overhead.svg)"
    );

    let all_errors = seq_errors
        + conc_plain_err
        + conc_stack_err
        + fixed_plain_err
        + fixed_stack_err
        + h2_plain_err
        + h2_stack_err;
    let checks = vec![
        Check::new(
            "p50 added latency, sequential",
            "≤ 50 µs",
            us(s_added.p50_us),
            s_added.p50_us <= 50.0,
        ),
        Check::new(
            "p99 added latency, sequential",
            "≤ 500 µs",
            us(s_added.p99_us),
            s_added.p99_us <= 500.0,
        ),
        Check::new(
            "p50 added latency, 64 in flight",
            "≤ 50 µs",
            us(c_added.p50_us),
            c_added.p50_us <= 50.0,
        ),
        Check::new(
            "p99 added latency, 64 in flight",
            "≤ 500 µs",
            us(c_added.p99_us),
            c_added.p99_us <= 500.0,
        ),
        Check::new(
            "throughput, 64 in flight",
            "≥ 0.9× plain",
            format!("{rps_ratio:.2}×"),
            rps_ratio >= 0.9,
        ),
        Check::new(
            "p50 added latency, 10k/s fixed rate",
            "≤ 50 µs",
            us(f_added.p50_us),
            f_added.p50_us <= 50.0,
        ),
        Check::new(
            "p99 added latency, 10k/s fixed rate",
            "≤ 500 µs",
            us(f_added.p99_us),
            f_added.p99_us <= 500.0,
        ),
        Check::new("errors", "0", all_errors.to_string(), all_errors == 0),
    ];
    Ok(Section {
        id: "overhead",
        title: "1. Overhead".to_owned(),
        markdown: md,
        results: json!({
            "sequential": {"plain": s_plain, "stack": s_stack, "added": s_added,
                           "throughput_ratio": seq_ratio, "errors": seq_errors},
            "concurrent": {"in_flight": CONCURRENCY, "plain": c_plain, "stack": c_stack,
                           "added": c_added, "plain_rps": rps_plain, "stack_rps": rps_stack,
                           "throughput_ratio": rps_ratio,
                           "errors": conc_plain_err + conc_stack_err},
            "fixed_rate": {"per_second": FIXED_RATE, "plain": f_plain, "stack": f_stack,
                           "added": f_added, "errors": fixed_plain_err + fixed_stack_err},
            "concurrent_http2": {"in_flight": CONCURRENCY, "plain": h_plain, "stack": h_stack,
                                 "added": h_added, "plain_rps": rps_h2_plain,
                                 "stack_rps": rps_h2_stack, "throughput_ratio": rps_h2_ratio,
                                 "errors": h2_plain_err + h2_stack_err},
        }),
        checks,
    })
}

/// CPU time (user + system, in 10 ms ticks) per thread name of this process.
fn thread_cpu() -> std::collections::HashMap<String, u64> {
    let mut out = std::collections::HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the name.
        *out.entry(name.clone()).or_default() += ticks(11) + ticks(12);
        *out.entry(format!("{name}.sys")).or_default() += ticks(12);
    }
    out
}
