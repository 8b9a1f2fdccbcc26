//! The typed settings: plain data that lower crates take instead of reading the environment.

use std::{collections::BTreeMap, fmt, path::PathBuf, time::Duration};

use orchestra_core::{ErrorClass, Secret};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

/// All of orchestra-llm's settings.
///
/// Build it with [`Settings::from_env`] (process environment and `./.env`),
/// [`Settings::load`] (any [`EnvSource`](crate::EnvSource)), or in code from
/// [`Settings::default`] and field assignment.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Settings {
    /// `PREFERRED_LLM_PROVIDER`.
    pub preferred_provider: ProviderKind,
    /// `AGENT_MODEL_MAP`: agent type → model id.
    pub agent_model_map: BTreeMap<String, String>,
    /// `OPENROUTER_*`.
    pub openrouter: OpenRouterSettings,
    /// `PORTKEY_*`, `TRACE_ID`, `VIRTUAL_KEY`.
    pub portkey: PortkeySettings,
    /// `LLM_ROUTING_*`: client-side routing.
    pub routing: RoutingSettings,
    /// `LLM_*` retry and timeout settings.
    pub resilience: ResilienceSettings,
    /// `LLM_CACHE*` response cache settings.
    pub cache: CacheSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            preferred_provider: ProviderKind::OpenRouter,
            agent_model_map: BTreeMap::new(),
            openrouter: OpenRouterSettings::default(),
            portkey: PortkeySettings::default(),
            routing: RoutingSettings::default(),
            resilience: ResilienceSettings::default(),
            cache: CacheSettings::default(),
        }
    }
}

impl Settings {
    /// The model a request of `agent_type` asks for first: its `AGENT_MODEL_MAP` entry, else
    /// `OPENROUTER_DEFAULT_MODEL`.
    pub fn primary_model(&self, agent_type: Option<&str>) -> Option<&str> {
        agent_type
            .and_then(|agent| self.agent_model_map.get(agent))
            .or(self.openrouter.default_model.as_ref())
            .map(String::as_str)
    }

    /// The route a request of `agent_type` takes with the configured provider: the models in
    /// the order they are tried (for `loadbalance`, the candidates).
    ///
    /// ```
    /// use orchestra_config::{MapEnv, Settings};
    ///
    /// let env = MapEnv::from_iter([
    ///     ("OPENROUTER_DEFAULT_MODEL", "openai/gpt-4o"),
    ///     ("OPENROUTER_FREE_FALLBACKS", "google/gemini-2.5-flash:free"),
    ///     ("AGENT_MODEL_MAP", r#"{"researcher":"anthropic/claude-3-opus-20k"}"#),
    /// ]);
    /// let settings = Settings::load(&env).unwrap().settings;
    /// let route = settings.route(Some("researcher"));
    /// assert_eq!(route.models, ["anthropic/claude-3-opus-20k", "google/gemini-2.5-flash:free"]);
    /// ```
    pub fn route(&self, agent_type: Option<&str>) -> Route {
        let primary = self.primary_model(agent_type).map(str::to_owned);
        let (strategy, rest): (Strategy, Vec<String>) = match self.preferred_provider {
            ProviderKind::OpenRouter => {
                (Strategy::Fallback, self.openrouter.free_fallbacks.clone())
            }
            ProviderKind::Portkey => (
                self.portkey.strategy,
                self.portkey
                    .fallbacks
                    .iter()
                    .filter_map(|target| target.model().map(str::to_owned))
                    .collect(),
            ),
        };
        // An agent's own model goes first; with Portkey the targets decide otherwise.
        let lead = match self.preferred_provider {
            ProviderKind::Portkey
                if agent_type.is_none_or(|agent| !self.agent_model_map.contains_key(agent)) =>
            {
                None
            }
            _ => primary,
        };
        let mut models: Vec<String> = Vec::new();
        for model in lead.into_iter().chain(rest) {
            if !models.contains(&model) {
                models.push(model);
            }
        }
        Route {
            provider: self.preferred_provider,
            strategy,
            models,
        }
    }
}

