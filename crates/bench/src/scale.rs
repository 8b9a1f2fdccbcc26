//! Measurement 6, scale: 10,000 requests in flight against a simulator that answers after 1 s;
//! memory per in-flight request and nothing lost.
//!
//! Each client runs in a fresh child process (this binary, `scale-child`), so its
//! `/proc/self/status` `VmRSS`/`VmHWM` hold only the client under test: the simulator stays in
//! the parent.

use std::{
    fmt::Write as _,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, anyhow, bail};
use orchestra_sim::{Latency, ModelConfig, SimConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    report::{Check, Section},
    setup::{self, Plain},
};

const MODEL: &str = "scale/model";
const IN_FLIGHT: usize = 10_000;
const LATENCY: Duration = Duration::from_secs(1);
/// Calls each child makes before measuring.
const WARM_UP: usize = 8;

/// What a child reports.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ChildReport {
    mode: String,
    /// `http1` or `http2`.
    protocol: String,
    requests: usize,
    ok: usize,
    failed: usize,
    first_error: Option<String>,
    rss_before_kib: u64,
    rss_in_flight_kib: u64,
    hwm_kib: u64,
    elapsed_s: f64,
}

/// `VmRSS` and `VmHWM` of this process, in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The child: `scale-child --url BASE --mode plain|stack --protocol http1|http2 --n N`.
pub(crate) fn child(mut args: impl Iterator<Item = String>) -> Result<()> {
    let (mut url, mut mode, mut n) = (String::new(), String::new(), IN_FLIGHT);
    let mut protocol = "http1".to_owned();
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => url = value()?,
            "--mode" => mode = value()?,
            "--protocol" => protocol = value()?,
            "--n" => n = value()?.parse()?,
            other => bail!("scale-child: unknown argument {other}"),
        }
    }
    let rt = setup::runtime("client", 1)?;
    let report = rt.block_on(async {
        let sim_url = url.trim_end_matches('/').to_owned();
        let http2 = match protocol.as_str() {
            "http1" => false,
            "http2" => true,
            other => bail!("scale-child: unknown protocol {other}"),
        };
        let calls: Box<dyn Fn() -> futures_util::future::BoxFuture<'static, Result<String>>> =
            match mode.as_str() {
                "plain" => {
                    let plain = if http2 {
                        Plain::http2(&sim_url)?
                    } else {
                        Plain::from_base_url(&sim_url)?
                    };
                    Box::new(move || {
                        let plain = plain.clone();
                        Box::pin(async move { plain.chat(MODEL).await })
                    })
                }
                "stack" => {
                    let settings = setup::settings_for_url(
                        &sim_url,
                        &[
                            ("OPENROUTER_DEFAULT_MODEL", MODEL),
                            ("LLM_RATE_LIMITS", r#"{"scale/*":{"rpm":1000000000}}"#),
                            ("LLM_CACHE", "off"),
                        ],
                    )?;
                    let client = if http2 {
                        setup::stack_http2(settings)?
                    } else {
                        setup::stack(settings, None)?
                    };
                    Box::new(move || {
                        let client = client.clone();
                        Box::pin(async move { setup::stack_chat(&client).await })
                    })
                }
                other => bail!("scale-child: unknown mode {other}"),
            };
        // Warm-up: a few concurrent calls, so the pool, TLS-free connector and allocator exist.
        let warm: Vec<_> = (0..WARM_UP).map(|_| calls()).collect();
        for result in futures_util::future::join_all(warm).await {
            result?;
        }
        let (rss_before, _) = memory();
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            tasks.spawn(calls());
        }
        // Sample while every request waits for its answer.
        let mut rss_in_flight = 0;
        let sampler = async {
            for _ in 0..9 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                rss_in_flight = rss_in_flight.max(memory().0);
            }
        };
        let mut report = ChildReport {
            mode: mode.clone(),
            protocol: protocol.clone(),
            requests: n,
            ..ChildReport::default()
        };
        let collect = async {
            while let Some(joined) = tasks.join_next().await {
                match joined
                    .map_err(anyhow::Error::from)
                    .and_then(|result| result)
                {
                    Ok(text) if text.starts_with(MODEL) => report.ok += 1,
                    Ok(text) => {
                        report.failed += 1;
                        report.first_error.get_or_insert(format!("answer {text:?}"));
                    }
                    Err(error) => {
                        report.failed += 1;
                        report.first_error.get_or_insert(error.to_string());
                    }
                }
            }
        };
        tokio::join!(sampler, collect);
        report.elapsed_s = started.elapsed().as_secs_f64();
        let (_, hwm) = memory();
        report.rss_before_kib = rss_before;
        report.rss_in_flight_kib = rss_in_flight;
        report.hwm_kib = hwm;
        anyhow::Ok(report)
    })?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn spawn_child(base_url: &str, mode: &str, protocol: &str, n: usize) -> Result<ChildReport> {
    let exe = std::env::current_exe().context("locating the bench binary")?;
    let output = Command::new(exe)
        .args(["scale-child", "--url", base_url, "--mode", mode])
        .args(["--protocol", protocol, "--n"])
        .arg(n.to_string())
        .output()
        .context("running the scale child")?;
    if !output.status.success() {
        bail!(
            "scale child ({mode}) failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .last()
        .ok_or_else(|| anyhow!("scale child ({mode}) printed nothing"))?;
    serde_json::from_str(line).with_context(|| format!("scale child output {line:?}"))
}

pub(crate) fn run(ctx: &setup::Ctx) -> Result<Section> {
    let sim = ctx.start_sim(
        SimConfig::builder()
            .api_key(setup::KEY)
            .log_capacity(4 * IN_FLIGHT)
            .model(ModelConfig::new(MODEL).latency(Latency::new(LATENCY, Duration::ZERO)))
            .build()?,
    )?;
    let base_url = sim.base_url();
    let mut children = Vec::new();
    for (protocol, mode) in [
        ("http1", "plain"),
        ("http1", "stack"),
        ("http2", "plain"),
        ("http2", "stack"),
    ] {
        sim.reset_counters();
        let report = spawn_child(&base_url, mode, protocol, IN_FLIGHT)?;
        let served = sim
            .model_stats(MODEL)
            .successes
            .saturating_sub(WARM_UP as u64);
        children.push((report, served));
    }
    ctx.sim_rt.block_on(sim.shutdown());

    #[allow(clippy::cast_precision_loss)]
    let per_request = |r: &ChildReport| {
        r.hwm_kib.saturating_sub(r.rss_before_kib) as f64 * 1024.0 / r.requests as f64
    };
    let find = |protocol: &str, mode: &str| {
        children
            .iter()
            .find(|(r, _)| r.protocol == protocol && r.mode == mode)
            .ok_or_else(|| anyhow!("no {mode} run over {protocol}"))
    };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "{IN_FLIGHT} requests started at once (one task each) against a simulator answering \
         after {} s, over HTTP/1.1 (one connection per request in flight) and over HTTP/2 \
         with prior knowledge (h2c: the requests share one connection, as against OpenRouter, \
         which speaks HTTP/2 over TLS); each client in its own process (1 runtime worker), \
         memory from `/proc/self/status` of that process. Per request = (`VmHWM` at the end − \
         `VmRSS` after {WARM_UP} warm-up calls) / {IN_FLIGHT}; \"simulator served\" excludes \
         the warm-up.\n",
        LATENCY.as_secs()
    );
    let _ = writeln!(
        md,
        "| Protocol | Client | answered | failed | simulator served | RSS before | RSS in flight | peak (VmHWM) | per request | wall time |"
    );
    let _ = writeln!(
        md,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for (r, served) in &children {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {served} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} KB | {:.2} s |",
            if r.protocol == "http2" {
                "HTTP/2"
            } else {
                "HTTP/1.1"
            },
            if r.mode == "plain" {
                "plain reqwest"
            } else {
                "full stack"
            },
            r.ok,
            r.failed,
            r.rss_before_kib as f64 / 1024.0,
            r.rss_in_flight_kib as f64 / 1024.0,
            r.hwm_kib as f64 / 1024.0,
            per_request(r) / 1000.0,
            r.elapsed_s
        );
    }
    for (r, _) in &children {
        if let Some(error) = &r.first_error {
            let _ = writeln!(
                md,
                "\nFirst error ({} over {}): `{error}`",
                r.mode, r.protocol
            );
        }
    }
    let mut checks = Vec::new();
    let mut lost_total = 0;
    let mut served_ok = true;
    for (protocol, name) in [("http1", "HTTP/1.1"), ("http2", "HTTP/2")] {
        let (stack, stack_served) = find(protocol, "stack")?;
        let (plain, _) = find(protocol, "plain")?;
        let (stack_per, plain_per) = (per_request(stack), per_request(plain));
        let _ = writeln!(
            md,
            "\n{name}: of the stack's {:.1} KB per request, plain reqwest takes {:.1} KB; \
             orchestra's layers add {:.1} KB.",
            stack_per / 1000.0,
            plain_per / 1000.0,
            (stack_per - plain_per) / 1000.0
        );
        lost_total += stack.requests - stack.ok;
        served_ok &= *stack_served == stack.requests as u64;
        checks.push(if protocol == "http2" {
            Check::new(
                "memory per in-flight request (stack, HTTP/2 as to OpenRouter)",
                "≤ 20 KB",
                format!(
                    "{:.1} KB (plain reqwest {:.1} KB)",
                    stack_per / 1000.0,
                    plain_per / 1000.0
                ),
                stack_per <= 20_000.0,
            )
        } else {
            // One connection per request: hyper's connection state is most of it, and no
            // client setting changes that. Reported, not judged.
            Check::new(
                "memory per in-flight request (stack, HTTP/1.1), what the stack adds",
                "–",
                format!(
                    "{:.1} KB, of which plain reqwest {:.1} KB",
                    stack_per / 1000.0,
                    plain_per / 1000.0
                ),
                true,
            )
        });
    }
    checks.push(Check::new(
        "requests lost (stack, both protocols)",
        "0",
        lost_total.to_string(),
        lost_total == 0 && served_ok,
    ));
    let results: Vec<_> = children
        .iter()
        .map(|(r, served)| json!({"report": r, "served": served, "bytes_per_request": per_request(r)}))
        .collect();
    Ok(Section {
        id: "scale",
        title: "6. Scale: 10,000 in flight".to_owned(),
        markdown: md,
        results: json!({"in_flight": IN_FLIGHT, "latency_s": LATENCY.as_secs(), "clients": results}),
        checks,
    })
}
