//! Measurement 5, cache lookup latency as the cache grows: 1k, 10k, 100k and 1M entries (1M
//! skipped with `--quick`), exact and semantic, through orchestra-cache's public
//! `ResponseCache` API.
//!
//! Entries are recombined halves of real questions from `../shared/data/paraphrase/dev.tsv`
//! when it is there (as `cargo xtask cache-eval` does), else synthetic questions, all in
//! one scope (the worst case: every semantic lookup searches that scope). Lookups of stored
//! questions are hits; lookups of the dev questions themselves are misses, which take the
//! whole path (exact tier, embedding, semantic search, guard).

use std::{fmt::Write as _, path::Path, time::Instant};

use anyhow::{Result, anyhow};
use async_trait::async_trait;
use orchestra_llm::{
    ChatRequest, ChatResponse, ChatStream, Choice, Error, FinishReason, Message, Provider,
    cache::{CacheMode, ResponseCache, eval::parse_pairs},
};
use serde_json::json;

use crate::{
    charts,
    report::{Check, Section},
    setup::Ctx,
    stats::{Samples, Summary, us},
};

const MODEL: &str = "bench/model";

/// An upstream that answers at once with the question.
struct Fill;

#[async_trait]
impl Provider for Fill {
    fn name(&self) -> &str {
        "bench"
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
        let text = request.last_user_text().unwrap_or_default().into_owned();
        let choice = Choice::new(0, Message::assistant(text), Some(FinishReason::Stop));
        Ok(ChatResponse::new("fill", MODEL, "bench", vec![choice]))
    }

    async fn chat_stream(&self, _: &ChatRequest) -> Result<ChatStream, Error> {
        Err(Error::unsupported("the fill provider does not stream"))
    }
}

/// Source questions, split into words.
fn questions() -> (Vec<String>, &'static str) {
    for path in [
        Path::new("../shared/data/paraphrase/dev.tsv").to_path_buf(),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/paraphrase/dev.tsv"),
    ] {
        if let Ok(tsv) = std::fs::read_to_string(&path)
            && let Ok(pairs) = parse_pairs(&tsv)
            && !pairs.is_empty()
        {
            let questions = pairs
                .into_iter()
                .flat_map(|pair| [pair.first, pair.second])
                .collect();
            return (
                questions,
                "recombined real questions (shared/data/paraphrase/dev.tsv)",
            );
        }
    }
    const WORDS: [&str; 48] = [
        "how", "what", "why", "when", "does", "can", "the", "a", "best", "way", "to", "learn",
        "rust", "python", "cook", "rice", "travel", "paris", "cheap", "fast", "money", "save",
        "invest", "stocks", "write", "essay", "sleep", "better", "lose", "weight", "start",
        "business", "online", "free", "house", "buy", "sell", "car", "engine", "fix", "phone",
        "battery", "life", "improve", "memory", "study", "exam", "pass",
    ];
    let questions = (0..2_000usize)
        .map(|i| {
            (0..8 + i % 7)
                .map(|k| WORDS[(i * 31 + k * 17 + k * k * 7) % WORDS.len()])
                .collect::<Vec<_>>()
                .join(" ")
                + "?"
        })
        .collect();
    (questions, "synthetic questions (dev.tsv not found)")
}

fn entry_text(words: &[Vec<&str>], i: usize) -> String {
    let n = words.len();
    let a = &words[(i * 7919) % n];
    let b = &words[(i * 104_729 + 13) % n];
    format!(
        "{} {} #{i}",
        a[..a.len() / 2].join(" "),
        b[b.len() / 2..].join(" ")
    )
}

fn request(text: &str) -> ChatRequest {
    ChatRequest::new(vec![Message::user(text)]).model(MODEL)
}

async fn time_lookups(
    cache: &ResponseCache,
    texts: &[String],
    expect_hit: bool,
) -> Result<Samples> {
    let mut samples = Samples::with_capacity(texts.len());
    for text in texts {
        let request = request(text);
        let started = Instant::now();
        let found = cache.lookup("bench", &request).await;
        samples.push(started.elapsed());
        if expect_hit && found.is_none() {
            return Err(anyhow!("a stored question was not found: {text:?}"));
        }
    }
    Ok(samples)
}

/// One row: size, mode, what was looked up, summary.
struct Row {
    entries: usize,
    mode: &'static str,
    lookup: &'static str,
    summary: Summary,
    fill_us: f64,
}