impl Settings {
    /// Every variable of [`VARIABLES`](crate::VARIABLES) with its resolved value as text,
    /// secrets shown as `[redacted]` and unset values as `-`.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        crate::variables::VARIABLES
            .iter()
            .map(|variable| (variable.name, self.describe_variable(variable.name)))
            .collect()
    }

    fn describe_variable(&self, name: &str) -> String {
        fn optional<T: fmt::Display>(value: Option<&T>) -> String {
            value.map_or_else(|| "-".to_owned(), ToString::to_string)
        }
        fn json<T: Serialize>(value: &T) -> String {
            serde_json::to_string(value).unwrap_or_else(|error| format!("<{error}>"))
        }
        fn seconds(duration: Duration) -> String {
            format!("{}s", duration.as_secs_f64())
        }
        let (openrouter, portkey, resilience) = (&self.openrouter, &self.portkey, &self.resilience);
        match name {
            "PREFERRED_LLM_PROVIDER" => self.preferred_provider.to_string(),
            "AGENT_MODEL_MAP" => json(&self.agent_model_map),
            "OPENROUTER_API_KEY" => optional(openrouter.api_key.as_ref()),
            "OPENROUTER_BASE_URL" => openrouter.base_url.to_string(),
            "OPENROUTER_DEFAULT_MODEL" => optional(openrouter.default_model.as_ref()),
            "OPENROUTER_FREE_FALLBACKS" if openrouter.free_fallbacks.is_empty() => "-".to_owned(),
            "OPENROUTER_FREE_FALLBACKS" => openrouter.free_fallbacks.join(","),
            "OPENROUTER_HEADERS" => json(&RedactedHeaders(&openrouter.headers)),
            "PORTKEY_API_KEY" => optional(portkey.api_key.as_ref()),
            "PORTKEY_BASE_URL" => portkey.base_url.to_string(),
            "PORTKEY_FALLBACKS" => json(&portkey.fallbacks),
            "PORTKEY_STRATEGY" => portkey.strategy.to_string(),
            "PORTKEY_CACHE_ENABLED" => portkey.cache_enabled.to_string(),
            "TRACE_ID" => optional(portkey.trace_id.as_ref()),
            "VIRTUAL_KEY" => optional(portkey.virtual_key.as_ref()),
            "<PROVIDER>_API_KEY" if portkey.provider_keys.is_empty() => "-".to_owned(),
            "<PROVIDER>_API_KEY" => portkey
                .provider_keys
                .iter()
                .map(|(provider, key)| format!("{}={key}", crate::provider_key_variable(provider)))
                .collect::<Vec<_>>()
                .join(", "),
            "LLM_ROUTING_STRATEGY" => self.routing.strategy.to_string(),
            "LLM_ROUTING_TARGETS" => json(&self.routing.targets),
            "LLM_STREAM_IDLE_TIMEOUT" => self.routing.stream_idle_timeout.map_or_else(
                || {
                    format!(
                        "{} (LLM_REQUEST_TIMEOUT)",
                        seconds(resilience.request_timeout)
                    )
                },
                seconds,
            ),
            "LLM_REQUEST_TIMEOUT" => seconds(resilience.request_timeout),
            "LLM_MAX_RETRIES" => resilience.max_retries.to_string(),
            "LLM_RETRY_DELAY" => seconds(resilience.retry_delay),
            "LLM_RETRY_MAX_DELAY" => seconds(resilience.retry_max_delay),
            "LLM_RETRYABLE_ERRORS" => resilience
                .retryable_errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            "LLM_REQUEST_DEADLINE" => seconds(resilience.request_deadline),
            "LLM_RATE_LIMITS" => json(&resilience.rate_limits),
            "LLM_RATE_LIMIT_REDIS_URL" => optional(resilience.rate_limit_redis_url.as_ref()),
            "LLM_CACHE" => self.cache.mode.to_string(),
            "LLM_CACHE_TTL" => seconds(self.cache.ttl),
            "LLM_CACHE_MAX_ENTRIES" => self.cache.max_entries.to_string(),
            "LLM_CACHE_EMBEDDER" => match &self.cache.embedder_dir {
                Some(dir) => format!("{}:{}", self.cache.embedder, dir.display()),
                None => self.cache.embedder.to_string(),
            },
            "LLM_CACHE_SIMILARITY" => self.cache.similarity.to_string(),
            "LLM_CACHE_REDIS_URL" => optional(self.cache.redis_url.as_ref()),
            // A variable added to the table but not here is caught by a unit test.
            _ => "?".to_owned(),
        }
    }
}

