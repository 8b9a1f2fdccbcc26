//! [`LlmClient`]: the layers composed from the settings, as the origin documents describe.
//!
//! This module only wires crates together; every behaviour lives in the crate it names.

use std::{
    collections::BTreeMap,
    fmt,
    future::{Future, IntoFuture},
    pin::Pin,
    sync::Arc,
};

use async_trait::async_trait;
use orchestra_config::{Environment, ProviderKind, Settings};
use orchestra_core::{
    ChatRequest, ChatResponse, ChatStream, Credits, Error, Layer, Message, ModelInfo, Provider,
    usage::{UsageLedger, UsageSnapshot},
};

#[cfg(feature = "cache")]
use orchestra_cache::{CacheMode, CacheStats, ResponseCache};
#[cfg(feature = "openrouter")]
use orchestra_provider_openrouter::{CreditReport, OpenRouter};
#[cfg(feature = "portkey")]
use orchestra_provider_portkey::{Mode, Portkey, PortkeyCreditReport};
#[cfg(feature = "resilience")]
use orchestra_resilience::{Clock, Cooldowns, Quotas, ResilienceStack, RetryPolicy, TokioClock};
#[cfg(feature = "routing")]
use orchestra_routing::{Router, RouterBuilder, Strategy, Target};

/// The client an application keeps: the preferred provider (`PREFERRED_LLM_PROVIDER`)
/// wrapped, from the inside out, in retries, cooldowns and client-side quotas
/// (`resilience`), a router over the fallback targets and agent models (`routing`), the
/// response cache (`cache`) and a usage ledger. Each layer comes from the same variables the
/// origin documents name; a layer whose cargo feature is off is left out.
///
/// It is itself a [`Provider`], so it composes further.
///
/// ```no_run
/// use orchestra_llm::{LlmClient, Message};
///
/// # async fn run() -> Result<(), orchestra_llm::Error> {
/// let client = LlmClient::from_env()?; // OPENROUTER_*, PORTKEY_*, AGENT_MODEL_MAP, LLM_*
/// let response = client
///     .generate_chat_completion([Message::user("Summarise the causes of the 2008 crisis.")])
///     .agent_type("researcher")
///     .await?;
/// println!("{} answered: {}", response.model, response.content().unwrap_or_default());
/// println!("{:#?}", client.usage().totals);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct LlmClient {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    stack: Arc<dyn Provider>,
    ledger: UsageLedger,
    providers: BTreeMap<String, Arc<dyn Provider>>,
    #[cfg(feature = "openrouter")]
    openrouter: Option<OpenRouter>,
    #[cfg(feature = "portkey")]
    portkey: Option<Portkey>,
    #[cfg(feature = "resilience")]
    resilience: Option<ResilienceStack>,
    #[cfg(feature = "routing")]
    router: Option<Router>,
    #[cfg(feature = "cache")]
    cache: Option<ResponseCache>,
}

impl fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmClient")
            .field(
                "preferred_provider",
                &self.inner.settings.preferred_provider,
            )
            .field(
                "providers",
                &self.inner.providers.keys().collect::<Vec<_>>(),
            )
            .field("stack", &self.inner.stack.name())
            .finish_non_exhaustive()
    }
}

impl LlmClient {
    /// A client from the environment and `./.env`. Configuration warnings (a misspelt
    /// variable, a paid model among the free fallbacks) are logged with `tracing`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](orchestra_core::ErrorKind::Config) naming every malformed
    /// variable (with line and column for JSON values), or a missing key for the preferred
    /// provider.
    pub fn from_env() -> Result<Self, Error> {
        let environment = Environment::with_default_dotenv()
            .map_err(|errors| Error::config(errors.to_string()))?;
        let loaded =
            Settings::load(&environment).map_err(|errors| Error::config(errors.to_string()))?;
        for warning in &loaded.warnings {
            tracing::warn!(target: "orchestra_llm", %warning, "configuration");
        }
        Self::from_settings(loaded.settings)
    }

