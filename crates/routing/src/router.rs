//! The [`Router`]: a [`Provider`] that spreads requests over targets.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use orchestra_core::{
    Attempt, AttemptOutcome, ChatRequest, ChatResponse, ChatStream, Credits, Error, ErrorKind,
    ModelInfo, ModelPricing, Provider,
};
use orchestra_resilience::{Clock, TokioClock, timer_at, with_enforced_deadline};

use crate::{
    Candidate, Fallback, Health, RoutingContext, Strategy, Target, TargetHealth,
    estimate_prompt_tokens,
};

/// The name routers report in attempts and logs.
pub const ROUTER_NAME: &str = "router";

/// Total time one routed call may take when none is configured, including waits for
/// cooldowns to end.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(120);

/// Longest silence between two stream events when none is configured.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Which failures move a request on to the next target.
///
/// By default: rate limits, timeouts, connection and server errors, undecodable answers,
/// interrupted streams (before any content was delivered), insufficient credits, content
/// policy refusals, unknown models and context-length errors (another model may be larger).
/// Never a bad request (every target would refuse it) and never a configuration error. An
/// authentication error skips the other targets of the *same provider* only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverPolicy {
    kinds: HashSet<ErrorKind>,
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        Self::on([
            ErrorKind::RateLimited,
            ErrorKind::Timeout,
            ErrorKind::Connection,
            ErrorKind::Server,
            ErrorKind::Decode,
            ErrorKind::StreamInterrupted,
            ErrorKind::InsufficientCredits,
            ErrorKind::ContentPolicy,
            ErrorKind::ModelNotFound,
            ErrorKind::ContextLength,
            ErrorKind::Auth,
        ])
    }
}

impl FailoverPolicy {
    /// Fail over on exactly these kinds.
    pub fn on(kinds: impl IntoIterator<Item = ErrorKind>) -> Self {
        Self {
            kinds: kinds.into_iter().collect(),
        }
    }

    /// Whether an error of `kind` moves on to the next target.
    pub fn fails_over(&self, kind: ErrorKind) -> bool {
        self.kinds.contains(&kind)
    }
}

/// A [`Provider`] that sends each request to one of several [`Target`]s, in the order a
/// [`Strategy`] chooses, moving on when a target fails in a way the [`FailoverPolicy`] names.
///
/// - **Agent routing**: a request whose `agent_type` is in the agent map (or that names a
///   model) goes to that model first, then through the strategy's order.
/// - **Cooldowns**: a target that answered with a retry-after (rate limit, credits, an
///   overloaded server) is skipped until it may succeed again; an external
///   [`TargetHealth`] (a cooldown table, quotas) is consulted too. When every target is
///   cooling down, the router waits for the earliest recovery if it fits in the deadline,
///   otherwise fails at once. It waits only for targets that were rate limited or skipped:
///   one that failed otherwise in this call (server errors, a refused connection) already
///   had its retries in the layers below and is not sent to again in this call.
/// - **Streams** fail over invisibly until the first content arrives; after that a failure
///   ends the stream with [`StreamInterrupted`](ErrorKind::StreamInterrupted) carrying the
///   partial text. A silence longer than the idle timeout counts as a failure.
/// - The error after every target failed is
///   [`AllTargetsFailed`](ErrorKind::AllTargetsFailed), listing each attempt and the
///   cooldowns.
///
/// ```no_run
/// use std::sync::Arc;
/// use orchestra_core::{ChatRequest, Message, Provider, Secret};
/// use orchestra_provider_openrouter::OpenRouter;
/// use orchestra_routing::{Loadbalance, Router, Target};
///
/// # async fn demo() -> Result<(), orchestra_core::Error> {
/// let openrouter: Arc<dyn Provider> =
///     Arc::new(OpenRouter::builder().api_key(Secret::new("sk-or-v1-...")).build()?);
/// let router = Router::builder()
///     .target(Target::new(openrouter.clone(), "openai/gpt-4o-mini").weight(70.0))
///     .target(Target::new(openrouter.clone(), "google/gemini-2.5-flash:free").weight(30.0))
///     .strategy(Loadbalance::new())
///     .agent_model("researcher", "anthropic/claude-3-opus")
///     .build()?;
/// let request = ChatRequest::new(vec![Message::user("hi")]).agent_type("researcher");
/// let response = router.chat(&request).await?;
/// for attempt in &response.metadata.attempts {
///     println!("{} {} → {}", attempt.provider, attempt.model, attempt.outcome);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

