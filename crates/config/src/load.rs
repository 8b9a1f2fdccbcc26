//! Reading and validating every variable, collecting all problems before reporting.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use orchestra_core::{ErrorClass, Secret};
use serde::de::DeserializeOwned;
use url::Url;

use crate::{
    error::{ConfigError, ConfigErrors, ConfigWarning, Problem, suggest},
    json,
    settings::{
        CacheEmbedder, CacheMode, CacheSettings, OpenRouterSettings, PortkeySettings, ProviderKind,
        RateLimit, ResilienceSettings, RoutingSettings, Settings, Strategy, Target,
    },
    source::{EnvSource, Environment, Origin},
    variables::{OWNED_PREFIXES, PORTKEY_PROVIDERS, VARIABLES},
};

/// Settings with the non-fatal observations made while loading them.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Loaded {
    /// The validated settings.
    pub settings: Settings,
    /// Things worth a look that do not stop the program (misspelt variable names, a missing
    /// API key, a paid model among the free fallbacks).
    pub warnings: Vec<ConfigWarning>,
}

impl Settings {
    /// Loads the settings from the process environment over `./.env` (when present).
    ///
    /// # Errors
    ///
    /// Every invalid variable, reported together.
    pub fn from_env() -> Result<Settings, ConfigErrors> {
        let environment = Environment::with_default_dotenv()?;
        Ok(Self::load(&environment)?.settings)
    }

    /// Loads and validates the settings from `source`.
    ///
    /// # Errors
    ///
    /// Every invalid variable, reported together: each error names the variable, what was
    /// expected and, for JSON values, the line, column and a masked snippet.
    ///
    /// ```
    /// use orchestra_config::{MapEnv, Settings};
    ///
    /// let env = MapEnv::from_iter([
    ///     ("PORTKEY_STRATEGY", "fallbak"),
    ///     ("AGENT_MODEL_MAP", r#"{"researcher": "a/b" "executor": "c/d"}"#),
    /// ]);
    /// let errors = Settings::load(&env).unwrap_err();
    /// assert_eq!(errors.len(), 2);
    /// assert!(errors.to_string().contains("AGENT_MODEL_MAP: expected `,` or `}` at line 1, column 22"));
    /// assert!(errors.to_string().contains("(did you mean `fallback`?)"));
    /// ```
    pub fn load(source: &dyn EnvSource) -> Result<Loaded, ConfigErrors> {
        Loader::new(source).load()
    }
}

struct Loader<'a> {
    source: &'a dyn EnvSource,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigWarning>,
    /// Secret values read so far, masked wherever a snippet of another variable is shown.
    secrets: Vec<String>,
}

impl<'a> Loader<'a> {
    fn new(source: &'a dyn EnvSource) -> Self {
        Self {
            source,
            errors: Vec::new(),
            warnings: Vec::new(),
            secrets: Vec::new(),
        }
    }

