//! Strategies as orderings of candidates: no network.

use std::{collections::BTreeMap, sync::Arc};

use async_trait::async_trait;
use orchestra_core::{
    ChatRequest, ChatResponse, ChatStream, Error, Message, ModelPricing, Provider,
};
use orchestra_routing::{
    Candidate, CostAware, Fallback, Health, LeastLatency, Loadbalance, RoutingContext, Strategy,
    Target, estimate_prompt_tokens,
};

/// A provider strategies never call (they only order targets).
struct Idle;

#[async_trait]
impl Provider for Idle {
    fn name(&self) -> &str {
        "idle"
    }
    async fn chat(&self, _: &ChatRequest) -> Result<ChatResponse, Error> {
        Err(Error::unsupported("idle"))
    }
    async fn chat_stream(&self, _: &ChatRequest) -> Result<ChatStream, Error> {
        Err(Error::unsupported("idle"))
    }
}

fn targets(weights: &[(&str, f64)]) -> Vec<Target> {
    let idle: Arc<dyn Provider> = Arc::new(Idle);
    weights
        .iter()
        .map(|(model, weight)| Target::new(Arc::clone(&idle), *model).weight(*weight))
        .collect()
}

fn candidates(targets: &[Target]) -> Vec<Candidate<'_>> {
    targets
        .iter()
        .map(|target| {
            let mut candidate = Candidate::new(target);
            candidate.pricing = target.configured_pricing();
            candidate.context_length = target.configured_context_length();
            candidate
        })
        .collect()
}

fn context(request: &ChatRequest) -> RoutingContext<'_> {
    RoutingContext::new(request, estimate_prompt_tokens(request), None)
}

#[test]
fn loadbalance_70_20_10_lands_within_two_percent_over_10000_picks() {
    let targets = targets(&[("a", 70.0), ("b", 20.0), ("c", 10.0)]);
    let candidates = candidates(&targets);
    let request = ChatRequest::new(vec![Message::user("hi")]);
    let strategy = Loadbalance::seeded(42);
    let mut firsts = BTreeMap::<usize, u32>::new();
    for _ in 0..10_000 {
        let plan = strategy.plan(&context(&request), &candidates);
        assert_eq!(plan.len(), 3, "every target stays as a fallback");
        *firsts.entry(plan[0]).or_default() += 1;
    }
    for (index, expected) in [(0, 0.70), (1, 0.20), (2, 0.10)] {
        let share = f64::from(firsts[&index]) / 10_000.0;
        assert!(
            (share - expected).abs() <= 0.02,
            "target {index}: {share} vs {expected}"
        );
    }
}

#[test]
fn loadbalance_renormalises_over_healthy_targets() {
    let targets = targets(&[("a", 70.0), ("b", 20.0), ("c", 10.0)]);
    let mut candidates = candidates(&targets);
    candidates[0].health = Health::Unavailable {
        retry_in: std::time::Duration::from_secs(30),
        reason: "rate_limited".into(),
    };
    let request = ChatRequest::new(vec![Message::user("hi")]);
    let strategy = Loadbalance::seeded(7);
    let mut b_first = 0u32;
    for _ in 0..10_000 {
        let plan = strategy.plan(&context(&request), &candidates);
        assert_ne!(plan[0], 0, "a cooling target is never picked first");
        assert_eq!(plan[2], 0, "it stays last, as a fallback");
        b_first += u32::from(plan[0] == 1);
    }
    // 20 / (20 + 10) of the picks.
    let share = f64::from(b_first) / 10_000.0;
    assert!((share - 2.0 / 3.0).abs() <= 0.02, "{share}");
}

#[test]
fn fallback_keeps_the_configured_order() {
    let targets = targets(&[("a", 1.0), ("b", 1.0), ("c", 1.0)]);
    let request = ChatRequest::new(vec![Message::user("hi")]);
    assert_eq!(
        Fallback.plan(&context(&request), &candidates(&targets)),
        [0, 1, 2]
    );
}