struct Inner {
    targets: Vec<Target>,
    strategy: Arc<dyn Strategy>,
    agent_models: BTreeMap<String, String>,
    failover: FailoverPolicy,
    deadline: Duration,
    idle_timeout: Duration,
    health: Option<Arc<dyn TargetHealth>>,
    clock: Arc<dyn Clock>,
    /// By target id; looked up several times per call, so with a fast hasher.
    observed: Mutex<HashMap<String, Observed, foldhash::fast::RandomState>>,
    catalog: tokio::sync::Mutex<Option<Arc<Catalog>>>,
    spendable_usd: Mutex<Option<f64>>,
    unknown_agents_logged: Mutex<HashSet<String>>,
}

/// What the router saw of one target.
#[derive(Clone, Debug, Default)]
struct Observed {
    /// On the router's clock.
    cooldown_until: Option<Duration>,
    cooldown_reason: String,
    latency_ewma: Option<Duration>,
}

/// Prices and context lengths by model id.
type Catalog = HashMap<String, (Option<ModelPricing>, Option<u32>)>;

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("targets", &self.inner.targets)
            .field("strategy", &self.inner.strategy.name())
            .field("agent_models", &self.inner.agent_models)
            .field("deadline", &self.inner.deadline)
            .field("idle_timeout", &self.inner.idle_timeout)
            .finish_non_exhaustive()
    }
}

/// One cooling-down target, as [`Router::cooldowns`] reports it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Cooldown {
    /// `provider:model`.
    pub target: String,
    /// Time left.
    pub remaining: Duration,
    /// Why.
    pub reason: String,
}

/// Builds a [`Router`].
#[must_use]
#[derive(Default)]
pub struct RouterBuilder {
    targets: Vec<Target>,
    strategy: Option<Arc<dyn Strategy>>,
    agent_models: BTreeMap<String, String>,
    failover: FailoverPolicy,
    deadline: Option<Duration>,
    idle_timeout: Option<Duration>,
    health: Option<Arc<dyn TargetHealth>>,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for RouterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterBuilder")
            .field("targets", &self.targets)
            .field("agent_models", &self.agent_models)
            .finish_non_exhaustive()
    }
}

impl RouterBuilder {
    /// Adds a target (order matters for `fallback`).
    pub fn target(mut self, target: Target) -> Self {
        self.targets.push(target);
        self
    }

    /// Adds several targets in order.
    pub fn targets(mut self, targets: impl IntoIterator<Item = Target>) -> Self {
        self.targets.extend(targets);
        self
    }

    /// The strategy; default [`Fallback`].
    pub fn strategy(mut self, strategy: impl Strategy + 'static) -> Self {
        self.strategy = Some(Arc::new(strategy));
        self
    }

    /// The strategy, shared.
    pub fn shared_strategy(mut self, strategy: Arc<dyn Strategy>) -> Self {
        self.strategy = Some(strategy);
        self
    }

    /// Sends requests of `agent_type` to `model` first (`AGENT_MODEL_MAP`).
    pub fn agent_model(mut self, agent_type: impl Into<String>, model: impl Into<String>) -> Self {
        self.agent_models.insert(agent_type.into(), model.into());
        self
    }

    /// Replaces the agent map.
    pub fn agent_models(mut self, map: BTreeMap<String, String>) -> Self {
        self.agent_models = map;
        self
    }

    /// Which failures move on to the next target; default [`FailoverPolicy::default`].
    pub fn failover(mut self, policy: FailoverPolicy) -> Self {
        self.failover = policy;
        self
    }

    /// Total time for one call, waits included; default [`DEFAULT_DEADLINE`].
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Longest silence between stream events; default [`DEFAULT_IDLE_TIMEOUT`].
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// An outside view of target health (cooldown table, quotas).
    pub fn health(mut self, health: Arc<dyn TargetHealth>) -> Self {
        self.health = Some(health);
        self
    }

