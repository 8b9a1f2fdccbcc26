//! Measurement 2, streaming: time to first token and total time, the stack's `ChatStream`
//! against plain reqwest + SSE parsing (orchestra-openai-compat's bounded `SseParser`, then
//! serde_json into a `Value` per event: what a careful application would write).

use std::{
    fmt::Write as _,
    time::{Duration, Instant},
};

use anyhow::{Result, anyhow, ensure};
use futures_util::StreamExt;
use orchestra_llm::{LlmClient, StreamEvent};
use orchestra_openai_compat::SseParser;
use orchestra_sim::{Latency, ModelConfig, SimConfig};
use serde_json::json;

use crate::{
    report::{Check, Section},
    setup::{self, Ctx, Plain},
    stats::{Samples, Summary, us},
};

const PACED: &str = "stream/paced";
const INSTANT: &str = "stream/instant";

/// Time to the first content and to the end of one stream.
struct Timing {
    ttft: Duration,
    total: Duration,
}

async fn plain_stream(plain: &Plain, model: &str) -> Result<Timing> {
    let started = Instant::now();
    let response = plain.send(model, true).await?;
    let mut body = response.bytes_stream();
    let mut parser = SseParser::new(64 * 1024, 1024 * 1024);
    let mut ttft = None;
    let mut done = false;
    while let Some(chunk) = body.next().await {
        parser
            .push(&chunk?)
            .map_err(|error| anyhow!("SSE: {error}"))?;
        while let Some(data) = parser.next_event() {
            if data == "[DONE]" {
                done = true;
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(&data)?;
            let content = value["choices"][0]["delta"]["content"].as_str();
            if ttft.is_none() && content.is_some_and(|text| !text.is_empty()) {
                ttft = Some(started.elapsed());
            }
        }
    }
    let total = started.elapsed();
    ensure!(done, "plain stream ended without [DONE]");
    Ok(Timing {
        ttft: ttft.ok_or_else(|| anyhow!("plain stream had no content"))?,
        total,
    })
}

async fn stack_stream(client: &LlmClient) -> Result<Timing> {
    let started = Instant::now();
    let mut stream = client
        .generate_chat_completion(setup::messages())
        .max_tokens(setup::MAX_TOKENS)
        .stream()
        .await
        .map_err(|error| anyhow!("stack stream: {error}"))?;
    let mut ttft = None;
    let mut finished = false;
    while let Some(event) = stream.next().await {
        match event.map_err(|error| anyhow!("stack stream: {error}"))? {
            StreamEvent::ContentDelta { text, .. } if ttft.is_none() && !text.is_empty() => {
                ttft = Some(started.elapsed());
            }
            StreamEvent::Finish { .. } => finished = true,
            _ => {}
        }
    }
    let total = started.elapsed();
    ensure!(finished, "stack stream ended without a finish");
    Ok(Timing {
        ttft: ttft.ok_or_else(|| anyhow!("stack stream had no content"))?,
        total,
    })
}

/// Interleaved pairs: (plain ttft, plain total, stack ttft, stack total).
async fn pairs(plain: &Plain, stack: &LlmClient, model: &str, n: usize) -> Result<[Samples; 4]> {
    let mut out: [Samples; 4] = Default::default();
    for i in 0..n {
        let plain_first = i % 2 == 0;
        for first in [true, false] {
            if first == plain_first {
                let t = plain_stream(plain, model).await?;
                out[0].push(t.ttft);
                out[1].push(t.total);
            } else {
                let t = stack_stream(stack).await?;
                out[2].push(t.ttft);
                out[3].push(t.total);
            }
        }
    }
    Ok(out)
}

pub(crate) fn run(ctx: &Ctx) -> Result<Section> {
    let paced = Latency::new(Duration::from_millis(20), Duration::from_millis(4));
    let sim = ctx.start_sim(
        SimConfig::builder()
            .api_key(setup::KEY)
            .log_capacity(1024)
            .model(ModelConfig::new(PACED).latency(paced))
            .model(ModelConfig::new(INSTANT))
            .build()?,
    )?;
    let plain = Plain::new(&sim)?;
    let stack_for = |model: &str| {
        setup::settings(
            &sim,
            &[
                ("OPENROUTER_DEFAULT_MODEL", model),
                ("LLM_RATE_LIMITS", r#"{"stream/*":{"rpm":1000000000}}"#),
                ("LLM_CACHE", "off"),
            ],
        )
    };
    let (paced_settings, instant_settings) = (stack_for(PACED)?, stack_for(INSTANT)?);
    let n_paced: usize = ctx.pick(80, 25);
    let n_instant: usize = ctx.pick(5_000, 1_000);
    let (paced_runs, instant_runs) = ctx.client_rt.block_on(async {
        let paced_stack = setup::stack(paced_settings, None)?;
        let instant_stack = setup::stack(instant_settings, None)?;
        pairs(&plain, &instant_stack, INSTANT, 300).await?; // warm-up
        let instant_runs = pairs(&plain, &instant_stack, INSTANT, n_instant).await?;
        pairs(&plain, &paced_stack, PACED, 3).await?;
        let paced_runs = pairs(&plain, &paced_stack, PACED, n_paced).await?;
        anyhow::Ok((paced_runs, instant_runs))
    })?;
    ctx.sim_rt.block_on(sim.shutdown());

    let summarise = |runs: &[Samples; 4]| -> [Summary; 4] {
        [
            runs[0].summary(),
            runs[1].summary(),
            runs[2].summary(),
            runs[3].summary(),
        ]
    };
    let paced_s = summarise(&paced_runs);
    let instant_s = summarise(&instant_runs);
    let pct = |stack: f64, plain: f64| (stack / plain - 1.0) * 100.0;
    let ttft_over = pct(paced_s[2].p50_us, paced_s[0].p50_us);
    let total_over = pct(paced_s[3].p50_us, paced_s[1].p50_us);

    let mut md = String::new();
    let _ = writeln!(
        md,
        "16-token streams from the simulator. *Paced*: first token after 20 ms, then one every \
         4 ms ({n_paced} interleaved pairs). *Instant*: no simulated latency, the whole stream in \
         one buffer ({n_instant} pairs), which isolates the per-stream cost. Baseline: reqwest \
         `bytes_stream` + `SseParser` + serde_json per event. TTFT = until the first non-empty \
         content delta; total = until the stream ends.\n"
    );
    let _ = writeln!(
        md,
        "| Stream | Client | TTFT p50 | TTFT p99 | total p50 | total p99 |"
    );
    let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- |");
    for (name, s) in [("paced", &paced_s), ("instant", &instant_s)] {
        for (who, ttft, total) in [
            ("plain reqwest + SSE", &s[0], &s[1]),
            ("full stack", &s[2], &s[3]),
        ] {
            let _ = writeln!(
                md,
                "| {name} | {who} | {} | {} | {} | {} |",
                us(ttft.p50_us),
                us(ttft.p99_us),
                us(total.p50_us),
                us(total.p99_us)
            );
        }
        let _ = writeln!(
            md,
            "| {name} | **added** | {} ({:+.2}%) | {} | {} ({:+.2}%) | {} |",
            us(s[2].p50_us - s[0].p50_us),
            pct(s[2].p50_us, s[0].p50_us),
            us(s[2].p99_us - s[0].p99_us),
            us(s[3].p50_us - s[1].p50_us),
            pct(s[3].p50_us, s[1].p50_us),
            us(s[3].p99_us - s[1].p99_us),
        );
    }
    let checks = vec![
        Check::new(
            "TTFT p50, paced stream",
            "≤ 2% over",
            format!("{ttft_over:+.2}%"),
            ttft_over <= 2.0,
        ),
        Check::new(
            "total time p50, paced stream",
            "≤ 2% over",
            format!("{total_over:+.2}%"),
            total_over <= 2.0,
        ),
    ];
    let side = |s: &[Summary; 4]| json!({"plain_ttft": s[0], "plain_total": s[1], "stack_ttft": s[2], "stack_total": s[3]});
    Ok(Section {
        id: "streaming",
        title: "2. Streaming".to_owned(),
        markdown: md,
        results: json!({
            "paced": side(&paced_s),
            "instant": side(&instant_s),
            "ttft_p50_over_percent": ttft_over,
            "total_p50_over_percent": total_over,
        }),
        checks,
    })
}
