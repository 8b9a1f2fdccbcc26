//! The usual stack, built from the settings: retry → cooldown → quota → provider.

use std::{fmt, sync::Arc};

use orchestra_config::Settings;
use orchestra_core::{Error, Layer, Provider};

use crate::{
    clock::{Clock, TokioClock},
    cooldown::{Cooldown, CooldownLayer, CooldownPolicy, Cooldowns},
    quota::{Quota, QuotaLayer, Quotas},
    retry::{RandomSource, Retry, RetryLayer, RetryPolicy, ThreadRandom},
};

/// A provider wrapped by [`ResilienceStack`].
pub type Resilient<P> = Retry<Cooldown<Quota<P>>>;

/// Retry, cooldown and quota layers sharing one clock, one [`Quotas`] table and one
/// [`Cooldowns`] table, in the order that makes each one's job simple:
///
/// 1. [`Retry`] (outermost) sets the call's deadline and retries what fails below;
/// 2. [`Cooldown`] refuses, without sending, models that are resting, and rests those
///    that fail;
/// 3. [`Quota`] waits for (or refuses) client-side quota, so every request that reaches the
///    provider, retries included, is counted.
///
/// The layers are also usable one by one, in any order ([`RetryLayer`], [`CooldownLayer`],
/// [`QuotaLayer`]).
///
/// ```
/// use orchestra_config::Settings;
/// use orchestra_resilience::ResilienceStack;
///
/// let stack = ResilienceStack::from_settings(&Settings::default()).unwrap();
/// assert_eq!(stack.quotas().rate_limits()["*:free"].rpm, Some(20));
/// assert!(stack.cooldowns().snapshot().is_empty());
/// // let provider = stack.wrap(OpenRouter::from_settings(&settings)?);
/// ```
#[derive(Clone)]
pub struct ResilienceStack {
    retry: RetryLayer,
    cooldown: CooldownLayer,
    quota: QuotaLayer,
    quotas: Arc<Quotas>,
    cooldowns: Arc<Cooldowns>,
}

impl fmt::Debug for ResilienceStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResilienceStack")
            .field("retry", &self.retry)
            .field("quotas", &self.quotas)
            .field("cooldowns", &self.cooldowns)
            .finish()
    }
}

impl ResilienceStack {
    /// The stack for `settings` (`LLM_*`), on tokio's clock.
    ///
    /// # Errors
    ///
    /// See [`Quotas::from_settings`].
    pub fn from_settings(settings: &Settings) -> Result<Self, Error> {
        Self::builder(settings).build()
    }

    /// A builder starting from `settings`, to change the clock, randomness or policies.
    pub fn builder(settings: &Settings) -> ResilienceStackBuilder {
        ResilienceStackBuilder {
            settings: settings.clone(),
            clock: Arc::new(TokioClock::new()),
            random: Arc::new(ThreadRandom),
            cooldown_policy: CooldownPolicy::default(),
            retry_policy: None,
            quotas: None,
            cooldowns: None,
        }
    }

    /// The quota table (for [`Quotas::apply_credits`], or to share it).
    pub fn quotas(&self) -> &Arc<Quotas> {
        &self.quotas
    }

    /// The cooldown table (for a router, logs, or `orchestra` output).
    pub fn cooldowns(&self) -> &Arc<Cooldowns> {
        &self.cooldowns
    }

    /// Wraps `provider`.
    pub fn wrap<P: Provider>(&self, provider: P) -> Resilient<P> {
        self.retry
            .layer(self.cooldown.layer(self.quota.layer(provider)))
    }
}

impl<P: Provider> Layer<P> for ResilienceStack {
    type Provider = Resilient<P>;

    fn layer(&self, inner: P) -> Resilient<P> {
        self.wrap(inner)
    }
}

/// Builds a [`ResilienceStack`].
#[must_use]
pub struct ResilienceStackBuilder {
    settings: Settings,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    cooldown_policy: CooldownPolicy,
    retry_policy: Option<RetryPolicy>,
    quotas: Option<Arc<Quotas>>,
    cooldowns: Option<Arc<Cooldowns>>,
}

impl fmt::Debug for ResilienceStackBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResilienceStackBuilder")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl ResilienceStackBuilder {
    /// Runs every layer on `clock` (a [`ManualClock`](crate::ManualClock) in tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Draws backoff jitter from `random`.
    pub fn random(mut self, random: impl RandomSource + 'static) -> Self {
        self.random = Arc::new(random);
        self
    }

    /// Replaces the retry policy taken from the settings.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = Some(policy);
        self
    }

    /// Sets the cooldown durations.
    pub fn cooldown_policy(mut self, policy: CooldownPolicy) -> Self {
        self.cooldown_policy = policy;
        self
    }

    /// Shares an existing quota table instead of building one from the settings.
    pub fn quotas(mut self, quotas: Arc<Quotas>) -> Self {
        self.quotas = Some(quotas);
        self
    }

    /// Shares an existing cooldown table.
    pub fn cooldowns(mut self, cooldowns: Arc<Cooldowns>) -> Self {
        self.cooldowns = Some(cooldowns);
        self
    }

    /// Builds the stack.
    ///
    /// # Errors
    ///
    /// See [`Quotas::from_settings`].
    pub fn build(self) -> Result<ResilienceStack, Error> {
        let resilience = &self.settings.resilience;
        let quotas = match self.quotas {
            Some(quotas) => quotas,
            None => Arc::new(Quotas::from_settings(resilience, Arc::clone(&self.clock))?),
        };
        let cooldowns = self.cooldowns.unwrap_or_else(|| {
            Arc::new(Cooldowns::with_clock(
                self.cooldown_policy,
                Arc::clone(&self.clock),
            ))
        });
        let default_model = self.settings.openrouter.default_model.clone();
        let mut retry = RetryLayer::new(
            self.retry_policy
                .unwrap_or_else(|| RetryPolicy::from_settings(resilience)),
        )
        .clock(Arc::clone(&self.clock));
        retry = retry.random_arc(self.random);
        Ok(ResilienceStack {
            retry,
            cooldown: CooldownLayer::new(Arc::clone(&cooldowns))
                .default_model(default_model.clone()),
            quota: QuotaLayer::new(Arc::clone(&quotas)).default_model(default_model),
            quotas,
            cooldowns,
        })
    }
}