    /// The clock of deadlines, cooldowns and waits for recovery; share the resilience
    /// layers' clock (default: tokio's). Stream idle timeouts stay in real time: they
    /// measure the upstream, not the simulation.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Builds the router.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] without targets, with two targets of the same `provider:model`,
    /// or with a zero deadline or idle timeout.
    pub fn build(self) -> Result<Router, Error> {
        if self.targets.is_empty() {
            return Err(Error::config("a router needs at least one target"));
        }
        let mut seen = HashSet::new();
        for target in &self.targets {
            if !seen.insert(target.id()) {
                return Err(Error::config(format!(
                    "target `{}` is listed twice",
                    target.id()
                )));
            }
        }
        let deadline = self.deadline.unwrap_or(DEFAULT_DEADLINE);
        let idle_timeout = self.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT);
        if deadline.is_zero() || idle_timeout.is_zero() {
            return Err(Error::config(
                "the router's deadline and idle timeout must be greater than zero",
            ));
        }
        Ok(Router {
            inner: Arc::new(Inner {
                targets: self.targets,
                strategy: self.strategy.unwrap_or_else(|| Arc::new(Fallback)),
                agent_models: self.agent_models,
                failover: self.failover,
                deadline,
                idle_timeout,
                health: self.health,
                clock: self.clock.unwrap_or_else(|| Arc::new(TokioClock::new())),
                observed: Mutex::new(HashMap::default()),
                catalog: tokio::sync::Mutex::new(None),
                spendable_usd: Mutex::new(None),
                unknown_agents_logged: Mutex::new(HashSet::new()),
            }),
        })
    }
}

/// The targets planned for one call, in order: indices into the router's own targets (kept
/// small, since a plan lives as long as its call), then an agent's model that is not a
/// configured target.
pub(crate) struct Plan<'r> {
    configured: &'r [Target],
    extra: Option<Target>,
    order: Vec<usize>,
    /// On the router's clock.
    pub(crate) deadline: Duration,
}

impl Plan<'_> {
    /// The targets in the order to try them.
    pub(crate) fn targets(&self) -> impl Iterator<Item = &Target> {
        self.order
            .iter()
            .filter_map(|&index| self.configured.get(index).or(self.extra.as_ref()))
    }

    /// How many targets the plan holds.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }
}

impl Router {
    /// A builder.
    pub fn builder() -> RouterBuilder {
        RouterBuilder::default()
    }

    /// The configured targets.
    pub fn targets(&self) -> &[Target] {
        &self.inner.targets
    }

    /// The strategy's name.
    pub fn strategy_name(&self) -> &str {
        self.inner.strategy.name()
    }

    /// Tells cost-aware routing what the account can still spend (e.g. from
    /// `OpenRouter::monitor_credits().spendable()`); `None` when unknown.
    pub fn set_spendable_usd(&self, spendable: Option<f64>) {
        *lock(&self.inner.spendable_usd) = spendable;
    }

    /// Targets the router is keeping away from, with time left and reason.
    pub fn cooldowns(&self) -> Vec<Cooldown> {
        let now = self.now();
        let observed = lock(&self.inner.observed);
        let mut cooldowns: Vec<Cooldown> = observed
            .iter()
            .filter_map(|(target, seen)| {
                let until = seen.cooldown_until?;
                (until > now).then(|| Cooldown {
                    target: target.clone(),
                    remaining: until - now,
                    reason: seen.cooldown_reason.clone(),
                })
            })
            .collect();
        cooldowns.sort_by(|a, b| a.target.cmp(&b.target));
        cooldowns
    }

    /// The model a request leads with: its own, else its agent type's.
    fn preferred_model(&self, request: &ChatRequest) -> Option<String> {
        if let Some(model) = &request.model {
            return Some(model.clone());
        }
        let agent = request.agent_type.as_deref()?;
        match self.inner.agent_models.get(agent) {
            Some(model) => Some(model.clone()),
            None => {
                if lock(&self.inner.unknown_agents_logged).insert(agent.to_owned()) {
                    tracing::info!(
                        agent_type = agent,
                        "agent type not in AGENT_MODEL_MAP; using the default route"
                    );
                }
                None
            }
        }
    }

