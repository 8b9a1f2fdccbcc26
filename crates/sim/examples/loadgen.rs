//! Load generator: measures the simulator's own throughput.
//!
//! ```text
//! cargo run --release -p orchestra-sim --example loadgen -- \
//!     [--connections 64] [--seconds 5] [--stream] [--server-threads 1] [--client-threads 1] \
//!     [--url http://127.0.0.1:PORT/api/v1]
//! ```
//!
//! Without `--url` it starts an in-process simulator (default scenario, zero latency) on a
//! runtime with `--server-threads` worker threads, and drives it from a separate runtime with
//! `--client-threads` threads over N keep-alive HTTP/1.1 connections (raw hyper client, so the
//! generator stays cheap). Prints requests per second.

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool reporting its result"
)]

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use orchestra_sim::{SimConfig, Simulator};

struct Args {
    connections: usize,
    seconds: u64,
    stream: bool,
    server_threads: usize,
    client_threads: usize,
    url: Option<String>,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut a = Args {
        connections: 64,
        seconds: 5,
        stream: false,
        server_threads: 1,
        client_threads: 1,
        url: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--connections" => a.connections = value()?.parse()?,
            "--seconds" => a.seconds = value()?.parse()?,
            "--server-threads" => a.server_threads = value()?.parse()?,
            "--client-threads" => a.client_threads = value()?.parse()?,
            "--url" => a.url = Some(value()?),
            "--stream" => a.stream = true,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(a)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    // The server runtime lives as long as `main`.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.server_threads.max(1))
        .enable_all()
        .build()?;
    let (base, _sim) = match &args.url {
        Some(url) => (url.trim_end_matches('/').to_owned(), None),
        None => {
            let config = SimConfig::builder()
                .default_models()
                .log_capacity(10_000)
                .build()?;
            let sim = server_rt.block_on(Simulator::start(config))?;
            (sim.base_url(), Some(sim))
        }
    };
    let url: hyper::Uri = format!("{base}/chat/completions").parse()?;
    let authority = url
        .authority()
        .ok_or("the URL needs host:port")?
        .as_str()
        .to_owned();
    let body = Bytes::from(format!(
        r#"{{"model":"openai/gpt-4o-mini","stream":{},"messages":[{{"role":"user","content":"Say hello to the load generator"}}]}}"#,
        args.stream
    ));

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()?;
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    client_rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..args.connections {
            let (url, authority, body) = (url.clone(), authority.clone(), body.clone());
            let (ok, failed) = (ok.clone(), failed.clone());
            tasks.push(tokio::spawn(async move {
                let run = async {
                    let tcp = tokio::net::TcpStream::connect(&authority).await?;
                    tcp.set_nodelay(true)?;
                    let (mut sender, conn) =
                        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
                    tokio::spawn(conn);
                    while Instant::now() < deadline {
                        let req = Request::post(url.path())
                            .header("host", authority.as_str())
                            .header("authorization", "Bearer sk-loadgen")
                            .header("content-type", "application/json")
                            .body(Full::new(body.clone()))?;
                        sender.ready().await?;
                        let resp = sender.send_request(req).await?;
                        let status = resp.status();
                        resp.into_body().collect().await?;
                        if status.is_success() {
                            ok.fetch_add(1, Ordering::Relaxed);
                        } else {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok::<(), Box<dyn Error + Send + Sync>>(())
                };
                if let Err(e) = run.await {
                    println!("connection error: {e}");
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let n = ok.load(Ordering::Relaxed);
    println!(
        "{} requests ({}) in {secs:.2} s over {} connections, server threads {}, client threads {}: {:.0} req/s, {} failed",
        n,
        if args.stream { "stream" } else { "json" },
        args.connections,
        args.server_threads,
        args.client_threads,
        n as f64 / secs,
        failed.load(Ordering::Relaxed),
    );
    Ok(())
}