    /// A client from already loaded settings.
    ///
    /// # Errors
    ///
    /// As [`LlmClientBuilder::build`].
    pub fn from_settings(settings: Settings) -> Result<Self, Error> {
        Self::builder(settings).build()
    }

    /// A builder, to add providers, swap the strategy, share a clock or a cache.
    pub fn builder(settings: Settings) -> LlmClientBuilder {
        LlmClientBuilder {
            settings,
            providers: BTreeMap::new(),
            ledger: None,
            #[cfg(feature = "routing")]
            strategy: None,
            #[cfg(feature = "resilience")]
            clock: None,
            #[cfg(feature = "resilience")]
            resilience: None,
            #[cfg(feature = "cache")]
            cache: None,
        }
    }

    /// Starts a chat completion of `messages`; set options on the returned call, then
    /// `.await` it (or call [`ChatCall::stream`]).
    pub fn generate_chat_completion(
        &self,
        messages: impl IntoIterator<Item = Message>,
    ) -> ChatCall<'_> {
        ChatCall {
            client: self,
            request: ChatRequest::new(messages.into_iter().collect()),
        }
    }

    /// The provider called `name` (`openrouter`, `portkey`), as configured, for its own
    /// account APIs.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](orchestra_core::ErrorKind::Config) when that provider is not
    /// configured (no key) or its feature is not compiled in.
    pub fn get_llm_provider(&self, name: &str) -> Result<LlmProvider, Error> {
        match name {
            #[cfg(feature = "openrouter")]
            "openrouter" => self
                .inner
                .openrouter
                .clone()
                .map(LlmProvider::OpenRouter)
                .ok_or_else(|| {
                    Error::config("openrouter is not configured: set OPENROUTER_API_KEY")
                }),
            #[cfg(feature = "portkey")]
            "portkey" => self
                .inner
                .portkey
                .clone()
                .map(LlmProvider::Portkey)
                .ok_or_else(|| {
                    Error::config(
                        "portkey is not configured: set PORTKEY_API_KEY or PORTKEY_BASE_URL",
                    )
                }),
            other => Err(Error::config(format!(
                "no provider `{other}` in this client (compiled in: {})",
                compiled_providers().join(", ")
            ))),
        }
    }

    /// The credit report of the preferred provider. An OpenRouter report also tunes the
    /// stack: the free-model daily quota follows the credits bought (50 or 1,000 a day) and
    /// cost-aware routing learns what the account can still spend.
    ///
    /// # Errors
    ///
    /// What the provider's account API returns.
    pub async fn monitor_credits(&self) -> Result<CreditStatus, Error> {
        let provider = self.inner.settings.preferred_provider.as_str();
        let status = self.get_llm_provider(provider)?.monitor_credits().await?;
        #[cfg(all(
            feature = "openrouter",
            any(feature = "resilience", feature = "routing")
        ))]
        #[allow(irrefutable_let_patterns)]
        if let CreditStatus::OpenRouter(report) = &status {
            #[cfg(feature = "resilience")]
            if let Some(resilience) = &self.inner.resilience {
                resilience.quotas().apply_credits(&report.to_credits());
            }
            #[cfg(feature = "routing")]
            if let Some(router) = &self.inner.router {
                router.set_spendable_usd(report.spendable());
            }
        }
        Ok(status)
    }

    /// Requests, tokens, cost, fallbacks, retries and cache savings per model since the
    /// client was built.
    pub fn usage(&self) -> UsageSnapshot {
        self.inner.ledger.snapshot()
    }

    /// The ledger behind [`usage`](Self::usage).
    pub fn ledger(&self) -> &UsageLedger {
        &self.inner.ledger
    }

    /// The settings the client was built from.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Every provider by name, each wrapped in its resilience layers.
    pub fn providers(&self) -> &BTreeMap<String, Arc<dyn Provider>> {
        &self.inner.providers
    }

    /// The response cache's counters, when a cache is on.
    #[cfg(feature = "cache")]
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.inner.cache.as_ref().map(ResponseCache::stats)
    }

    /// The client-side quota table.
    #[cfg(feature = "resilience")]
    pub fn quotas(&self) -> Option<&Arc<Quotas>> {
        self.inner.resilience.as_ref().map(ResilienceStack::quotas)
    }

    /// The cooldown table.
    #[cfg(feature = "resilience")]
    pub fn cooldowns(&self) -> Option<&Arc<Cooldowns>> {
        self.inner
            .resilience
            .as_ref()
            .map(ResilienceStack::cooldowns)
    }

    /// The router, when the client routes.
    #[cfg(feature = "routing")]
    pub fn router(&self) -> Option<&Router> {
        self.inner.router.as_ref()
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Provider for LlmClient {
    fn name(&self) -> &str {
        self.inner.stack.name()
    }

    // The stack's boxed future as it is, not boxed once more.
    fn chat<'life0, 'life1, 'async_trait>(
        &'life0 self,
        request: &'life1 ChatRequest,
    ) -> Pin<Box<dyn Future<Output = Result<ChatResponse, Error>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.stack.chat(request)
    }

    fn chat_owned<'life0, 'async_trait>(
        &'life0 self,
        request: ChatRequest,
    ) -> Pin<Box<dyn Future<Output = Result<ChatResponse, Error>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.stack.chat_owned(request)
    }

    fn chat_stream<'life0, 'life1, 'async_trait>(
        &'life0 self,
        request: &'life1 ChatRequest,
    ) -> Pin<Box<dyn Future<Output = Result<ChatStream, Error>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.stack.chat_stream(request)
    }

    async fn models(&self) -> Result<Vec<ModelInfo>, Error> {
        self.inner.stack.models().await
    }

    async fn credits(&self) -> Result<Credits, Error> {
        self.inner.stack.credits().await
    }
}