    /// Each provider behind the targets once, in target order (by name: targets usually
    /// share one provider stack).
    fn providers(&self) -> Vec<&Arc<dyn Provider>> {
        let mut seen = HashSet::new();
        self.inner
            .targets
            .iter()
            .map(Target::provider)
            .filter(|provider| seen.insert(provider.name().to_owned()))
            .collect()
    }

    /// Loads prices and context lengths from the providers' model lists, once.
    async fn catalog(&self) -> Option<Arc<Catalog>> {
        if !self.inner.strategy.needs_catalog() {
            return None;
        }
        let mut slot = self.inner.catalog.lock().await;
        if let Some(catalog) = slot.as_ref() {
            return Some(Arc::clone(catalog));
        }
        let mut catalog = Catalog::new();
        let mut complete = true;
        for provider in self.providers() {
            match provider.models().await {
                Ok(models) => catalog.extend(models.into_iter().map(|model: ModelInfo| {
                    (model.id.clone(), (model.pricing, model.context_length))
                })),
                Err(error) if error.kind() == ErrorKind::Unsupported => {}
                Err(error) => {
                    complete = false;
                    tracing::warn!(provider = provider.name(), %error,
                        "could not load model prices; routing with configured prices only");
                }
            }
        }
        let catalog = Arc::new(catalog);
        // A failed load is tried again on the next call rather than remembered.
        if complete {
            *slot = Some(Arc::clone(&catalog));
        }
        Some(catalog)
    }

    /// Health of a target: the later of the router's own observation and the outside view.
    pub(crate) fn health(&self, target: &Target, now: Duration) -> Health {
        self.health_seen(target, lock(&self.inner.observed).get(target.id()), now)
    }

    /// [`health`](Self::health) with the router's observation of `target` already looked up.
    fn health_seen(&self, target: &Target, seen: Option<&Observed>, now: Duration) -> Health {
        let observed = seen.and_then(|seen| {
            let until = seen.cooldown_until?;
            (until > now).then(|| (until - now, seen.cooldown_reason.clone()))
        });
        let outside = match self
            .inner
            .health
            .as_ref()
            .map(|health| health.health(target.provider().name(), target.model()))
        {
            Some(Health::Unavailable { retry_in, reason }) => Some((retry_in, reason)),
            _ => None,
        };
        match (observed, outside) {
            (None, None) => Health::Ready,
            (Some((retry_in, reason)), None) | (None, Some((retry_in, reason))) => {
                Health::Unavailable { retry_in, reason }
            }
            (Some(ours), Some(theirs)) => {
                let (retry_in, reason) = if ours.0 >= theirs.0 { ours } else { theirs };
                Health::Unavailable { retry_in, reason }
            }
        }
    }