    fn load(mut self) -> Result<Loaded, ConfigErrors> {
        let defaults = Settings::default();
        // Secrets first, so every later snippet can mask them.
        let openrouter_key = self.secret("OPENROUTER_API_KEY");
        let portkey_key = self.secret("PORTKEY_API_KEY");
        let virtual_key = self.secret("VIRTUAL_KEY");

        let preferred_provider = self
            .name("PREFERRED_LLM_PROVIDER", "provider", ProviderKind::NAMES)
            .map_or(ProviderKind::OpenRouter, |name| match name {
                "portkey" => ProviderKind::Portkey,
                _ => ProviderKind::OpenRouter,
            });
        let agent_model_map = self.agent_model_map();

        let openrouter = OpenRouterSettings {
            api_key: openrouter_key,
            base_url: self.url("OPENROUTER_BASE_URL", defaults.openrouter.base_url),
            default_model: self.model_id("OPENROUTER_DEFAULT_MODEL"),
            free_fallbacks: self.free_fallbacks(),
            headers: self.headers(),
        };

        let strategy = self
            .name("PORTKEY_STRATEGY", "strategy", Strategy::NAMES)
            .map_or(Strategy::Fallback, |name| match name {
                "loadbalance" => Strategy::Loadbalance,
                "cost_aware" => Strategy::CostAware,
                _ => Strategy::Fallback,
            });
        let fallbacks = self.targets("PORTKEY_FALLBACKS");
        let provider_keys = self.provider_keys(&fallbacks, openrouter.api_key.as_ref());
        let portkey = PortkeySettings {
            api_key: portkey_key,
            base_url: self.url("PORTKEY_BASE_URL", defaults.portkey.base_url),
            fallbacks,
            strategy,
            cache_enabled: self.boolean("PORTKEY_CACHE_ENABLED", false),
            trace_id: self.header_safe_string("TRACE_ID"),
            virtual_key,
            provider_keys,
        };

        let routing = RoutingSettings {
            strategy: self
                .name("LLM_ROUTING_STRATEGY", "strategy", Strategy::NAMES)
                .map_or(Strategy::Fallback, |name| match name {
                    "loadbalance" => Strategy::Loadbalance,
                    "cost_aware" => Strategy::CostAware,
                    _ => Strategy::Fallback,
                }),
            targets: self.targets("LLM_ROUTING_TARGETS"),
            stream_idle_timeout: self
                .raw("LLM_STREAM_IDLE_TIMEOUT")
                .is_some()
                .then(|| self.duration("LLM_STREAM_IDLE_TIMEOUT", Duration::ZERO, false)),
        };
        let resilience = self.resilience();
        let cache = self.cache(portkey.cache_enabled);
        let settings = Settings {
            preferred_provider,
            agent_model_map,
            openrouter,
            portkey,
            routing,
            resilience,
            cache,
        };
        self.cross_checks(&settings);
        self.unknown_variables();

        if self.errors.is_empty() {
            Ok(Loaded {
                settings,
                warnings: self.warnings,
            })
        } else {
            // Report in documentation order, whatever order the checks ran in.
            let order = |error: &ConfigError| {
                VARIABLES
                    .iter()
                    .position(|variable| variable.name == error.variable())
                    .unwrap_or(usize::MAX)
            };
            self.errors.sort_by_key(order);
            Err(ConfigErrors::new(self.errors))
        }
    }

    // ----- reading -------------------------------------------------------------------------

    /// The trimmed value of `name`; unset and empty values are `None`.
    fn raw(&mut self, name: &'static str) -> Option<(String, Origin)> {
        let value = self.source.get(name)?;
        if !value.is_unicode {
            self.fail(name, Some(value.origin), Problem::NotUnicode);
            return None;
        }
        let trimmed = value.value.trim();
        if trimmed.is_empty() {
            return None;
        }
        Some((trimmed.to_owned(), value.origin))
    }

    fn fail(&mut self, name: &str, origin: Option<Origin>, problem: Problem) {
        self.errors
            .push(ConfigError::new(name, problem).set_by(origin));
    }

    fn fail_at(&mut self, name: &str, origin: &Origin, path: String, problem: Problem) {
        self.errors.push(
            ConfigError::new(name, problem)
                .at(path)
                .set_by(Some(origin.clone())),
        );
    }

    fn warn(&mut self, variable: &str, message: impl Into<String>) {
        self.warnings.push(ConfigWarning {
            variable: variable.to_owned(),
            message: message.into(),
        });
    }

    fn invalid_value(expected: &str, found: &str) -> Problem {
        Problem::InvalidValue {
            expected: expected.to_owned(),
            found: Some(found.to_owned()),
        }
    }