struct RedactedHeaders<'a>(&'a BTreeMap<String, String>);

impl Serialize for RedactedHeaders<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_headers(self.0, serializer)
    }
}

/// The models a request goes through, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Route {
    /// The provider that serves it.
    pub provider: ProviderKind,
    /// How the models are used.
    pub strategy: Strategy,
    /// Model ids; empty means the provider's own default model.
    pub models: Vec<String>,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.models.is_empty() {
            f.write_str("(the account's default model)")?;
        } else {
            let separator = match self.strategy {
                Strategy::Fallback => " → ",
                Strategy::Loadbalance => " | ",
                Strategy::CostAware => " → ",
            };
            f.write_str(&self.models.join(separator))?;
        }
        write!(f, "  [{} {}]", self.provider, self.strategy)
    }
}

/// `PREFERRED_LLM_PROVIDER`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProviderKind {
    /// OpenRouter directly.
    #[default]
    #[serde(rename = "openrouter")]
    OpenRouter,
    /// Through a Portkey gateway.
    Portkey,
}

impl ProviderKind {
    /// Every provider, for messages.
    pub const NAMES: &'static [&'static str] = &["openrouter", "portkey"];

    /// `openrouter` or `portkey`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenRouter => "openrouter",
            ProviderKind::Portkey => "portkey",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `PORTKEY_STRATEGY`: how targets are used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Strategy {
    /// Targets in order; the next one on failure.
    #[default]
    Fallback,
    /// A weighted random target per request.
    Loadbalance,
    /// The cheapest eligible target first.
    CostAware,
}

impl Strategy {
    /// Every strategy, for messages.
    pub const NAMES: &'static [&'static str] = &["fallback", "loadbalance", "cost_aware"];

    /// `fallback`, `loadbalance` or `cost_aware`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Strategy::Fallback => "fallback",
            Strategy::Loadbalance => "loadbalance",
            Strategy::CostAware => "cost_aware",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `OPENROUTER_*` settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct OpenRouterSettings {
    /// `OPENROUTER_API_KEY`.
    pub api_key: Option<Secret>,
    /// `OPENROUTER_BASE_URL`, without a trailing slash.
    pub base_url: Url,
    /// `OPENROUTER_DEFAULT_MODEL`.
    pub default_model: Option<String>,
    /// `OPENROUTER_FREE_FALLBACKS`, in order, without duplicates.
    pub free_fallbacks: Vec<String>,
    /// `OPENROUTER_HEADERS`.
    #[serde(serialize_with = "serialize_headers")]
    pub headers: BTreeMap<String, String>,
}

impl Default for OpenRouterSettings {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: default_url(crate::variables::OPENROUTER_DEFAULT_BASE_URL),
            default_model: None,
            free_fallbacks: Vec::new(),
            headers: BTreeMap::new(),
        }
    }
}

/// `PORTKEY_*` settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PortkeySettings {
    /// `PORTKEY_API_KEY`.
    pub api_key: Option<Secret>,
    /// `PORTKEY_BASE_URL`, without a trailing slash.
    pub base_url: Url,
    /// `PORTKEY_FALLBACKS`.
    pub fallbacks: Vec<Target>,
    /// `PORTKEY_STRATEGY`.
    pub strategy: Strategy,
    /// `PORTKEY_CACHE_ENABLED`.
    pub cache_enabled: bool,
    /// `TRACE_ID`.
    pub trace_id: Option<String>,
    /// `VIRTUAL_KEY`.
    pub virtual_key: Option<Secret>,
    /// `<PROVIDER>_API_KEY` by provider slug (`openai` → `OPENAI_API_KEY`): read only for
    /// the providers of targets that set neither `api_key` nor `virtual_key`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub provider_keys: BTreeMap<String, Secret>,
}

impl Default for PortkeySettings {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: default_url(crate::variables::PORTKEY_DEFAULT_BASE_URL),
            fallbacks: Vec::new(),
            strategy: Strategy::Fallback,
            cache_enabled: false,
            trace_id: None,
            virtual_key: None,
            provider_keys: BTreeMap::new(),
        }
    }
}