    /// The targets for `request`, in the order to try them.
    pub(crate) async fn plan(&self, request: &ChatRequest) -> Plan<'_> {
        let started = self.now();
        let catalog = self.catalog().await;
        // Loading the catalog may have taken a while; otherwise the clock is read once.
        let now = if catalog.is_some() {
            self.now()
        } else {
            started
        };
        let preferred = self.preferred_model(request);
        let configured = &self.inner.targets;
        let mut extra = None;
        if let Some(model) = &preferred
            && !configured.iter().any(|target| target.model() == model)
        {
            // The agent's model is not a configured target: ask the first target's
            // provider for it.
            let provider = Arc::clone(configured[0].provider());
            extra = Some(Target::new(provider, model.clone()));
        }
        let candidates: Vec<Candidate<'_>> = {
            // One lock and one lookup per target for its cooldown and its latency.
            let observed = lock(&self.inner.observed);
            configured
                .iter()
                .chain(extra.as_ref())
                .map(|target| {
                    let listed = catalog
                        .as_ref()
                        .and_then(|catalog| catalog.get(target.model()));
                    let seen = observed.get(target.id());
                    Candidate {
                        target,
                        health: self.health_seen(target, seen, now),
                        pricing: target
                            .configured_pricing()
                            .or_else(|| listed.and_then(|listed| listed.0)),
                        context_length: target
                            .configured_context_length()
                            .or_else(|| listed.and_then(|listed| listed.1)),
                        latency: seen.and_then(|seen| seen.latency_ewma),
                        preferred: preferred.as_deref() == Some(target.model()),
                    }
                })
                .collect()
        };
        let context = RoutingContext {
            request,
            estimated_prompt_tokens: if self.inner.strategy.reads_prompt_estimate() {
                estimate_prompt_tokens(request)
            } else {
                0
            },
            spendable_usd: *lock(&self.inner.spendable_usd),
        };
        let mut order = self.inner.strategy.plan(&context, &candidates);
        // Drop out-of-range and repeated indices; a bitmask, not a vector, for the plans
        // of up to 128 targets that every call builds.
        let mut seen = 0u128;
        let mut seen_more = vec![false; candidates.len().saturating_sub(128)];
        order.retain(|&index| {
            if index >= candidates.len() {
                false
            } else if index < 128 {
                let bit = 1u128 << index;
                let first = seen & bit == 0;
                seen |= bit;
                first
            } else {
                !std::mem::replace(&mut seen_more[index - 128], true)
            }
        });
        if let Some(lead) = candidates.iter().position(|candidate| candidate.preferred) {
            order.retain(|&index| index != lead);
            order.insert(0, lead);
        }
        drop(candidates);
        Plan {
            configured,
            extra,
            order,
            deadline: started.saturating_add(self.inner.deadline),
        }
    }

    /// Remembers a success (latency) or a failure (cooldown when it says how long).
    pub(crate) fn observe(&self, target: &Target, outcome: Result<Duration, &Error>) {
        let mut observed = lock(&self.inner.observed);
        // Look up before inserting: the id is copied once per target, not once per call.
        if !observed.contains_key(target.id()) {
            observed.insert(target.id().to_owned(), Observed::default());
        }
        let Some(seen) = observed.get_mut(target.id()) else {
            return;
        };
        match outcome {
            Ok(latency) => {
                seen.cooldown_until = None;
                seen.latency_ewma = Some(match seen.latency_ewma {
                    // A short memory: a target that recovers is trusted again quickly.
                    Some(average) => average.mul_f64(0.8) + latency.mul_f64(0.2),
                    None => latency,
                });
            }
            Err(error) => {
                if let Some(retry_after) = error.retry_after() {
                    seen.cooldown_until = Some(self.now().saturating_add(retry_after));
                    seen.cooldown_reason = error.kind().as_str().to_owned();
                }
            }
        }
    }

    pub(crate) fn failover(&self) -> &FailoverPolicy {
        &self.inner.failover
    }

    pub(crate) fn idle_timeout(&self) -> Duration {
        self.inner.idle_timeout
    }

    /// Now, on the router's clock.
    pub(crate) fn now(&self) -> Duration {
        self.inner.clock.now()
    }

    /// The router's clock (deadlines, cooldowns, waits for recovery).
    pub(crate) fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }
}

/// One attempt line for a failed call on `target`; the error's own attempts (from a retry
/// layer below) when it has them.
pub(crate) fn failed_attempts(target: &Target, error: &Error, latency: Duration) -> Vec<Attempt> {
    if !error.attempts().is_empty() {
        return error.attempts().to_vec();
    }
    let mut attempt = Attempt::new(
        target.provider().name(),
        target.model(),
        AttemptOutcome::Failed(error.kind()),
        latency,
    )
    .with_status(error.status());
    if let Some(retry_after) = error.retry_after() {
        attempt = attempt.with_detail(format!("retry after {}s", retry_after.as_secs_f64()));
    }
    vec![attempt]
}

/// The attempts of a served call: the router's own (failovers, skips), then those the
/// layers below recorded (retries), ending with the success — which those layers record
/// only sometimes, so it is added when missing.
pub(crate) fn merge_attempts(
    mut routed: Vec<Attempt>,
    below: Vec<Attempt>,
    success: impl FnOnce() -> Attempt,
) -> Vec<Attempt> {
    // The usual case, nothing skipped or failed first: the list from below as it is.
    if routed.is_empty() {
        routed = below;
    } else {
        routed.extend(below);
    }
    if routed
        .last()
        .is_none_or(|attempt| attempt.outcome != AttemptOutcome::Success)
    {
        routed.push(success());
    }
    routed
}