    fn secret(&mut self, name: &'static str) -> Option<Secret> {
        let (value, origin) = self.raw(name)?;
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            // Never echo the value: it is a credential.
            self.fail(
                name,
                Some(origin),
                Problem::InvalidValue {
                    expected: "a key without spaces or control characters".to_owned(),
                    found: None,
                },
            );
            return None;
        }
        self.secrets.push(value.clone());
        Some(Secret::new(value))
    }

    /// One of `names`, case-insensitively; unknown names get a suggestion.
    fn name(
        &mut self,
        name: &'static str,
        what: &'static str,
        names: &'static [&'static str],
    ) -> Option<&'static str> {
        let (value, origin) = self.raw(name)?;
        let lowered = value.to_ascii_lowercase();
        if let Some(found) = names
            .iter()
            .copied()
            .find(|candidate| *candidate == lowered)
        {
            return Some(found);
        }
        self.fail(
            name,
            Some(origin),
            Problem::UnknownName {
                what,
                suggestion: suggest(&value, names.iter().copied()).map(str::to_owned),
                found: value,
                expected: names.iter().map(|name| (*name).to_owned()).collect(),
            },
        );
        None
    }

    fn boolean(&mut self, name: &'static str, default: bool) -> bool {
        let Some((value, origin)) = self.raw(name) else {
            return default;
        };
        match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => {
                self.fail(
                    name,
                    Some(origin),
                    Self::invalid_value("true or false (also 1/0, yes/no, on/off)", &value),
                );
                default
            }
        }
    }

    fn url(&mut self, name: &'static str, default: Url) -> Url {
        let Some((value, origin)) = self.raw(name) else {
            return default;
        };
        parse_http_url(&value).unwrap_or_else(|expected| {
            self.fail(name, Some(origin), Self::invalid_value(expected, &value));
            default
        })
    }

    fn model_id(&mut self, name: &'static str) -> Option<String> {
        let (value, origin) = self.raw(name)?;
        match check_model_id(&value) {
            Ok(()) => Some(value),
            Err(expected) => {
                self.fail(name, Some(origin), Self::invalid_value(expected, &value));
                None
            }
        }
    }

    fn header_safe_string(&mut self, name: &'static str) -> Option<String> {
        let (value, origin) = self.raw(name)?;
        if value.chars().any(char::is_control) {
            self.fail(
                name,
                Some(origin),
                Self::invalid_value(
                    "text without control characters",
                    &value.escape_debug().to_string(),
                ),
            );
            return None;
        }
        Some(value)
    }

    fn json<T: DeserializeOwned>(&mut self, name: &'static str) -> Option<(T, Origin)> {
        let (value, origin) = self.raw(name)?;
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        match json::parse(&value, &secrets) {
            Ok(parsed) => Some((parsed, origin)),
            Err(problem) => {
                self.fail(name, Some(origin), problem);
                None
            }
        }
    }

    fn duration(&mut self, name: &'static str, default: Duration, allow_zero: bool) -> Duration {
        let Some((value, origin)) = self.raw(name) else {
            return default;
        };
        let expected = if allow_zero {
            "a number of seconds ≥ 0 (like 1.5, 500ms, 2m)"
        } else {
            "a number of seconds > 0 (like 30, 500ms, 2m)"
        };
        match parse_duration(&value) {
            Some(duration) if allow_zero || !duration.is_zero() => duration,
            _ => {
                self.fail(name, Some(origin), Self::invalid_value(expected, &value));
                default
            }
        }
    }

    // ----- variables -----------------------------------------------------------------------

    fn agent_model_map(&mut self) -> BTreeMap<String, String> {
        const NAME: &str = "AGENT_MODEL_MAP";
        let Some((map, origin)) = self.json::<BTreeMap<String, String>>(NAME) else {
            return BTreeMap::new();
        };
        let mut valid = BTreeMap::new();
        for (agent, model) in map {
            let path = format!("[{}]", json_string(&agent));
            if agent.trim().is_empty() {
                self.fail_at(
                    NAME,
                    &origin,
                    path,
                    Problem::Invalid {
                        message: "agent type must not be empty".to_owned(),
                    },
                );
                continue;
            }
            match check_model_id(&model) {
                Ok(()) => {
                    valid.insert(agent, model);
                }
                Err(expected) => {
                    self.fail_at(NAME, &origin, path, Self::invalid_value(expected, &model));
                }
            }
        }
        valid
    }

    fn free_fallbacks(&mut self) -> Vec<String> {
        const NAME: &str = "OPENROUTER_FREE_FALLBACKS";
        let Some((value, origin)) = self.raw(NAME) else {
            return Vec::new();
        };
        let mut models: Vec<String> = Vec::new();
        for (index, model) in value
            .split(',')
            .map(str::trim)
            .filter(|model| !model.is_empty())
            .enumerate()
        {
            if let Err(expected) = check_model_id(model) {
                self.fail_at(
                    NAME,
                    &origin,
                    format!("[{index}]"),
                    Self::invalid_value(expected, model),
                );
                continue;
            }
            if models.iter().any(|existing| existing == model) {
                self.warn(
                    NAME,
                    format!("`{model}` is listed twice; the second entry is ignored"),
                );
                continue;
            }
            if !model.ends_with(":free") {
                self.warn(
                    NAME,
                    format!("`{model}` is not a `:free` model: requests it serves are billed"),
                );
            }
            models.push(model.to_owned());
        }
        models
    }

    fn headers(&mut self) -> BTreeMap<String, String> {
        const NAME: &str = "OPENROUTER_HEADERS";
        let Some((map, origin)) = self.json::<BTreeMap<String, String>>(NAME) else {
            return BTreeMap::new();
        };
        let mut valid = BTreeMap::new();
        for (header, value) in map {
            let path = format!("[{}]", json_string(&header));
            if !is_header_name(&header) {
                self.fail_at(NAME, &origin, path, Problem::Invalid {
                    message: "not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)".to_owned(),
                });
                continue;
            }
            if value.chars().any(|c| c.is_control() && c != '\t') {
                self.fail_at(
                    NAME,
                    &origin,
                    path,
                    Problem::Invalid {
                        message: "header values must not contain line breaks or control characters"
                            .to_owned(),
                    },
                );
                continue;
            }
            if header.eq_ignore_ascii_case("authorization") {
                self.warn(
                    NAME,
                    "`Authorization` is set from OPENROUTER_API_KEY; this header overrides it",
                );
            }
            valid.insert(header, value);
        }
        valid
    }

    fn targets(&mut self, name: &'static str) -> Vec<Target> {
        let Some((targets, origin)) = self.json::<Vec<Target>>(name) else {
            return Vec::new();
        };
        for target in &targets {
            for secret in [&target.api_key, &target.virtual_key].into_iter().flatten() {
                self.secrets.push(secret.expose().to_owned());
            }
        }
        for (index, target) in targets.iter().enumerate() {
            let at = |field: &str| format!("[{index}]{field}");
            if !PORTKEY_PROVIDERS.contains(&target.provider.as_str()) {
                let problem = Problem::UnknownName {
                    what: "provider",
                    found: target.provider.clone(),
                    expected: vec![
                        "a Portkey provider slug such as `openrouter`, `openai`, `anthropic`, `groq` or `google` (all are listed in docs/configuration.md)"
                            .to_owned(),
                    ],
                    suggestion: suggest_provider(&target.provider),
                };
                self.fail_at(name, &origin, at(".provider"), problem);
            }
            let override_model = target.override_params.get("model");
            match (&target.model, override_model) {
                (None, None) => self.fail_at(
                    name,
                    &origin,
                    at(""),
                    Problem::Invalid {
                        message: "no model: set \"model\" (or \"override_params\": {\"model\": …})"
                            .to_owned(),
                    },
                ),
                (Some(model), Some(other)) if other.as_str() != Some(model.as_str()) => {
                    self.fail_at(
                        name,
                        &origin,
                        at(".override_params.model"),
                        Problem::Invalid {
                            message: format!("conflicts with \"model\": \"{model}\"; set only one"),
                        },
                    );
                }
                (None, Some(other)) if !other.is_string() => {
                    self.fail_at(
                        name,
                        &origin,
                        at(".override_params.model"),
                        Problem::Invalid {
                            message: "must be a string".to_owned(),
                        },
                    );
                }
                _ => {}
            }
            if let Some(model) = target.model()
                && let Err(expected) = check_model_id(model)
            {
                self.fail_at(
                    name,
                    &origin,
                    at(".model"),
                    Self::invalid_value(expected, model),
                );
            }
            if let Some(weight) = target.weight
                && !(weight.is_finite() && weight >= 0.0)
            {
                self.fail_at(
                    name,
                    &origin,
                    at(".weight"),
                    Problem::Invalid {
                        message: format!("must be a number ≥ 0, found {weight}"),
                    },
                );
            }
            if let Some(host) = &target.custom_host
                && let Err(expected) = parse_http_url(host)
            {
                self.fail_at(
                    name,
                    &origin,
                    at(".custom_host"),
                    Self::invalid_value(expected, host),
                );
            }
            if let Some(codes) = target
                .retry
                .as_ref()
                .and_then(|retry| retry.on_status_codes.as_ref())
                && let Some(code) = codes.iter().find(|code| !(100..=599).contains(*code))
            {
                self.fail_at(
                    name,
                    &origin,
                    at(".retry.on_status_codes"),
                    Problem::Invalid {
                        message: format!("{code} is not an HTTP status code"),
                    },
                );
            }
        }
        let weights: Vec<f64> = targets.iter().map(Target::weight).collect();
        if !weights.is_empty() && weights.iter().all(|weight| *weight == 0.0) {
            self.fail(
                name,
                Some(origin),
                Problem::Invalid {
                    message: "every weight is 0: at least one target needs a positive weight"
                        .to_owned(),
                },
            );
        }
        targets
    }

    /// `<PROVIDER>_API_KEY` for the providers of targets without their own key
    /// (`OPENROUTER_API_KEY` is already read).
    fn provider_keys(
        &mut self,
        targets: &[Target],
        openrouter_key: Option<&Secret>,
    ) -> BTreeMap<String, Secret> {
        let mut keys = BTreeMap::new();
        for target in targets {
            if target.api_key.is_some()
                || target.virtual_key.is_some()
                || keys.contains_key(&target.provider)
            {
                continue;
            }
            let key = if target.provider == "openrouter" {
                openrouter_key.cloned()
            } else {
                let name = crate::provider_key_variable(&target.provider);
                self.dynamic_secret(&name)
            };
            if let Some(key) = key {
                keys.insert(target.provider.clone(), key);
            }
        }
        keys
    }

    /// A secret whose variable name is computed ([`secret`](Self::secret) for those).
    fn dynamic_secret(&mut self, name: &str) -> Option<Secret> {
        let value = self.source.get(name)?;
        if !value.is_unicode {
            self.fail(name, Some(value.origin), Problem::NotUnicode);
            return None;
        }
        let trimmed = value.value.trim();
        if trimmed.is_empty() {
            return None;
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            // Never echo the value: it is a credential.
            self.fail(
                name,
                Some(value.origin),
                Problem::InvalidValue {
                    expected: "a key without spaces or control characters".to_owned(),
                    found: None,
                },
            );
            return None;
        }
        self.secrets.push(trimmed.to_owned());
        Some(Secret::new(trimmed))
    }

    fn resilience(&mut self) -> ResilienceSettings {
        let defaults = ResilienceSettings::default();
        let request_timeout = self.duration("LLM_REQUEST_TIMEOUT", defaults.request_timeout, false);
        let max_retries = match self.raw("LLM_MAX_RETRIES") {
            None => defaults.max_retries,
            Some((value, origin)) => value.parse::<u32>().unwrap_or_else(|_| {
                self.fail(
                    "LLM_MAX_RETRIES",
                    Some(origin),
                    Self::invalid_value("a whole number ≥ 0", &value),
                );
                defaults.max_retries
            }),
        };
        let retry_delay = self.duration("LLM_RETRY_DELAY", defaults.retry_delay, true);
        let retry_max_delay = self.duration("LLM_RETRY_MAX_DELAY", defaults.retry_max_delay, true);
        let retryable_errors = match self.raw("LLM_RETRYABLE_ERRORS") {
            None => defaults.retryable_errors,
            Some((value, origin)) => {
                let mut classes = Vec::new();
                for name in value
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                {
                    match name.parse::<ErrorClass>() {
                        Ok(class) => classes.push(class),
                        Err(unknown) => self.fail(
                            "LLM_RETRYABLE_ERRORS",
                            Some(origin.clone()),
                            Problem::UnknownName {
                                what: "error class",
                                suggestion: suggest(name, unknown.expected.iter().copied())
                                    .map(str::to_owned),
                                found: name.to_owned(),
                                expected: unknown
                                    .expected
                                    .iter()
                                    .map(|name| (*name).to_owned())
                                    .collect(),
                            },
                        ),
                    }
                }
                classes.sort();
                classes.dedup();
                classes
            }
        };
        let request_deadline =
            self.duration("LLM_REQUEST_DEADLINE", defaults.request_deadline, false);
        let rate_limit_redis_url = self.redis_url("LLM_RATE_LIMIT_REDIS_URL");
        let rate_limits = self.rate_limits("LLM_RATE_LIMITS", defaults.rate_limits);
        ResilienceSettings {
            request_timeout,
            max_retries,
            retry_delay,
            retry_max_delay,
            retryable_errors,
            request_deadline,
            rate_limits,
            rate_limit_redis_url,
        }
    }

    fn rate_limits(
        &mut self,
        name: &'static str,
        default: BTreeMap<String, RateLimit>,
    ) -> BTreeMap<String, RateLimit> {
        // Unset keeps the default; a value that does not parse is reported by `json`.
        let Some((map, origin)) = self.json::<BTreeMap<String, RateLimit>>(name) else {
            return default;
        };
        let mut valid = BTreeMap::new();
        for (pattern, limit) in map {
            let path = format!("[{}]", json_string(&pattern));
            if pattern.is_empty()
                || pattern.len() > 256
                || pattern.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                self.fail_at(
                    name,
                    &origin,
                    path,
                    Problem::Invalid {
                        message: "a pattern is a model id in which `*` matches any text, like `*:free` or `openai/*` (no spaces, at most 256 characters)".to_owned(),
                    },
                );
                continue;
            }
            if limit.is_unlimited() {
                self.fail_at(
                    name,
                    &origin,
                    path,
                    Problem::Invalid {
                        message: "no quota: set \"rpm\", \"rpd\" or \"tpm\"".to_owned(),
                    },
                );
                continue;
            }
            let zero = [("rpm", limit.rpm), ("rpd", limit.rpd), ("tpm", limit.tpm)]
                .into_iter()
                .find(|(_, value)| *value == Some(0));
            if let Some((field, _)) = zero {
                self.fail_at(
                    name,
                    &origin,
                    format!("{path}.{field}"),
                    Problem::Invalid {
                        message: "must be at least 1 (leave the field out for no limit)".to_owned(),
                    },
                );
                continue;
            }
            valid.insert(pattern, limit);
        }
        valid
    }

    fn cache(&mut self, portkey_cache_enabled: bool) -> CacheSettings {
        let defaults = CacheSettings::default();
        let mode = match self.name("LLM_CACHE", "cache mode", CacheMode::NAMES) {
            Some("exact") => CacheMode::Exact,
            Some("semantic") => CacheMode::Semantic,
            Some(_) => {
                if portkey_cache_enabled {
                    self.warn(
                        "LLM_CACHE",
                        "`off` wins over PORTKEY_CACHE_ENABLED=true: no local response cache",
                    );
                }
                CacheMode::Off
            }
            None if portkey_cache_enabled => CacheMode::Semantic,
            None => defaults.mode,
        };
        let ttl = self.duration("LLM_CACHE_TTL", defaults.ttl, false);
        let max_entries = match self.raw("LLM_CACHE_MAX_ENTRIES") {
            None => defaults.max_entries,
            Some((value, origin)) => match value.parse::<usize>() {
                Ok(entries) if entries >= 1 => entries,
                _ => {
                    self.fail(
                        "LLM_CACHE_MAX_ENTRIES",
                        Some(origin),
                        Self::invalid_value("a whole number ≥ 1", &value),
                    );
                    defaults.max_entries
                }
            },
        };
        let (embedder, embedder_dir) = self.cache_embedder(defaults.embedder);
        let similarity = match self.raw("LLM_CACHE_SIMILARITY") {
            None => embedder.default_similarity(),
            Some((value, origin)) => match value.parse::<f32>() {
                Ok(similarity) if similarity > 0.0 && similarity <= 1.0 => similarity,
                _ => {
                    self.fail(
                        "LLM_CACHE_SIMILARITY",
                        Some(origin),
                        Self::invalid_value(
                            "a number greater than 0 and at most 1 (like 0.9)",
                            &value,
                        ),
                    );
                    embedder.default_similarity()
                }
            },
        };
        let redis_url = self.redis_url("LLM_CACHE_REDIS_URL");
        CacheSettings {
            mode,
            ttl,
            max_entries,
            embedder,
            embedder_dir,
            similarity,
            redis_url,
        }
    }

    /// `LLM_CACHE_EMBEDDER`: `lexical`, `local`, or `local:DIR` with DIR a sentence-transformer
    /// folder holding the files the local embedder loads.
    fn cache_embedder(&mut self, default: CacheEmbedder) -> (CacheEmbedder, Option<PathBuf>) {
        const NAME: &str = "LLM_CACHE_EMBEDDER";
        let Some((value, origin)) = self.raw(NAME) else {
            return (default, None);
        };
        let Some(dir) = value
            .get(..6)
            .filter(|prefix| prefix.eq_ignore_ascii_case("local:"))
            .and_then(|_| value.get(6..))
        else {
            let embedder = match self.name(NAME, "embedder", CacheEmbedder::NAMES) {
                Some("local") => CacheEmbedder::Local,
                _ => default,
            };
            return (embedder, None);
        };
        let dir = PathBuf::from(dir.trim());
        let missing: Vec<&str> = CacheSettings::MODEL_FILES
            .iter()
            .copied()
            .filter(|file| !dir.join(file).is_file())
            .collect();
        if dir.as_os_str().is_empty() || !dir.is_dir() {
            self.fail(
                NAME,
                Some(origin),
                Self::invalid_value(
                    "`lexical`, `local` or `local:DIR` with DIR an existing sentence-transformer folder",
                    &value,
                ),
            );
            return (default, None);
        }
        if !missing.is_empty() {
            self.fail(
                NAME,
                Some(origin),
                Self::invalid_value(
                    &format!(
                        "a sentence-transformer folder after `local:`, but it has no {}",
                        missing.join(", ")
                    ),
                    &value,
                ),
            );
            return (default, None);
        }
        (CacheEmbedder::Local, Some(dir))
    }

    fn redis_url(&mut self, name: &'static str) -> Option<Secret> {
        let secret = self.secret(name)?;
        // Never echo the value: the URL may carry a password.
        let valid = Url::parse(secret.expose()).is_ok_and(|url| {
            matches!(url.scheme(), "redis" | "rediss" | "redis+unix" | "unix")
                && (url.host_str().is_some() || url.scheme().contains("unix"))
        });
        if valid {
            Some(secret)
        } else {
            let origin = self.source.get(name).map(|value| value.origin);
            self.fail(
                name,
                origin,
                Problem::InvalidValue {
                    expected: "a redis:// or rediss:// URL (the value is not shown: it may hold a password)".to_owned(),
                    found: None,
                },
            );
            None
        }
    }

    // ----- whole-configuration checks ---------------------------------------------------------

    fn cross_checks(&mut self, settings: &Settings) {
        let resilience = &settings.resilience;
        if resilience.retry_delay > resilience.retry_max_delay {
            let origin = self.source.get("LLM_RETRY_DELAY").map(|value| value.origin);
            self.fail("LLM_RETRY_DELAY", origin, Problem::Invalid {
                message: format!(
                    "{}s is more than LLM_RETRY_MAX_DELAY ({}s); the delay must not exceed its cap",
                    resilience.retry_delay.as_secs_f64(),
                    resilience.retry_max_delay.as_secs_f64()
                ),
            });
        }
        if resilience.request_deadline < resilience.request_timeout {
            self.warn(
                "LLM_REQUEST_DEADLINE",
                format!(
                    "{}s is less than LLM_REQUEST_TIMEOUT ({}s): an attempt is cut at the deadline before its own timeout",
                    resilience.request_deadline.as_secs_f64(),
                    resilience.request_timeout.as_secs_f64()
                ),
            );
        }
        match settings.preferred_provider {
            ProviderKind::OpenRouter if settings.openrouter.api_key.is_none() => self.warn(
                "OPENROUTER_API_KEY",
                "not set: requests to OpenRouter will fail with an auth error (`orchestra demo` runs offline without it)",
            ),
            ProviderKind::Portkey => {
                if settings.portkey.fallbacks.is_empty() {
                    self.warn("PORTKEY_FALLBACKS", "empty while PREFERRED_LLM_PROVIDER is portkey: the gateway has no targets to route to");
                }
                if settings.portkey.virtual_key.is_none() {
                    for (index, target) in settings.portkey.fallbacks.iter().enumerate() {
                        let keyless = target.api_key.is_none()
                            && target.virtual_key.is_none()
                            && !settings.portkey.provider_keys.contains_key(&target.provider);
                        if keyless {
                            self.warn(
                                "PORTKEY_FALLBACKS",
                                format!(
                                    "[{index}] ({}) has no api_key or virtual_key and {} is not set: the gateway sends that provider no key",
                                    target.provider,
                                    crate::provider_key_variable(&target.provider)
                                ),
                            );
                        }
                    }
                }
                let hosted = settings.portkey.base_url.host_str() == Some("api.portkey.ai");
                if hosted && settings.portkey.api_key.is_none() {
                    self.warn("PORTKEY_API_KEY", "not set: the hosted Portkey gateway rejects requests without it");
                }
            }
            _ => {}
        }
    }

    fn unknown_variables(&mut self) {
        let known: Vec<&str> = VARIABLES.iter().map(|variable| variable.name).collect();
        for name in self.source.names() {
            let owned = OWNED_PREFIXES.iter().any(|prefix| name.starts_with(prefix));
            if !owned || known.contains(&name.as_str()) {
                continue;
            }
            if let Some(suggestion) = suggest(&name, known.iter().copied()) {
                self.warn(
                    &name,
                    format!("unknown variable, ignored (did you mean {suggestion}?)"),
                );
            }
        }
    }
}

