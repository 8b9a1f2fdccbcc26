//! `cargo xtask cache-eval`: precision, recall, call reduction and lookup latency of the
//! semantic cache on labelled question pairs.
//!
//! ```text
//! cargo run --release -p orchestra-cache --example cache_eval -- \
//!     [--data ../shared/data/paraphrase/dev.tsv] [--threshold 0.9] [--entries 100000] [--sweep]
//! ```

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use orchestra_cache::{
    CacheMode, CacheSettings, Guard, LexicalEmbedder, LexicalOptions, ResponseCache,
    eval::{
        Confusion, LabelledPair, ScoredPair, best_threshold, parse_pairs, replay_workload,
        score_pairs, split,
    },
};
use orchestra_core::{ChatRequest, Message, Provider};

const MIN_PRECISION: f64 = 0.98;
const HOLDOUT_PERCENT: u64 = 30;

struct Args {
    data: PathBuf,
    threshold: f32,
    entries: usize,
    sweep: bool,
}

fn args() -> Args {
    let mut args = Args {
        data: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/paraphrase/dev.tsv"
        )),
        threshold: CacheSettings::DEFAULT_SIMILARITY,
        entries: 100_000,
        sweep: false,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--data" => args.data = PathBuf::from(iter.next().expect("--data PATH")),
            "--threshold" => {
                args.threshold = iter
                    .next()
                    .and_then(|t| t.parse().ok())
                    .expect("--threshold 0.9")
            }
            "--entries" => {
                args.entries = iter
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--entries N")
            }
            "--sweep" => args.sweep = true,
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = args();
    let tsv = std::fs::read_to_string(&args.data)
        .unwrap_or_else(|error| panic!("reading {}: {error}", args.data.display()));
    let pairs = parse_pairs(&tsv).expect("a well-formed TSV");
    let (tune, holdout) = split(&pairs, HOLDOUT_PERCENT);
    println!(
        "data: {} ({} pairs; tuning part {}, held-out part {} — split by shared question)",
        args.data.display(),
        pairs.len(),
        tune.len(),
        holdout.len()
    );
    if args.sweep {
        sweep(&tune).await;
        return;
    }
    report(&args, &pairs, &tune, &holdout).await;
}

/// Grid search of the lexical embedder's weights on the tuning part only.
async fn sweep(tune: &[LabelledPair]) {
    println!("\nsweep on the tuning part: best recall with precision ≥ {MIN_PRECISION}, guard on");
    for extra_words in [0, 1] {
        let mut guard = Guard::default();
        guard.extra_words = extra_words;
        let scored = score_pairs(&LexicalEmbedder::default(), guard, tune)
            .await
            .unwrap();
        for step in [5, 6, 7, 8, 9] {
            #[allow(clippy::cast_precision_loss)]
            let threshold = step as f32 * 0.1;
            line(
                &format!("extra_words {extra_words}, threshold {threshold:.1}"),
                &Confusion::at(&scored, threshold, true),
            );
        }
    }
    let mut results = Vec::new();
    for dims in [512usize, 1024] {
        for stopword in [0.1f32, 0.3] {
            for bigram in [0.0f32, 0.4, 0.8] {
                for ngrams in [0.0f32, 0.5, 1.0] {
                    for number in [1.0f32, 2.0] {
                        let mut options = LexicalOptions::default();
                        options.dims = dims;
                        options.stopword = stopword;
                        options.bigram = bigram;
                        options.ngrams = ngrams;
                        options.number = number;
                        let embedder = LexicalEmbedder::new(options.clone());
                        let scored = score_pairs(&embedder, Guard::default(), tune)
                            .await
                            .unwrap();
                        if let Some((threshold, confusion)) =
                            best_threshold(&scored, MIN_PRECISION, true)
                        {
                            results.push((confusion.recall(), threshold, confusion, options));
                        }
                    }
                }
            }
        }
    }
    results.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (recall, threshold, confusion, options) in results.iter().take(15) {
        println!(
            "recall {recall:.3} precision {:.3} at {threshold:.3}  {options:?}",
            confusion.precision()
        );
    }
}

fn line(name: &str, confusion: &Confusion) {
    println!(
        "  {name:<34} precision {:.3}  recall {:.3}  (hits {} right / {} wrong, missed {})",
        confusion.precision(),
        confusion.recall(),
        confusion.true_hits,
        confusion.false_hits,
        confusion.missed
    );
}

fn breakdown(title: &str, scored: &[ScoredPair], threshold: f32) {
    println!("\n{title} at threshold {threshold}:");
    line(
        "all pairs, guard on",
        &Confusion::at(scored, threshold, true),
    );
    line(
        "all pairs, threshold only",
        &Confusion::at(scored, threshold, false),
    );
    for source in ["qqp", "paws-wiki"] {
        line(
            &format!("{source}, guard on"),
            &Confusion::at_where(scored, threshold, true, |pair| pair.source == source),
        );
    }
}

