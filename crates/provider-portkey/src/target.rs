//! Gateway targets and retry policies, as configured (`PORTKEY_FALLBACKS`) or built in code.

use std::fmt;

use orchestra_core::{ErrorClass, ErrorKind, Secret};
use serde_json::{Map, Value};

/// One target of the gateway config: a provider, a model, and how to reach it.
///
/// ```
/// use orchestra_core::Secret;
/// use orchestra_provider_portkey::{PortkeyTarget, RetryPolicy};
///
/// let target = PortkeyTarget::new("openai", "gpt-4o-mini")
///     .api_key(Secret::new("sk-..."))
///     .custom_host("http://127.0.0.1:8080/v1")
///     .weight(0.7)
///     .retry(RetryPolicy::new(2, [429]));
/// assert_eq!(target.model(), "gpt-4o-mini");
/// assert!(!format!("{target:?}").contains("sk-..."));
/// ```
#[derive(Clone, PartialEq)]
pub struct PortkeyTarget {
    provider: String,
    model: String,
    weight: Option<f64>,
    custom_host: Option<String>,
    api_key: Option<Secret>,
    virtual_key: Option<Secret>,
    override_params: Map<String, Value>,
    retry: Option<RetryPolicy>,
}

impl fmt::Debug for PortkeyTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortkeyTarget")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("weight", &self.weight)
            .field("custom_host", &self.custom_host)
            .field("api_key", &self.api_key)
            .field("virtual_key", &self.virtual_key)
            .field("override_params", &self.override_params.keys())
            .field("retry", &self.retry)
            .finish()
    }
}

impl PortkeyTarget {
    /// A target serving `model` through the gateway's `provider` (`openai`, `openrouter`, …).
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
            weight: None,
            custom_host: None,
            api_key: None,
            virtual_key: None,
            override_params: Map::new(),
            retry: None,
        }
    }

    /// The target of a `PORTKEY_FALLBACKS` entry; `provider_key` fills in `api_key` when
    /// the entry has neither `api_key` nor `virtual_key`.
    pub fn from_settings(target: &orchestra_config::Target, provider_key: Option<&Secret>) -> Self {
        let mut override_params = target.override_params.clone();
        let model = target.model().unwrap_or_default().to_owned();
        override_params.remove("model");
        let api_key = match (&target.api_key, &target.virtual_key) {
            (Some(key), _) => Some(key.clone()),
            (None, Some(_)) => None,
            (None, None) => provider_key.cloned(),
        };
        Self {
            provider: target.provider.clone(),
            model,
            weight: target.weight,
            custom_host: target.custom_host.clone(),
            api_key,
            virtual_key: target.virtual_key.clone(),
            override_params,
            retry: target.retry.as_ref().map(|retry| RetryPolicy {
                attempts: retry.attempts,
                on_status_codes: retry.on_status_codes.clone().unwrap_or_default(),
            }),
        }
    }

    /// Load-balancing weight (default 1; 0 = never picked).
    #[must_use]
    pub fn weight(mut self, weight: f64) -> Self {
        self.weight = Some(weight);
        self
    }

    /// Upstream base URL (`…/v1`; the gateway appends `/chat/completions`).
    #[must_use]
    pub fn custom_host(mut self, url: impl Into<String>) -> Self {
        self.custom_host = Some(url.into());
        self
    }

    /// The provider's API key, sent by the gateway as `Authorization: Bearer`.
    #[must_use]
    pub fn api_key(mut self, key: Secret) -> Self {
        self.api_key = Some(key);
        self
    }

    /// A Portkey virtual key (hosted Portkey only).
    #[must_use]
    pub fn virtual_key(mut self, key: Secret) -> Self {
        self.virtual_key = Some(key);
        self
    }

    /// A request field this target overrides (`temperature`, `max_tokens`, …); `model` is
    /// [`PortkeyTarget::model`].
    #[must_use]
    pub fn override_param(mut self, name: impl Into<String>, value: Value) -> Self {
        let name = name.into();
        if name == "model" {
            if let Value::String(model) = value {
                self.model = model;
            }
        } else {
            self.override_params.insert(name, value);
        }
        self
    }

    /// This target's own gateway retry policy (instead of the client's).
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// The provider slug.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The model it serves.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The custom host, when set.
    pub fn host(&self) -> Option<&str> {
        self.custom_host.as_deref()
    }

    /// The provider key, when known.
    pub fn key(&self) -> Option<&Secret> {
        self.api_key.as_ref()
    }

    /// The load-balancing weight (1 when unset).
    pub fn load_weight(&self) -> f64 {
        self.weight.unwrap_or(1.0)
    }

    /// Its own retry policy, when set.
    pub fn retry_policy(&self) -> Option<&RetryPolicy> {
        self.retry.as_ref()
    }

    /// The same target serving `model`.
    pub(crate) fn with_model(&self, model: &str) -> Self {
        let mut target = self.clone();
        model.clone_into(&mut target.model);
        target
    }

    /// The config object of this target; secrets exposed only when `expose` is set.
    pub(crate) fn to_json(&self, expose: bool) -> Value {
        let secret = |secret: &Secret| {
            Value::String(if expose {
                secret.expose().to_owned()
            } else {
                Secret::REDACTED.to_owned()
            })
        };
        let mut object = Map::new();
        object.insert("provider".into(), Value::String(self.provider.clone()));
        if let Some(key) = &self.api_key {
            object.insert("api_key".into(), secret(key));
        }
        if let Some(key) = &self.virtual_key {
            object.insert("virtual_key".into(), secret(key));
        }
        if let Some(host) = &self.custom_host {
            object.insert("custom_host".into(), Value::String(host.clone()));
        }
        if let Some(weight) = self.weight
            && let Some(number) = serde_json::Number::from_f64(weight)
        {
            object.insert("weight".into(), Value::Number(number));
        }
        let mut params = self.override_params.clone();
        params.insert("model".into(), Value::String(self.model.clone()));
        object.insert("override_params".into(), Value::Object(params));
        if let Some(retry) = &self.retry {
            object.insert("retry".into(), retry.to_json());
        }
        Value::Object(object)
    }
}