/// A chat completion being set up; `.await` sends it.
#[must_use = "a chat call does nothing until awaited"]
#[derive(Debug)]
pub struct ChatCall<'a> {
    client: &'a LlmClient,
    request: ChatRequest,
}

impl ChatCall<'_> {
    /// Routes by `AGENT_MODEL_MAP` (never sent upstream).
    pub fn agent_type(mut self, agent_type: impl Into<String>) -> Self {
        self.request = self.request.agent_type(agent_type);
        self
    }

    /// Asks for this model first.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.request = self.request.model(model);
        self
    }

    /// Caps the completion length.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.request = self.request.max_tokens(max_tokens);
        self
    }

    /// Sampling temperature.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.request = self.request.temperature(temperature);
        self
    }

    /// Changes anything else on the request.
    pub fn with(mut self, change: impl FnOnce(ChatRequest) -> ChatRequest) -> Self {
        self.request = change(self.request);
        self
    }

    /// The request as it stands.
    pub fn request(&self) -> &ChatRequest {
        &self.request
    }

    /// Sends the request and returns the answer as a stream of events.
    ///
    /// # Errors
    ///
    /// Any failure before the first event; later failures arrive in the stream.
    pub async fn stream(self) -> Result<ChatStream, Error> {
        self.client.chat_stream(&self.request).await
    }
}

impl<'a> IntoFuture for ChatCall<'a> {
    type Output = Result<ChatResponse, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        // The request is ours to give: the router sets each target's model in place
        // instead of copying the conversation.
        self.client.chat_owned(self.request)
    }
}

/// A provider as [`LlmClient::get_llm_provider`] returns it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum LlmProvider {
    /// OpenRouter.
    #[cfg(feature = "openrouter")]
    OpenRouter(OpenRouter),
    /// A Portkey gateway.
    #[cfg(feature = "portkey")]
    Portkey(Portkey),
}