/// The attempt line of a target skipped because it is cooling down.
pub(crate) fn skipped_attempt(target: &Target, retry_in: Duration, reason: &str) -> Attempt {
    Attempt::new(
        target.provider().name(),
        target.model(),
        AttemptOutcome::Skipped(ErrorKind::RateLimited),
        Duration::ZERO,
    )
    .with_detail(format!(
        "cooling down ({reason}) for {:.1}s more",
        retry_in.as_secs_f64()
    ))
}

/// Where a walk over the plan stands.
pub(crate) struct Walk {
    pub(crate) attempts: Vec<Attempt>,
    /// Providers that refused our credentials: their other targets are skipped.
    pub(crate) refused_providers: HashSet<String>,
    /// The earliest recovery among skipped targets.
    pub(crate) earliest_recovery: Option<Duration>,
    pub(crate) last_error: Option<Error>,
    /// Targets that failed in this call for a reason other than a rate limit: the layers
    /// below already spent the retry budget (`LLM_MAX_RETRIES`) on them, so this call
    /// neither waits for them to recover nor sends to them again.
    spent: HashSet<String>,
    /// The id of the target that failed last, for the fallback event.
    last_failed: Option<String>,
}

impl Walk {
    pub(crate) fn new() -> Self {
        Self {
            attempts: Vec::new(),
            refused_providers: HashSet::new(),
            earliest_recovery: None,
            last_error: None,
            spent: HashSet::new(),
            last_failed: None,
        }
    }

    /// Whether `target` is sent to now; records the skip when not.
    pub(crate) fn admit(&mut self, router: &Router, target: &Target) -> bool {
        if self.spent.contains(target.id()) {
            // Failed in an earlier round of this call, retries included: its attempts
            // are already listed.
            return false;
        }
        if self.refused_providers.contains(target.provider().name()) {
            self.attempts.push(
                Attempt::new(
                    target.provider().name(),
                    target.model(),
                    AttemptOutcome::Skipped(ErrorKind::Auth),
                    Duration::ZERO,
                )
                .with_detail("the provider refused our credentials"),
            );
            return false;
        }
        match router.health(target, router.now()) {
            Health::Ready => {
                if let (Some(last), Some(from)) = (&self.last_error, &self.last_failed)
                    && from != target.id()
                {
                    tracing::info!(
                        from = from.as_str(),
                        to = target.id(),
                        error_kind = last.kind().as_str(),
                        "falling back to the next target"
                    );
                }
                true
            }
            Health::Unavailable { retry_in, reason } => {
                self.attempts
                    .push(skipped_attempt(target, retry_in, &reason));
                self.earliest_recovery = Some(
                    self.earliest_recovery
                        .map_or(retry_in, |earliest| earliest.min(retry_in)),
                );
                false
            }
        }
    }

    /// Records a failure; `true` when the walk goes on to the next target.
    pub(crate) fn failed(
        &mut self,
        router: &Router,
        target: &Target,
        error: Error,
        latency: Duration,
    ) -> bool {
        router.observe(target, Err(&error));
        self.attempts
            .extend(failed_attempts(target, &error, latency));
        if error.kind() == ErrorKind::Auth {
            self.refused_providers
                .insert(target.provider().name().to_owned());
        }
        if error.was_sent() && error.kind() != ErrorKind::RateLimited {
            self.spent.insert(target.id().to_owned());
        }
        self.last_failed = Some(target.id().to_owned());
        let goes_on = router.failover().fails_over(error.kind());
        self.last_error = Some(error);
        goes_on
    }