/// The gateway's `retry` object: `attempts` extra tries on `on_status_codes`, with its fixed
/// back-off (1 s, 2 s, 4 s…). `use_retry_after_header` is never sent: it is broken in the
/// open-source gateway 1.15.2 (see docs/portkey.md); callers honour `Retry-After` themselves
/// through [`Error::retry_after`](orchestra_core::Error::retry_after).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    attempts: u32,
    on_status_codes: Vec<u16>,
}

impl RetryPolicy {
    /// `attempts` retries on these statuses (empty: the gateway's default, 429 and 500–504).
    pub fn new(attempts: u32, on_status_codes: impl IntoIterator<Item = u16>) -> Self {
        let mut codes: Vec<u16> = on_status_codes.into_iter().collect();
        codes.sort_unstable();
        codes.dedup();
        Self {
            attempts,
            on_status_codes: codes,
        }
    }

    /// `LLM_MAX_RETRIES` retries on the statuses of the `LLM_RETRYABLE_ERRORS` classes;
    /// `None` when that retries nothing.
    ///
    /// | class | statuses |
    /// |---|---|
    /// | `rate_limit_error` | 429 |
    /// | `timeout_error` | 408, 504, 524 |
    /// | `service_error` | 500, 502, 503, 529 |
    /// | `connection_error` | 500 (the gateway answers a failed upstream connection with it) |
    ///
    /// ```
    /// use orchestra_core::ErrorClass;
    /// use orchestra_provider_portkey::RetryPolicy;
    ///
    /// let policy = RetryPolicy::from_classes(2, &[ErrorClass::RateLimit, ErrorClass::Timeout]).unwrap();
    /// assert_eq!(policy.on_status_codes(), [408, 429, 504, 524]);
    /// assert!(RetryPolicy::from_classes(0, &[ErrorClass::RateLimit]).is_none());
    /// ```
    pub fn from_classes(max_retries: u32, classes: &[ErrorClass]) -> Option<Self> {
        let codes: Vec<u16> = classes
            .iter()
            .flat_map(|class| match class {
                ErrorClass::RateLimit => &[429][..],
                ErrorClass::Timeout => &[408, 504, 524][..],
                ErrorClass::Service => &[500, 502, 503, 529][..],
                ErrorClass::Connection => &[500][..],
                _ => &[][..],
            })
            .copied()
            .collect();
        (max_retries > 0 && !codes.is_empty()).then(|| Self::new(max_retries, codes))
    }

    /// Extra attempts after the first.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The statuses retried (empty: the gateway's default list).
    pub fn on_status_codes(&self) -> &[u16] {
        &self.on_status_codes
    }

    /// The statuses retried, the gateway's default list when none is set.
    pub(crate) fn effective_codes(&self) -> &[u16] {
        if self.on_status_codes.is_empty() {
            &[429, 500, 502, 503, 504]
        } else {
            &self.on_status_codes
        }
    }

    /// What a retried try failed with, as far as the statuses tell: one kind when they all
    /// map to it (429 only: rate limited), else `Server` (an upstream failure of a kind the
    /// gateway does not report).
    pub(crate) fn failure_kind(&self) -> ErrorKind {
        kind_of_statuses(self.effective_codes())
    }

    /// Worst-case back-off of the gateway: 1 s, 2 s, 4 s… between tries.
    pub(crate) fn backoff_secs(&self) -> u64 {
        (1u64 << self.attempts.min(16)) - 1
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("attempts".into(), Value::from(self.attempts));
        if !self.on_status_codes.is_empty() {
            object.insert(
                "on_status_codes".into(),
                Value::from(self.on_status_codes.clone()),
            );
        }
        Value::Object(object)
    }
}

/// The one kind every status maps to, else `Server`.
pub(crate) fn kind_of_statuses(statuses: &[u16]) -> ErrorKind {
    let mut kinds = statuses
        .iter()
        .map(|status| ErrorKind::from_status(*status));
    match kinds.next() {
        Some(first) if kinds.all(|kind| kind == first) => first,
        _ => ErrorKind::Server,
    }
}