impl LlmProvider {
    /// The provider's credit report.
    ///
    /// # Errors
    ///
    /// What OpenRouter's `/credits` and `/key` return; Portkey's report is built from its
    /// ledger and does not fail.
    pub async fn monitor_credits(&self) -> Result<CreditStatus, Error> {
        match self {
            #[cfg(feature = "openrouter")]
            LlmProvider::OpenRouter(client) => {
                client.monitor_credits().await.map(CreditStatus::OpenRouter)
            }
            #[cfg(feature = "portkey")]
            LlmProvider::Portkey(client) => {
                Ok(CreditStatus::Portkey(client.monitor_credits().await))
            }
        }
    }

    /// The provider as a [`Provider`] (without the client's layers).
    pub fn as_provider(&self) -> &dyn Provider {
        match self {
            #[cfg(feature = "openrouter")]
            LlmProvider::OpenRouter(client) => client,
            #[cfg(feature = "portkey")]
            LlmProvider::Portkey(client) => client,
        }
    }
}

/// A credit report, by provider.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum CreditStatus {
    /// OpenRouter's balance, key limits and free-model quotas.
    #[cfg(feature = "openrouter")]
    OpenRouter(CreditReport),
    /// The Portkey client's usage ledger, with the balance of OpenRouter targets.
    #[cfg(feature = "portkey")]
    Portkey(PortkeyCreditReport),
}

/// Builds an [`LlmClient`]; from [`LlmClient::builder`].
#[must_use]
pub struct LlmClientBuilder {
    settings: Settings,
    providers: BTreeMap<String, Arc<dyn Provider>>,
    ledger: Option<UsageLedger>,
    #[cfg(feature = "routing")]
    strategy: Option<Arc<dyn Strategy>>,
    #[cfg(feature = "resilience")]
    clock: Option<Arc<dyn Clock>>,
    #[cfg(feature = "resilience")]
    resilience: Option<ResilienceStack>,
    #[cfg(feature = "cache")]
    cache: Option<ResponseCache>,
}

