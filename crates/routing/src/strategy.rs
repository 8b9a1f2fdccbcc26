//! The [`Strategy`] trait and the built-in strategies.
//!
//! A strategy only *orders* the candidates for one request; the router then walks that
//! order, skipping targets that are cooling down, and fails over on the errors its policy
//! names. Downstream applications plug in their own by implementing [`Strategy`].

mod cost_aware;
mod fallback;
mod latency;
mod loadbalance;

use std::{
    fmt,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Duration,
};

pub use cost_aware::CostAware;
pub use fallback::Fallback;
pub use latency::LeastLatency;
pub use loadbalance::Loadbalance;
use orchestra_core::{ChatRequest, ModelPricing};
use rand::{SeedableRng, rngs::StdRng};

use crate::{Health, Target};

/// What a strategy may look at for one request.
#[derive(Debug)]
#[non_exhaustive]
pub struct RoutingContext<'a> {
    /// The request being routed.
    pub request: &'a ChatRequest,
    /// Prompt tokens estimated before sending ([`estimate_prompt_tokens`](crate::estimate_prompt_tokens));
    /// 0 for a strategy whose [`reads_prompt_estimate`](Strategy::reads_prompt_estimate)
    /// says it does not read it.
    pub estimated_prompt_tokens: u32,
    /// What the account can still spend, USD, when known (see
    /// [`Router::set_spendable_usd`](crate::Router::set_spendable_usd)).
    pub spendable_usd: Option<f64>,
}

impl<'a> RoutingContext<'a> {
    /// A context for `request` (for custom routers and strategy tests).
    pub fn new(
        request: &'a ChatRequest,
        estimated_prompt_tokens: u32,
        spendable_usd: Option<f64>,
    ) -> Self {
        Self {
            request,
            estimated_prompt_tokens,
            spendable_usd,
        }
    }
}

/// One target as a strategy sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Candidate<'a> {
    /// The target.
    pub target: &'a Target,
    /// Whether it can be sent to now.
    pub health: Health,
    /// Prices: configured on the target, else from the provider's model list.
    pub pricing: Option<ModelPricing>,
    /// Context window: configured on the target, else from the provider's model list.
    pub context_length: Option<u32>,
    /// Moving average of successful latencies, when the target has answered before.
    pub latency: Option<Duration>,
    /// Whether the target leads because the request's agent type (or its explicit model)
    /// asked for it.
    pub preferred: bool,
}

impl<'a> Candidate<'a> {
    /// A healthy candidate with nothing else known (for custom routers and strategy tests).
    pub fn new(target: &'a Target) -> Self {
        Self {
            target,
            health: Health::Ready,
            pricing: None,
            context_length: None,
            latency: None,
            preferred: false,
        }
    }

    /// Estimated cost of the request on this target, USD, when its prices are known:
    /// estimated prompt tokens × prompt price + `max_tokens` (else 1,024) × completion price.
    pub fn estimated_cost(&self, context: &RoutingContext<'_>) -> Option<f64> {
        const DEFAULT_COMPLETION_TOKENS: u32 = 1024;
        let completion = context
            .request
            .max_tokens
            .unwrap_or(DEFAULT_COMPLETION_TOKENS);
        let cost = self
            .pricing?
            .estimate(context.estimated_prompt_tokens, completion);
        // Exact decimals inside; a float is plenty to compare and report.
        cost.to_string().parse().ok()
    }

    /// Whether the request (estimated prompt + `max_tokens`) fits the context window; `true`
    /// when the window is unknown.
    pub fn fits(&self, context: &RoutingContext<'_>) -> bool {
        let Some(window) = self.context_length else {
            return true;
        };
        let needed = u64::from(context.estimated_prompt_tokens)
            + u64::from(context.request.max_tokens.unwrap_or(0));
        needed <= u64::from(window)
    }
}

/// Orders the targets for one request. Return indices into `candidates`, best first;
/// indices left out are not tried. The router puts a *preferred* candidate (agent type,
/// explicit model) first whatever the strategy says, and skips unhealthy ones at send time
/// (falling back to waiting for the earliest recovery when nothing else is left), so a
/// strategy can stay a pure ordering.
///
/// ```
/// use orchestra_routing::{Candidate, RoutingContext, Strategy};
///
/// /// Cheapest first by the target's configured weight, as an example of a custom policy.
/// #[derive(Debug)]
/// struct HeaviestFirst;
///
/// impl Strategy for HeaviestFirst {
///     fn name(&self) -> &str {
///         "heaviest_first"
///     }
///
///     fn plan(&self, _context: &RoutingContext<'_>, candidates: &[Candidate<'_>]) -> Vec<usize> {
///         let mut order: Vec<usize> = (0..candidates.len()).collect();
///         order.sort_by(|&a, &b| {
///             let weight = |i: usize| candidates[i].target.weight_value();
///             weight(b).total_cmp(&weight(a))
///         });
///         order
///     }
/// }
/// ```
pub trait Strategy: Send + Sync + fmt::Debug {
    /// A short name for logs and `orchestra config check`.
    fn name(&self) -> &str;

    /// The order in which to try `candidates` for this request.
    fn plan(&self, context: &RoutingContext<'_>, candidates: &[Candidate<'_>]) -> Vec<usize>;

    /// Whether the strategy reads prices or context lengths (the router then loads the
    /// providers' model lists before the first request).
    fn needs_catalog(&self) -> bool {
        false
    }

    /// Whether the strategy reads [`RoutingContext::estimated_prompt_tokens`]. When it does
    /// not, the router skips counting the prompt's characters on every call and the field
    /// is 0.
    fn reads_prompt_estimate(&self) -> bool {
        true
    }
}

/// The random source of the randomised strategies: seeded from the OS, or from a number for
/// reproducible runs.
#[derive(Debug)]
struct StrategyRng(Mutex<StdRng>);

impl StrategyRng {
    fn from_os() -> Self {
        Self(Mutex::new(rand::make_rng()))
    }

    fn seeded(seed: u64) -> Self {
        Self(Mutex::new(StdRng::seed_from_u64(seed)))
    }

    fn lock(&self) -> MutexGuard<'_, StdRng> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