    /// How long to wait before another round over `plan`: when every target still worth
    /// waiting for is cooling down and the earliest recovery fits before the deadline.
    ///
    /// Worth waiting for: a target that was rate limited or skipped while cooling down.
    /// One that failed otherwise in this call (server errors, refused connections) already
    /// had its retries below; waiting for its cooldown would multiply `LLM_MAX_RETRIES`
    /// and turn a refused connection into a two-minute timeout.
    pub(crate) fn wait_for_recovery(
        &mut self,
        router: &Router,
        plan: &Plan<'_>,
    ) -> Option<Duration> {
        let now = router.now();
        let mut earliest: Option<Duration> = None;
        for target in plan.targets() {
            if self.refused_providers.contains(target.provider().name())
                || self.spent.contains(target.id())
            {
                continue;
            }
            match router.health(target, now) {
                Health::Ready => return None,
                Health::Unavailable { retry_in, .. } => {
                    earliest = Some(earliest.map_or(retry_in, |known| known.min(retry_in)));
                }
            }
        }
        let wait = earliest?;
        self.earliest_recovery = Some(wait);
        (now.saturating_add(wait) <= plan.deadline).then_some(wait)
    }

    /// The final error: the only failure as it was when a single target was tried,
    /// otherwise every attempt.
    pub(crate) fn into_error(mut self, router: &Router) -> Error {
        // One target really failed, for a reason time will not fix, and the others were
        // never sent (the provider refused our key, say): its own error says best what is
        // wrong — `auth`, `insufficient_credits` — with every attempt attached. Transient
        // failures keep the summary below, with the cooldowns and when to come back.
        let permanent = self
            .last_error
            .as_ref()
            .is_some_and(|last| !last.kind().is_transient());
        let mut failed = self
            .attempts
            .iter()
            .filter(|attempt| matches!(attempt.outcome, AttemptOutcome::Failed(_)))
            .map(|attempt| (attempt.provider.as_str(), attempt.model.as_str()));
        if permanent
            && let Some(first) = failed.next()
            && failed.all(|other| other == first)
            && let Some(last) = self.last_error.take()
        {
            return last.with_attempts(self.attempts);
        }
        let cooldowns = router.cooldowns();
        let mut message = format!("{} attempt(s), none succeeded", self.attempts.len());
        if let Some(last) = &self.last_error {
            // The headline only: the attempts it carries are listed once, below this message.
            message.push_str(&format!("; last error: {}", last.headline()));
        }
        if !cooldowns.is_empty() {
            let list: Vec<String> = cooldowns
                .iter()
                .map(|cooldown| {
                    format!(
                        "{} for {:.1}s ({})",
                        cooldown.target,
                        cooldown.remaining.as_secs_f64(),
                        cooldown.reason
                    )
                })
                .collect();
            message.push_str(&format!("; cooling down: {}", list.join(", ")));
        }
        let retry_after = cooldowns.iter().map(|cooldown| cooldown.remaining).min();
        let mut error = Error::new(ErrorKind::AllTargetsFailed, message)
            .with_provider(ROUTER_NAME)
            .with_attempts(self.attempts);
        if let Some(retry_after) = retry_after.or(self.earliest_recovery) {
            error = error.with_retry_after(retry_after);
        }
        if let Some(last) = self.last_error {
            error = error.with_source(last);
        }
        error
    }
}

/// The request as the router hands it to each target, with that target's model.
pub(crate) enum Routed<'r> {
    /// The caller's request: passed on as it is to a target of the model it names, copied
    /// (once per call) for the others.
    Borrowed {
        request: &'r ChatRequest,
        copy: Option<ChatRequest>,
    },
    /// A request the caller is done with ([`Provider::chat_owned`]): its model is set in
    /// place.
    Owned(ChatRequest),
}

impl<'r> Routed<'r> {
    pub(crate) fn borrowed(request: &'r ChatRequest) -> Self {
        Routed::Borrowed {
            request,
            copy: None,
        }
    }

    /// The request as the caller sent it, for planning (before any target changed it).
    fn original(&self) -> &ChatRequest {
        match self {
            Routed::Borrowed { request, .. } => request,
            Routed::Owned(request) => request,
        }
    }

