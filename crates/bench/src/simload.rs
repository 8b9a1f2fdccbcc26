//! Measurement 7, the simulator's own throughput, driven by a raw hyper HTTP/1.1 client over
//! 64 keep-alive connections: the simulator on its one-thread runtime, the load on the other.

use std::{
    fmt::Write as _,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use orchestra_sim::{ModelConfig, SimConfig};
use serde_json::json;

use crate::{
    report::{Check, Section},
    setup::{self, Ctx},
};

const MODEL: &str = "sim/model";
const CONNECTIONS: usize = 64;

/// Requests per second (and failures) of `CONNECTIONS` connections for `seconds`.
async fn drive(authority: String, path: String, stream: bool, run_for: Duration) -> (f64, u64) {
    let body = Bytes::from(format!(
        r#"{{"model":"{MODEL}","stream":{stream},"max_tokens":16,"messages":[{{"role":"user","content":"{}"}}]}}"#,
        setup::QUESTION
    ));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + run_for;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONNECTIONS {
        let (authority, path, body) = (authority.clone(), path.clone(), body.clone());
        let (ok, failed) = (ok.clone(), failed.clone());
        tasks.spawn(async move {
            let run = async {
                let tcp = tokio::net::TcpStream::connect(&authority).await?;
                tcp.set_nodelay(true)?;
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
                tokio::spawn(conn);
                while Instant::now() < deadline {
                    let request = Request::post(path.as_str())
                        .header("host", authority.as_str())
                        .header("authorization", format!("Bearer {}", setup::KEY))
                        .header("content-type", "application/json")
                        .body(Full::new(body.clone()))?;
                    sender.ready().await?;
                    let response = sender.send_request(request).await?;
                    let status = response.status();
                    response.into_body().collect().await?;
                    if status.is_success() {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                anyhow::Ok(())
            };
            if run.await.is_err() {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    #[allow(clippy::cast_precision_loss)]
    let rps = ok.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    (rps, failed.load(Ordering::Relaxed))
}

pub(crate) fn run(ctx: &Ctx) -> Result<Section> {
    let sim = ctx.start_sim(
        SimConfig::builder()
            .api_key(setup::KEY)
            .log_capacity(10_000)
            .model(ModelConfig::new(MODEL))
            .build()?,
    )?;
    let url: hyper::Uri = format!("{}/chat/completions", sim.base_url()).parse()?;
    let authority = url
        .authority()
        .context("simulator URL")?
        .as_str()
        .to_owned();
    let path = url.path().to_owned();
    let run_for = Duration::from_secs(ctx.pick(4, 2));
    let (json_rps, json_failed) =
        ctx.client_rt
            .block_on(drive(authority.clone(), path.clone(), false, run_for));
    let (sse_rps, sse_failed) = ctx
        .client_rt
        .block_on(drive(authority, path, true, run_for));
    ctx.sim_rt.block_on(sim.shutdown());

    let mut md = String::new();
    let _ = writeln!(
        md,
        "Raw hyper HTTP/1.1 client, {CONNECTIONS} keep-alive connections, {run_for:?} per mode; \
         simulator on one runtime thread, load generator on the other; 16-token answers, zero \
         latency.\n"
    );
    let _ = writeln!(md, "| Mode | requests/s | failed |\n| --- | --- | --- |");
    let _ = writeln!(md, "| JSON | {json_rps:.0} | {json_failed} |");
    let _ = writeln!(md, "| SSE stream | {sse_rps:.0} | {sse_failed} |");
    Ok(Section {
        id: "simulator",
        title: "7. Simulator throughput".to_owned(),
        markdown: md,
        results: json!({"connections": CONNECTIONS, "json_rps": json_rps, "sse_rps": sse_rps,
                        "json_failed": json_failed, "sse_failed": sse_failed}),
        checks: vec![Check::new(
            "simulator JSON throughput (must exceed every client's, see 1.)",
            "> clients",
            format!("{json_rps:.0}/s"),
            json_failed == 0,
        )],
    })
}