#[test]
fn cost_aware_orders_by_estimated_cost_checks_context_and_spends_nothing_when_broke() {
    let idle: Arc<dyn Provider> = Arc::new(Idle);
    let priced = |model: &str, prompt: &str, completion: &str, context: u32| {
        Target::new(Arc::clone(&idle), model)
            .pricing(ModelPricing::parse(prompt, completion).unwrap())
            .context_length(context)
    };
    let targets = vec![
        priced("expensive", "0.000015", "0.000075", 200_000),
        priced("cheap-small", "0.0000001", "0.0000004", 1_000),
        priced("cheap", "0.00000015", "0.0000006", 128_000),
        priced("free", "0", "0", 32_000),
        Target::new(Arc::clone(&idle), "unpriced"),
    ];
    let candidates = candidates(&targets);
    let long_prompt = "word ".repeat(2_000); // ~2,500 tokens: too long for cheap-small.
    let request = ChatRequest::new(vec![Message::user(long_prompt)]).max_tokens(500);
    let plan = CostAware.plan(&context(&request), &candidates);
    assert_eq!(
        plan,
        [3, 2, 0, 4],
        "free, cheap, expensive, then unknown prices"
    );

    // The cheapest paid option costs more than what is left: only free models.
    let broke = RoutingContext::new(&request, estimate_prompt_tokens(&request), Some(0.0));
    assert_eq!(CostAware.plan(&broke, &candidates), [3]);
    let some = RoutingContext::new(&request, estimate_prompt_tokens(&request), Some(0.01));
    assert_eq!(CostAware.plan(&some, &candidates), [3, 2, 4]);
}

#[test]
fn least_latency_prefers_the_faster_of_two_random_choices() {
    let targets = targets(&[("slow", 1.0), ("fast", 1.0), ("medium", 1.0)]);
    let mut candidates = candidates(&targets);
    for (candidate, ms) in candidates.iter_mut().zip([900, 100, 400]) {
        candidate.latency = Some(std::time::Duration::from_millis(ms));
    }
    let request = ChatRequest::new(vec![Message::user("hi")]);
    let strategy = LeastLatency::seeded(3);
    let mut leads = [0u32; 3];
    for _ in 0..3_000 {
        let plan = strategy.plan(&context(&request), &candidates);
        leads[plan[0]] += 1;
    }
    // Two of three drawn: the slowest never wins, the fastest wins whenever drawn (2/3).
    assert_eq!(leads[0], 0);
    let fast = f64::from(leads[1]) / 3_000.0;
    assert!((fast - 2.0 / 3.0).abs() < 0.03, "{leads:?}");
}

/// Records the prompt estimate the router hands it; orders targets as configured.
#[derive(Debug)]
struct EstimateProbe {
    seen: Arc<std::sync::Mutex<Vec<u32>>>,
    reads: bool,
}

impl Strategy for EstimateProbe {
    fn name(&self) -> &str {
        "estimate_probe"
    }

    fn plan(&self, context: &RoutingContext<'_>, candidates: &[Candidate<'_>]) -> Vec<usize> {
        self.seen
            .lock()
            .unwrap()
            .push(context.estimated_prompt_tokens);
        (0..candidates.len()).collect()
    }

    fn reads_prompt_estimate(&self) -> bool {
        self.reads
    }
}

#[tokio::test]
async fn the_router_estimates_the_prompt_only_for_strategies_that_read_it() {
    let request = ChatRequest::new(vec![Message::user("word ".repeat(80))]);
    let expected = estimate_prompt_tokens(&request);
    assert!(expected > 0);
    for reads in [true, false] {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let router = orchestra_routing::Router::builder()
            .targets(targets(&[("m", 1.0)]))
            .strategy(EstimateProbe {
                seen: Arc::clone(&seen),
                reads,
            })
            .build()
            .unwrap();
        // The idle target refuses; only the plan matters here.
        let _ = router.chat(&request).await;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen, [if reads { expected } else { 0 }], "reads: {reads}");
    }
    assert!(!Fallback.reads_prompt_estimate());
    assert!(CostAware.reads_prompt_estimate());
}