/// One routing target: an entry of `PORTKEY_FALLBACKS`.
///
/// Unknown fields are rejected, naming the field, so a typo never silently drops a setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Target {
    /// Provider slug (`openrouter`, `openai`, `groq`, …).
    pub provider: String,
    /// Model id; may instead be given as `override_params.model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Load-balancing weight (≥ 0, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// Upstream base URL for this target (self-hosted or OpenAI-compatible servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_host: Option<String>,
    /// Provider API key for this target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// Portkey virtual key for this target (hosted Portkey only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_key: Option<Secret>,
    /// Request fields that override the caller's for this target.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub override_params: Map<String, Value>,
    /// Gateway retry policy for this target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<TargetRetry>,
}

impl Target {
    /// The target's model: `model`, else `override_params.model`.
    pub fn model(&self) -> Option<&str> {
        self.model
            .as_deref()
            .or_else(|| self.override_params.get("model").and_then(Value::as_str))
    }

    /// The load-balancing weight (1 when unset).
    pub fn weight(&self) -> f64 {
        self.weight.unwrap_or(1.0)
    }
}

/// A target's gateway retry policy (Portkey's `retry` object).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TargetRetry {
    /// Extra attempts after the first.
    pub attempts: u32,
    /// Statuses that are retried (Portkey's default: 429, 500, 502, 503, 504).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_status_codes: Option<Vec<u16>>,
    /// Honour the upstream's `Retry-After`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_retry_after_header: Option<bool>,
}

/// `LLM_ROUTING_*` and `LLM_STREAM_IDLE_TIMEOUT`: client-side routing, for any provider.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RoutingSettings {
    /// `LLM_ROUTING_STRATEGY`.
    pub strategy: Strategy,
    /// `LLM_ROUTING_TARGETS`; empty means the OpenRouter default model then its free
    /// fallbacks.
    pub targets: Vec<Target>,
    /// `LLM_STREAM_IDLE_TIMEOUT`; `None` means `LLM_REQUEST_TIMEOUT`.
    #[serde(rename = "stream_idle_timeout_secs", with = "optional_seconds")]
    pub stream_idle_timeout: Option<Duration>,
}

mod optional_seconds {
    use std::time::Duration;

    use serde::Serializer;

    pub(super) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_some(&duration.as_secs_f64()),
            None => serializer.serialize_none(),
        }
    }
}

/// `LLM_*` retry and timeout settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ResilienceSettings {
    /// `LLM_REQUEST_TIMEOUT`: time limit of one attempt.
    #[serde(rename = "request_timeout_secs", serialize_with = "serialize_seconds")]
    pub request_timeout: Duration,
    /// `LLM_MAX_RETRIES`: retries after the first attempt.
    pub max_retries: u32,
    /// `LLM_RETRY_DELAY`: backoff base.
    #[serde(rename = "retry_delay_secs", serialize_with = "serialize_seconds")]
    pub retry_delay: Duration,
    /// `LLM_RETRY_MAX_DELAY`: backoff cap.
    #[serde(rename = "retry_max_delay_secs", serialize_with = "serialize_seconds")]
    pub retry_max_delay: Duration,
    /// `LLM_RETRYABLE_ERRORS`, sorted, without duplicates.
    pub retryable_errors: Vec<ErrorClass>,
    /// `LLM_REQUEST_DEADLINE`: time budget of one call across its attempts and waits.
    #[serde(rename = "request_deadline_secs", serialize_with = "serialize_seconds")]
    pub request_deadline: Duration,
    /// `LLM_RATE_LIMITS`: client-side quotas by model pattern.
    pub rate_limits: BTreeMap<String, RateLimit>,
    /// `LLM_RATE_LIMIT_REDIS_URL`: where shared quotas live; a secret, since the URL may
    /// carry a password.
    pub rate_limit_redis_url: Option<Secret>,
}