/// The Portkey slug for a provider name people often use instead.
fn suggest_provider(name: &str) -> Option<String> {
    const ALIASES: &[(&str, &str)] = &[
        ("gemini", "google"),
        ("claude", "anthropic"),
        ("gpt", "openai"),
        ("azure", "azure-openai"),
        ("mistral", "mistral-ai"),
        ("mistralai", "mistral-ai"),
        ("together", "together-ai"),
        ("fireworks", "fireworks-ai"),
        ("perplexity", "perplexity-ai"),
        ("vertex", "vertex-ai"),
        ("xai", "x-ai"),
        ("aws", "bedrock"),
    ];
    let lowered = name.to_ascii_lowercase();
    if PORTKEY_PROVIDERS.contains(&lowered.as_str()) {
        return Some(lowered);
    }
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == lowered)
        .map(|(_, slug)| *slug)
        .or_else(|| suggest(name, PORTKEY_PROVIDERS.iter().copied()))
        .map(str::to_owned)
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
}

/// Parses seconds: `30`, `1.5`, `500ms`, `2s`, `1m`.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, scale) = if let Some(number) = text.strip_suffix("ms") {
        (number, 0.001)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('m') {
        (number, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number.trim().parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(value * scale).ok()
}

fn parse_http_url(text: &str) -> Result<Url, &'static str> {
    const EXPECTED: &str = "an http:// or https:// URL";
    let url = Url::parse(text.trim_end_matches('/')).map_err(|_| EXPECTED)?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(EXPECTED);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a URL without credentials (put keys in the *_API_KEY variables)");
    }
    Ok(url)
}

fn check_model_id(model: &str) -> Result<(), &'static str> {
    if model.is_empty()
        || model.len() > 256
        || model.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        Err("a model id like `openai/gpt-4o` (no spaces, at most 256 characters)")
    } else {
        Ok(())
    }
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_seconds_and_units() {
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("-1"), None);
        assert_eq!(parse_duration("NaN"), None);
        assert_eq!(parse_duration("inf"), None);
        assert_eq!(parse_duration("1e300"), None);
        assert_eq!(parse_duration("ten"), None);
    }

    #[test]
    fn urls_must_be_http_without_credentials() {
        assert!(parse_http_url("http://127.0.0.1:8080/api/v1/").is_ok());
        assert!(parse_http_url("ftp://example.com").is_err());
        assert!(parse_http_url("openrouter.ai/api/v1").is_err());
        assert!(parse_http_url("https://user:pass@example.com").is_err());
    }
}