impl fmt::Debug for LlmClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmClientBuilder")
            .field("preferred_provider", &self.settings.preferred_provider)
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl LlmClientBuilder {
    /// Adds (or replaces) a provider under `name`, for `LLM_ROUTING_TARGETS` entries such as
    /// `{"provider": "groq", "model": "…"}` (the variable accepts the provider slugs listed in
    /// docs/configuration.md). It gets the same resilience layers as the built-in providers.
    pub fn provider(mut self, name: impl Into<String>, provider: Arc<dyn Provider>) -> Self {
        self.providers.insert(name.into(), provider);
        self
    }

    /// Records into `ledger` (for instance one shared by several clients).
    pub fn ledger(mut self, ledger: UsageLedger) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Routes with `strategy` instead of `LLM_ROUTING_STRATEGY`'s.
    #[cfg(feature = "routing")]
    pub fn strategy(mut self, strategy: Arc<dyn Strategy>) -> Self {
        self.strategy = Some(strategy);
        self
    }

    /// Runs quotas, cooldowns, backoff and routing deadlines on `clock` (a
    /// [`ScaledClock`](orchestra_resilience::ScaledClock) against a time-scaled simulator).
    #[cfg(feature = "resilience")]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Uses this resilience stack (its quota and cooldown tables, clock and policies)
    /// instead of one built from the settings.
    #[cfg(feature = "resilience")]
    pub fn resilience(mut self, stack: ResilienceStack) -> Self {
        self.resilience = Some(stack);
        self
    }

    /// Uses this cache (for instance one shared by several clients) instead of one built
    /// from `LLM_CACHE*`.
    #[cfg(feature = "cache")]
    pub fn cache(mut self, cache: ResponseCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Builds the stack.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](orchestra_core::ErrorKind::Config) when the preferred provider
    /// is not configured or not compiled in, when a routing target names an unknown
    /// provider, or when a layer rejects its settings.
    pub fn build(self) -> Result<LlmClient, Error> {
        let settings = self.settings;
        let preferred = settings.preferred_provider.as_str();

        #[cfg(feature = "resilience")]
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(TokioClock::new()));
        #[cfg(feature = "resilience")]
        let resilience = match self.resilience {
            Some(stack) => stack,
            None => ResilienceStack::builder(&settings)
                .clock(Arc::clone(&clock))
                .build()?,
        };

        // Providers, each in its resilience layers.
        let mut providers: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
        #[cfg(feature = "openrouter")]
        let openrouter = openrouter_client(&settings, preferred)?;
        #[cfg(feature = "openrouter")]
        if let Some(client) = &openrouter {
            #[cfg(feature = "resilience")]
            providers.insert(
                "openrouter".into(),
                Arc::new(resilience.wrap(client.clone())),
            );
            #[cfg(not(feature = "resilience"))]
            providers.insert("openrouter".into(), Arc::new(client.clone()));
        }
        #[cfg(feature = "portkey")]
        let portkey = portkey_client(&settings, preferred, {
            #[cfg(feature = "openrouter")]
            let prices = openrouter
                .clone()
                .map(|client| Arc::new(client) as Arc<dyn Provider>);
            #[cfg(not(feature = "openrouter"))]
            let prices = None;
            prices
        })?;
        #[cfg(feature = "portkey")]
        if let Some(client) = &portkey {
            // The gateway retries (its config carries LLM_MAX_RETRIES): a second retry layer
            // here would multiply the attempts.
            #[cfg(feature = "resilience")]
            {
                let gateway_stack = ResilienceStack::builder(&settings)
                    .clock(Arc::clone(&clock))
                    .quotas(Arc::clone(resilience.quotas()))
                    .cooldowns(Arc::clone(resilience.cooldowns()))
                    .retry_policy(RetryPolicy::from_settings(&settings.resilience).max_retries(0))
                    .build()?;
                providers.insert(
                    "portkey".into(),
                    Arc::new(gateway_stack.wrap(client.clone())),
                );
            }
            #[cfg(not(feature = "resilience"))]
            providers.insert("portkey".into(), Arc::new(client.clone()));
        }
        for (name, provider) in self.providers {
            #[cfg(feature = "resilience")]
            providers.insert(name, Arc::new(resilience.wrap(provider)));
            #[cfg(not(feature = "resilience"))]
            providers.insert(name, provider);
        }
        let Some(direct) = providers.get(preferred).cloned() else {
            return Err(Error::config(format!(
                "PREFERRED_LLM_PROVIDER is {preferred}, which is not compiled in (features: {})",
                compiled_providers().join(", ")
            )));
        };

        // Routing over the targets, agent models and cooldowns.
        #[cfg(feature = "routing")]
        let router = {
            let builder = router_builder(&settings, &providers, &direct)?;
            builder
                .map(|mut builder| {
                    if let Some(strategy) = self.strategy {
                        builder = builder.shared_strategy(strategy);
                    }
                    #[cfg(feature = "resilience")]
                    {
                        builder = builder
                            .health(Arc::clone(resilience.cooldowns()) as _)
                            .clock(Arc::clone(&clock));
                    }
                    builder.build()
                })
                .transpose()?
        };
        #[cfg(feature = "routing")]
        let top: Arc<dyn Provider> = match &router {
            Some(router) => Arc::new(router.clone()),
            None => direct,
        };
        #[cfg(not(feature = "routing"))]
        let top = direct;

        // The cache answers before anything is routed.
        #[cfg(feature = "cache")]
        let cache = match self.cache {
            Some(cache) => Some(cache),
            None if settings.cache.mode == CacheMode::Off => None,
            None => Some(ResponseCache::from_settings(&settings.cache)?),
        };
        #[cfg(feature = "cache")]
        let top: Arc<dyn Provider> = match &cache {
            Some(cache) => Arc::new(cache.wrap(top)),
            None => top,
        };

        let ledger = self.ledger.unwrap_or_default();
        let stack: Arc<dyn Provider> = Arc::new(ledger.layer().layer(top));
        Ok(LlmClient {
            inner: Arc::new(Inner {
                settings,
                stack,
                ledger,
                providers,
                #[cfg(feature = "openrouter")]
                openrouter,
                #[cfg(feature = "portkey")]
                portkey,
                #[cfg(feature = "resilience")]
                resilience: Some(resilience),
                #[cfg(feature = "routing")]
                router,
                #[cfg(feature = "cache")]
                cache,
            }),
        })
    }
}