async fn report(
    args: &Args,
    pairs: &[LabelledPair],
    tune: &[LabelledPair],
    holdout: &[LabelledPair],
) {
    let embedder = LexicalEmbedder::default();
    let threshold = args.threshold;
    println!(
        "embedder: {} ; guard: numbers, names, negation, wording",
        orchestra_cache::Embedder::id(&embedder)
    );
    let scored_tune = score_pairs(&embedder, Guard::default(), tune)
        .await
        .unwrap();
    let scored_holdout = score_pairs(&embedder, Guard::default(), holdout)
        .await
        .unwrap();
    let scored_all = score_pairs(&embedder, Guard::default(), pairs)
        .await
        .unwrap();
    if let Some((best, confusion)) = best_threshold(&scored_tune, MIN_PRECISION, true) {
        println!(
            "best threshold on the tuning part for precision ≥ {MIN_PRECISION}: {best:.3} (recall {:.3})",
            confusion.recall()
        );
    }
    println!("\nwrong hits (labelled different, served) at threshold {threshold}, all of dev.tsv:");
    for (pair, s) in holdout
        .iter()
        .zip(&scored_holdout)
        .chain(tune.iter().zip(&scored_tune))
    {
        if s.verdict == orchestra_cache::Verdict::Same && s.similarity >= threshold && !pair.same {
            println!("  {:.3}  {}  |  {}", s.similarity, pair.first, pair.second);
        }
    }
    breakdown(
        "held-out part (not used for tuning)",
        &scored_holdout,
        threshold,
    );
    breakdown("tuning part", &scored_tune, threshold);
    breakdown("all of dev.tsv", &scored_all, threshold);

    println!(
        "\nworkload: both questions of every pair, shuffled, through one in-process cache (threshold {threshold}):"
    );
    for (name, part) in [("held-out part", holdout), ("all of dev.tsv", pairs)] {
        let cache = ResponseCache::builder()
            .similarity(threshold)
            .max_entries(1_000_000)
            .build()
            .unwrap();
        let report = replay_workload(&cache, part, 20_241_122).await.unwrap();
        println!(
            "  {name:<15} {} requests → {} upstream calls: {:.1}% fewer; {} exact + {} semantic hits, {} right, {} labelled different, {} unlabelled; {:.1}% of the {} re-asked questions served",
            report.requests,
            report.upstream_calls,
            report.reduction() * 100.0,
            report.exact_hits,
            report.semantic_hits,
            report.correct_hits,
            report.wrong_hits,
            report.unlabelled_hits,
            report.repeat_coverage() * 100.0,
            report.repeated_meaning
        );
    }

    latency(args, pairs).await;
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// Fills a cache with `entries` answers in one scope (the worst case: every lookup searches
/// them all) and times lookups of the dev questions, which are not in it.
async fn latency(args: &Args, pairs: &[LabelledPair]) {
    let questions: Vec<&str> = pairs
        .iter()
        .flat_map(|pair| [pair.first.as_str(), pair.second.as_str()])
        .collect();
    let words: Vec<Vec<&str>> = questions
        .iter()
        .map(|q| q.split_whitespace().collect())
        .collect();
    let mut loose = Guard::default();
    loose.wording = false;
    for (name, guard) in [
        (
            "default guard (index bucketed by wording)",
            Guard::default(),
        ),
        ("wording check off (whole scope searched)", loose),
    ] {
        let cache = ResponseCache::builder()
            .mode(CacheMode::Semantic)
            .similarity(args.threshold)
            .guard(guard)
            .max_entries(args.entries + 1)
            .build()
            .unwrap();
        let provider = cache.wrap(Fill);
        let started = Instant::now();
        let n = words.len();
        let mut inserted = 0usize;
        let mut i = 0usize;
        while cache.len() < args.entries && i < args.entries * 3 {
            // Real question halves recombined: realistic words, lengths and overlaps.
            let a = &words[(i * 7919) % n];
            let b = &words[(i * 104_729 + 13) % n];
            let text = format!(
                "{} {} #{i}",
                a[..a.len() / 2].join(" "),
                b[b.len() / 2..].join(" ")
            );
            let request = ChatRequest::new(vec![Message::user(text)]).model("bench/model");
            provider.chat(&request).await.unwrap();
            inserted += 1;
            i += 1;
        }
        let fill = started.elapsed();
        #[allow(clippy::cast_precision_loss)]
        let per_insert = fill.as_secs_f64() * 1e6 / inserted.max(1) as f64;
        println!(
            "\nlatency, {name}: {} entries in one scope ({inserted} misses stored in {fill:.1?}, {per_insert:.0} µs each incl. lookup and embedding)",
            cache.len(),
        );
        let modes: &[(&str, bool)] = if guard.wording {
            &[("", true)]
        } else {
            &[
                ("sketch filter + exact re-score, ", true),
                ("exact scan of every entry, ", false),
            ]
        };
        for (mode, sketches) in modes {
            cache.set_sketch_filter(*sketches);
            let mut times = Vec::with_capacity(questions.len());
            for question in &questions {
                let request = ChatRequest::new(vec![Message::user(*question)]).model("bench/model");
                let started = Instant::now();
                let _ = cache.lookup("bench", &request).await;
                times.push(started.elapsed());
            }
            times.sort();
            println!(
                "  lookup ({mode}embedding + exact + semantic + guard): p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs over {} lookups",
                percentile(&times, 0.5).as_secs_f64() * 1e6,
                percentile(&times, 0.99).as_secs_f64() * 1e6,
                times.last().copied().unwrap_or_default().as_secs_f64() * 1e6,
                times.len()
            );
        }
    }
}

/// An upstream that answers instantly with the question.
struct Fill;

#[async_trait::async_trait]
impl Provider for Fill {
    fn name(&self) -> &str {
        "bench"
    }

    async fn chat(
        &self,
        request: &ChatRequest,
    ) -> Result<orchestra_core::ChatResponse, orchestra_core::Error> {
        let text = request.last_user_text().unwrap_or_default().into_owned();
        let choice = orchestra_core::Choice::new(
            0,
            Message::assistant(text),
            Some(orchestra_core::FinishReason::Stop),
        );
        Ok(orchestra_core::ChatResponse::new(
            "b",
            "bench/model",
            "bench",
            vec![choice],
        ))
    }

    async fn chat_stream(
        &self,
        _: &ChatRequest,
    ) -> Result<orchestra_core::ChatStream, orchestra_core::Error> {
        Err(orchestra_core::Error::unsupported("no"))
    }
}