pub(crate) fn run(ctx: &Ctx) -> Result<Section> {
    let (source, source_name) = questions();
    let words: Vec<Vec<&str>> = source
        .iter()
        .map(|q| q.split_whitespace().collect())
        .filter(|w: &Vec<&str>| w.len() >= 2)
        .collect();
    let sizes: &[usize] = if ctx.quick {
        &[1_000, 10_000, 100_000]
    } else {
        &[1_000, 10_000, 100_000, 1_000_000]
    };
    let lookups: usize = ctx.pick(2_000, 1_000);
    let misses: Vec<String> = source.iter().take(lookups).cloned().collect();
    let mut rows = Vec::new();
    ctx.client_rt.block_on(async {
        for (mode, name) in [
            (CacheMode::Exact, "exact"),
            (CacheMode::Semantic, "semantic"),
        ] {
            let max = *sizes.last().unwrap_or(&1);
            let cache = ResponseCache::builder()
                .mode(mode)
                .max_entries(max + 1)
                .build()
                .map_err(|error| anyhow!("building the cache: {error}"))?;
            let provider = cache.wrap(Fill);
            let mut next = 0usize;
            for &size in sizes {
                let started = Instant::now();
                let from = next;
                while cache.len() < size && next < size * 3 {
                    provider
                        .chat(&request(&entry_text(&words, next)))
                        .await
                        .map_err(|error| anyhow!("filling the cache: {error}"))?;
                    next += 1;
                }
                #[allow(clippy::cast_precision_loss)]
                let fill_us = started.elapsed().as_secs_f64() * 1e6 / (next - from).max(1) as f64;
                let stored: Vec<String> = (0..lookups)
                    .map(|k| entry_text(&words, (k * 2_654_435_761) % next))
                    .collect();
                let hits = time_lookups(&cache, &stored, true).await?;
                let miss = time_lookups(&cache, &misses, false).await?;
                eprintln!(
                    "      {name} {size}: hit p50 {}, miss p50 {}, insert {}",
                    us(hits.summary().p50_us),
                    us(miss.summary().p50_us),
                    us(fill_us)
                );
                rows.push(Row {
                    entries: cache.len(),
                    mode: name,
                    lookup: "hit",
                    summary: hits.summary(),
                    fill_us,
                });
                rows.push(Row {
                    entries: cache.len(),
                    mode: name,
                    lookup: "miss",
                    summary: miss.summary(),
                    fill_us,
                });
            }
        }
        anyhow::Ok(())
    })?;

    let series: Vec<(String, Vec<(f64, f64)>)> = [
        ("exact", "hit"),
        ("exact", "miss"),
        ("semantic", "hit"),
        ("semantic", "miss"),
    ]
    .iter()
    .map(|&(mode, lookup)| {
        #[allow(clippy::cast_precision_loss)]
        let points = rows
            .iter()
            .filter(|row| row.mode == mode && row.lookup == lookup)
            .map(|row| (row.entries as f64, row.summary.p50_us))
            .collect();
        (format!("{mode} cache, {lookup} (p50)"), points)
    })
    .collect();
    charts::loglog(
        &ctx.out.join("cache.svg"),
        "Cache lookup latency (p50) as the cache grows, one scope",
        "entries",
        "lookup p50 (µs)",
        &series,
    )?;

    let mut md = String::new();
    let _ = writeln!(
        md,
        "`ResponseCache::lookup` timed on {lookups} stored questions (hits) and {lookups} \
         questions not stored (misses) per size; entries: {source_name}, one scope. A semantic \
         miss takes the whole path (exact tier, embedding, semantic search, near-miss guard). \
         Insert = one miss stored through `Cache<P>` (lookup + upstream + store).\n"
    );
    let _ = writeln!(md, "| Entries | Mode | Lookup | p50 | p90 | p99 | insert |");
    let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- | --- |");
    for row in &rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.entries,
            row.mode,
            row.lookup,
            us(row.summary.p50_us),
            us(row.summary.p90_us),
            us(row.summary.p99_us),
            us(row.fill_us)
        );
    }
    let _ = writeln!(md, "\n![Cache lookup latency](benchmarks/cache.svg)");
    let results: Vec<_> = rows
        .iter()
        .map(|row| {
            json!({"entries": row.entries, "mode": row.mode, "lookup": row.lookup,
                   "latency": row.summary, "insert_us": row.fill_us})
        })
        .collect();
    let largest = rows.iter().map(|row| row.entries).max().unwrap_or(0);
    let worst = rows
        .iter()
        .filter(|row| row.entries == largest)
        .map(|row| row.summary.p50_us)
        .fold(0.0, f64::max);
    Ok(Section {
        id: "cache",
        title: "5. Cache lookup".to_owned(),
        markdown: md,
        results: json!({"source": source_name, "rows": results}),
        checks: vec![Check::new(
            format!("slowest p50 lookup at {largest} entries (no target in the issue)"),
            "–",
            us(worst),
            true,
        )],
    })
}