impl ResilienceSettings {
    /// OpenRouter's requests per minute for `:free` models.
    pub const FREE_MODEL_RPM: u32 = 20;
    /// OpenRouter's requests per day for `:free` models on accounts that bought less than
    /// 10 USD of credits.
    pub const FREE_MODEL_RPD: u32 = 50;
    /// OpenRouter's requests per day for `:free` models once 10 USD of credits were bought.
    pub const FREE_MODEL_RPD_WITH_CREDITS: u32 = 1000;
    /// The pattern of OpenRouter's free model variants.
    pub const FREE_MODEL_PATTERN: &'static str = "*:free";

    /// The default `LLM_RATE_LIMITS`: OpenRouter's published limits for `:free` models.
    pub fn default_rate_limits() -> BTreeMap<String, RateLimit> {
        BTreeMap::from([(
            Self::FREE_MODEL_PATTERN.to_owned(),
            RateLimit::new()
                .rpm(Self::FREE_MODEL_RPM)
                .rpd(Self::FREE_MODEL_RPD),
        )])
    }
}

/// The quotas of one `LLM_RATE_LIMITS` pattern. Unset fields are unlimited.
///
/// ```
/// use orchestra_config::RateLimit;
///
/// let limit: RateLimit = serde_json::from_str(r#"{"rpm": 500, "tpm": 200000}"#).unwrap();
/// assert_eq!(limit, RateLimit::new().rpm(500).tpm(200_000));
/// assert!(serde_json::from_str::<RateLimit>(r#"{"rps": 5}"#).is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimit {
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Requests per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpd: Option<u32>,
    /// Tokens (prompt + completion) per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u32>,
}

impl RateLimit {
    /// No quota at all.
    pub const fn new() -> Self {
        Self {
            rpm: None,
            rpd: None,
            tpm: None,
        }
    }

    /// Sets requests per minute.
    #[must_use]
    pub const fn rpm(mut self, rpm: u32) -> Self {
        self.rpm = Some(rpm);
        self
    }

    /// Sets requests per UTC day.
    #[must_use]
    pub const fn rpd(mut self, rpd: u32) -> Self {
        self.rpd = Some(rpd);
        self
    }

    /// Sets tokens per minute.
    #[must_use]
    pub const fn tpm(mut self, tpm: u32) -> Self {
        self.tpm = Some(tpm);
        self
    }

    /// Whether no quota is set.
    pub const fn is_unlimited(&self) -> bool {
        self.rpm.is_none() && self.rpd.is_none() && self.tpm.is_none()
    }
}

impl Default for ResilienceSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            max_retries: 3,
            retry_delay: Duration::from_secs(1),
            retry_max_delay: Duration::from_secs(60),
            retryable_errors: ErrorClass::ALL.to_vec(),
            request_deadline: Duration::from_secs(120),
            rate_limits: Self::default_rate_limits(),
            rate_limit_redis_url: None,
        }
    }
}

/// `LLM_CACHE*`: the response cache (orchestra-cache).
///
/// ```
/// use orchestra_config::{CacheMode, MapEnv, Settings};
///
/// let env = MapEnv::from_iter([("LLM_CACHE", "semantic"), ("LLM_CACHE_TTL", "10m")]);
/// let cache = Settings::load(&env).unwrap().settings.cache;
/// assert_eq!(cache.mode, CacheMode::Semantic);
/// assert_eq!(cache.ttl.as_secs(), 600);
///
/// // Portkey's cache switch turns the local cache on too.
/// let env = MapEnv::from_iter([("PORTKEY_CACHE_ENABLED", "true")]);
/// assert_eq!(Settings::load(&env).unwrap().settings.cache.mode, CacheMode::Semantic);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CacheSettings {
    /// `LLM_CACHE`: which tiers are on.
    pub mode: CacheMode,
    /// `LLM_CACHE_TTL`: how long an answer is served from the cache.
    #[serde(rename = "ttl_secs", serialize_with = "serialize_seconds")]
    pub ttl: Duration,
    /// `LLM_CACHE_MAX_ENTRIES`: entries kept in process; the least recently used go first.
    pub max_entries: usize,
    /// `LLM_CACHE_EMBEDDER`: what embeds questions for the semantic tier.
    pub embedder: CacheEmbedder,
    /// `LLM_CACHE_EMBEDDER=local:DIR`: the sentence-transformer folder the local embedder
    /// loads instead of its bundled model (holding [`MODEL_FILES`](Self::MODEL_FILES));
    /// `None` for the bundled model.
    pub embedder_dir: Option<PathBuf>,
    /// `LLM_CACHE_SIMILARITY`: the cosine similarity a semantic match needs (by default the
    /// one measured for `embedder`).
    pub similarity: f32,
    /// `LLM_CACHE_REDIS_URL`: where shared entries live; a secret, since the URL may carry a
    /// password.
    pub redis_url: Option<Secret>,
}

