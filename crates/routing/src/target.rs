//! Routing targets and what the router knows about their health.

use std::{fmt, sync::Arc, time::Duration};

use orchestra_core::{ModelPricing, Provider};

/// One place a request can go: a provider (usually behind its own resilience stack) and the
/// model to ask it for.
///
/// ```
/// use std::sync::Arc;
/// # use orchestra_core::{ChatRequest, ChatResponse, ChatStream, Error, Provider};
/// # struct Upstream;
/// # #[async_trait::async_trait]
/// # impl Provider for Upstream {
/// #     fn name(&self) -> &str { "upstream" }
/// #     async fn chat(&self, _: &ChatRequest) -> Result<ChatResponse, Error> { unimplemented!() }
/// #     async fn chat_stream(&self, _: &ChatRequest) -> Result<ChatStream, Error> { unimplemented!() }
/// # }
/// use orchestra_routing::Target;
///
/// let target = Target::new(Arc::new(Upstream), "openai/gpt-4o-mini").weight(70.0);
/// assert_eq!(target.id(), "upstream:openai/gpt-4o-mini");
/// ```
#[derive(Clone)]
pub struct Target {
    provider: Arc<dyn Provider>,
    model: String,
    id: String,
    weight: f64,
    pricing: Option<ModelPricing>,
    context_length: Option<u32>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("id", &self.id)
            .field("weight", &self.weight)
            .field("pricing", &self.pricing)
            .field("context_length", &self.context_length)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// `model` served by `provider`, weight 1.
    pub fn new(provider: Arc<dyn Provider>, model: impl Into<String>) -> Self {
        let model = model.into();
        let id = format!("{}:{model}", provider.name());
        Self {
            provider,
            model,
            id,
            weight: 1.0,
            pricing: None,
            context_length: None,
        }
    }

    /// The share of traffic under loadbalance (relative; 0 = never picked by weight, still
    /// a fallback). Negative or non-finite weights count as 0.
    #[must_use]
    pub fn weight(mut self, weight: f64) -> Self {
        self.weight = if weight.is_finite() && weight > 0.0 {
            weight
        } else {
            0.0
        };
        self
    }

    /// Known prices, for cost-aware routing (otherwise taken from the provider's model list).
    #[must_use]
    pub fn pricing(mut self, pricing: ModelPricing) -> Self {
        self.pricing = Some(pricing);
        self
    }

    /// Known context window in tokens (otherwise taken from the provider's model list).
    #[must_use]
    pub fn context_length(mut self, tokens: u32) -> Self {
        self.context_length = Some(tokens);
        self
    }

    /// `provider:model`, unique within a router.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The model requested from the provider.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The provider.
    pub fn provider(&self) -> &Arc<dyn Provider> {
        &self.provider
    }

    /// The configured weight.
    pub fn weight_value(&self) -> f64 {
        self.weight
    }

    /// Prices configured on the target.
    pub fn configured_pricing(&self) -> Option<ModelPricing> {
        self.pricing
    }

    /// Context length configured on the target.
    pub fn configured_context_length(&self) -> Option<u32> {
        self.context_length
    }
}

/// Whether a target can take a request now.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Health {
    /// Send.
    Ready,
    /// Do not send before `retry_in` has passed.
    Unavailable {
        /// How long until the target may succeed again.
        retry_in: Duration,
        /// Why, for people (`rate limited by upstream`, `local quota`, …).
        reason: String,
    },
}

impl Health {
    /// Whether the target can be sent to now.
    pub fn is_ready(&self) -> bool {
        matches!(self, Health::Ready)
    }
}

/// A view of target health from outside the router: a cooldown table, a quota, a circuit
/// breaker. The router combines it with what it observed itself (the later of the two
/// recoveries wins).
pub trait TargetHealth: Send + Sync + fmt::Debug {
    /// The health of `model` on the provider named `provider`.
    fn health(&self, provider: &str, model: &str) -> Health;
}

/// The resilience layer's shared cooldown table as the router's health view, so a router
/// skips what the per-target cooldown layers would refuse.
impl TargetHealth for orchestra_resilience::Cooldowns {
    fn health(&self, provider: &str, model: &str) -> Health {
        match self.remaining(provider, model) {
            None => Health::Ready,
            Some((retry_in, reason)) => Health::Unavailable {
                retry_in,
                reason: reason.to_string(),
            },
        }
    }
}