    pub(crate) fn for_target(&mut self, target: &Target) -> &ChatRequest {
        let model = target.model();
        match self {
            Routed::Borrowed { request, .. } if request.model.as_deref() == Some(model) => request,
            Routed::Borrowed { request, copy } => {
                let copy = copy.get_or_insert_with(|| (*request).clone());
                set_model(copy, model);
                copy
            }
            Routed::Owned(request) => {
                set_model(request, model);
                request
            }
        }
    }
}

fn set_model(request: &mut ChatRequest, model: &str) {
    if request.model.as_deref() != Some(model) {
        request.model = Some(model.to_owned());
    }
}

impl Router {
    /// Sends the request to the plan's targets in turn until one answers.
    async fn route(&self, mut request: Routed<'_>) -> Result<ChatResponse, Error> {
        let plan = self.plan(request.original()).await;
        let mut walk = Walk::new();
        loop {
            for (index, target) in plan.targets().enumerate() {
                if !walk.admit(self, target) {
                    continue;
                }
                let routed = request.for_target(target);
                let started = tokio::time::Instant::now();
                let has_fallback = index + 1 < plan.len();
                // The timer below ends the call at the plan's deadline: layers below need not
                // arm their own for the same instant.
                let call = with_enforced_deadline(
                    plan.deadline,
                    has_fallback,
                    target.provider().chat(routed),
                );
                let timer = timer_at(self.clock(), plan.deadline);
                let result = tokio::select! {
                    // An answer that is ready wins over a deadline that passed meanwhile.
                    biased;
                    result = call => Ok(result),
                    () = timer => Err(()),
                };
                let latency = started.elapsed();
                match result {
                    Ok(Ok(mut response)) => {
                        self.observe(target, Ok(latency));
                        response.metadata.attempts = merge_attempts(
                            walk.attempts,
                            std::mem::take(&mut response.metadata.attempts),
                            || {
                                Attempt::new(
                                    target.provider().name(),
                                    target.model(),
                                    AttemptOutcome::Success,
                                    latency,
                                )
                            },
                        );
                        return Ok(response);
                    }
                    Ok(Err(error)) => {
                        if !walk.failed(self, target, error, latency) {
                            let error = walk.last_error.take().unwrap_or_else(|| {
                                Error::new(ErrorKind::Server, "routing lost its error")
                            });
                            return Err(error.with_attempts(walk.attempts));
                        }
                    }
                    Err(_) => {
                        let timeout = Error::new(
                            ErrorKind::Timeout,
                            format!(
                                "the routed call's deadline ({:.1}s) passed",
                                self.inner.deadline.as_secs_f64()
                            ),
                        )
                        .with_provider(ROUTER_NAME)
                        .with_model(target.model());
                        walk.failed(self, target, timeout, latency);
                        return Err(walk.into_error(self));
                    }
                }
            }
            match walk.wait_for_recovery(self, &plan) {
                Some(wait) => {
                    tracing::info!(
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "every target is cooling down; waiting for the earliest recovery"
                    );
                    self.clock().wait(wait).await;
                }
                None => return Err(walk.into_error(self)),
            }
        }
    }
}

#[async_trait]
impl Provider for Router {
    fn name(&self) -> &str {
        ROUTER_NAME
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
        self.route(Routed::borrowed(request)).await
    }

    async fn chat_owned(&self, request: ChatRequest) -> Result<ChatResponse, Error> {
        self.route(Routed::Owned(request)).await
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
        crate::stream::chat_stream(self, request).await
    }

    async fn models(&self) -> Result<Vec<ModelInfo>, Error> {
        let mut models: Vec<ModelInfo> = Vec::new();
        let mut last_error = None;
        for provider in self.providers() {
            match provider.models().await {
                Ok(listed) => {
                    for model in listed {
                        if !models.iter().any(|known| known.id == model.id) {
                            models.push(model);
                        }
                    }
                }
                Err(error) => last_error = Some(error),
            }
        }
        match (models.is_empty(), last_error) {
            (true, Some(error)) => Err(error),
            _ => Ok(models),
        }
    }

    async fn credits(&self) -> Result<Credits, Error> {
        // The first provider that can report; routers usually front one account.
        let mut last_error = Error::unsupported("credits");
        for provider in self.providers() {
            match provider.credits().await {
                Ok(credits) => return Ok(credits),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