fn compiled_providers() -> Vec<&'static str> {
    [
        cfg!(feature = "openrouter").then_some("openrouter"),
        cfg!(feature = "portkey").then_some("portkey"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// OpenRouter when it has a key (required when preferred). With client-side routing the
/// router does the fallbacks, so none are sent in the request's `models` list too.
#[cfg(feature = "openrouter")]
fn openrouter_client(settings: &Settings, preferred: &str) -> Result<Option<OpenRouter>, Error> {
    if settings.openrouter.api_key.is_none() {
        return if preferred == "openrouter" {
            Err(Error::config(
                "OPENROUTER_API_KEY is not set (environment or .env); `orchestra demo` runs \
                 offline against the built-in simulator",
            ))
        } else {
            Ok(None)
        };
    }
    let mut builder = OpenRouter::builder_from_settings(settings);
    if cfg!(feature = "routing") {
        builder = builder.fallback_models(Vec::new());
    }
    builder.build().map(Some)
}

/// Portkey when preferred or given a key; `cost_aware` takes its prices from OpenRouter.
#[cfg(feature = "portkey")]
fn portkey_client(
    settings: &Settings,
    preferred: &str,
    prices: Option<Arc<dyn Provider>>,
) -> Result<Option<Portkey>, Error> {
    if preferred != "portkey" && settings.portkey.api_key.is_none() {
        return Ok(None);
    }
    let mut builder = Portkey::builder_from_settings(settings);
    if Mode::from_settings(settings.portkey.strategy) == Mode::CostAware
        && let Some(prices) = prices
    {
        builder = builder.price_source(prices);
    }
    match builder.build() {
        Ok(client) => Ok(Some(client)),
        Err(error) if preferred == "portkey" => Err(error),
        Err(error) => {
            tracing::warn!(target: "orchestra_llm", %error, "portkey left out");
            Ok(None)
        }
    }
}

/// The router for the settings: OpenRouter's fallback chain or `LLM_ROUTING_TARGETS`; with
/// Portkey (whose gateway does the fallbacks) a single target that still applies the agent
/// models. `None` when there is no model to route to.
#[cfg(feature = "routing")]
fn router_builder(
    settings: &Settings,
    providers: &BTreeMap<String, Arc<dyn Provider>>,
    direct: &Arc<dyn Provider>,
) -> Result<Option<RouterBuilder>, Error> {
    if !settings.routing.targets.is_empty() {
        return Router::builder_from_settings(settings, providers).map(Some);
    }
    // Without a model to route to, requests must name theirs: send them as they are.
    let Some(model) = settings.route(None).models.into_iter().next() else {
        return Ok(None);
    };
    if settings.preferred_provider != ProviderKind::Portkey {
        return Router::builder_from_settings(settings, providers).map(Some);
    }
    Ok(Some(
        Router::builder()
            .target(Target::new(Arc::clone(direct), model))
            .agent_models(settings.agent_model_map.clone())
            .deadline(settings.resilience.request_deadline)
            .idle_timeout(
                settings
                    .routing
                    .stream_idle_timeout
                    .unwrap_or(settings.resilience.request_timeout),
            ),
    ))
}