impl CacheSettings {
    /// The default `LLM_CACHE_SIMILARITY` of the built-in lexical embedder, measured with
    /// `cargo xtask cache-eval` (docs/caching.md). See [`CacheEmbedder::default_similarity`].
    pub const DEFAULT_SIMILARITY: f32 = 0.5;

    /// The files a model folder given as `LLM_CACHE_EMBEDDER=local:DIR` must hold.
    pub const MODEL_FILES: &'static [&'static str] =
        &["config.json", "tokenizer.json", "model.safetensors"];
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            mode: CacheMode::Off,
            ttl: Duration::from_secs(3600),
            max_entries: 10_000,
            embedder: CacheEmbedder::Lexical,
            embedder_dir: None,
            similarity: Self::DEFAULT_SIMILARITY,
            redis_url: None,
        }
    }
}

/// `LLM_CACHE_EMBEDDER`: what turns questions into vectors for the semantic tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CacheEmbedder {
    /// The built-in lexical embedder: near-duplicates, no model, no network.
    #[default]
    Lexical,
    /// The bundled MiniLM sentence-embedding model, run in process (feature `local-embed`
    /// of orchestra-cache).
    Local,
}

impl CacheEmbedder {
    /// Every embedder, for messages.
    pub const NAMES: &'static [&'static str] = &["lexical", "local"];

    /// `lexical` or `local`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CacheEmbedder::Lexical => "lexical",
            CacheEmbedder::Local => "local",
        }
    }

    /// The `LLM_CACHE_SIMILARITY` measured for this embedder with its guard (tuning part of
    /// the paraphrase data, `cargo xtask cache-eval --embedder …`; docs/caching.md).
    pub const fn default_similarity(self) -> f32 {
        match self {
            CacheEmbedder::Lexical => CacheSettings::DEFAULT_SIMILARITY,
            CacheEmbedder::Local => 0.8,
        }
    }
}

impl fmt::Display for CacheEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `LLM_CACHE`: which cache tiers answer requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CacheMode {
    /// No cache.
    #[default]
    Off,
    /// Only identical requests (after whitespace normalisation).
    Exact,
    /// Identical requests, then near-duplicate questions in the same scope.
    Semantic,
}

impl CacheMode {
    /// Every mode, for messages.
    pub const NAMES: &'static [&'static str] = &["off", "exact", "semantic"];

    /// `off`, `exact` or `semantic`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CacheMode::Off => "off",
            CacheMode::Exact => "exact",
            CacheMode::Semantic => "semantic",
        }
    }
}

impl fmt::Display for CacheMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[allow(clippy::expect_used)] // Only called with the URL constants, which a unit test parses.
fn default_url(url: &str) -> Url {
    Url::parse(url).expect("the default base URLs are valid")
}

fn serialize_seconds<S: serde::Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

fn serialize_headers<S: serde::Serializer>(
    headers: &BTreeMap<String, String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(headers.len()))?;
    for (name, value) in headers {
        if crate::json::is_secret_key(name) {
            map.serialize_entry(name, Secret::REDACTED)?;
        } else {
            map.serialize_entry(name, value)?;
        }
    }
    map.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_is_described() {
        for (name, value) in Settings::default().describe() {
            assert_ne!(
                value, "?",
                "{name} is missing from Settings::describe_variable"
            );
        }
    }

    #[test]
    fn default_urls_are_the_hosted_services() {
        let settings = Settings::default();
        assert_eq!(
            settings.openrouter.base_url.as_str(),
            "https://openrouter.ai/api/v1"
        );
        assert_eq!(
            settings.portkey.base_url.as_str(),
            "https://api.portkey.ai/v1"
        );
    }
}
