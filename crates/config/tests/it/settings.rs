//! The resolved settings for the origin documents' configurations.

use orchestra_config::{CacheSettings, MapEnv, ProviderKind, Settings, Strategy};

/// The OpenRouter configuration of the origin documents, with every optional variable set.
fn openrouter_env() -> MapEnv {
    MapEnv::from_iter([
        ("OPENROUTER_API_KEY", "sk-or-v1-0123456789abcdef"),
        ("PREFERRED_LLM_PROVIDER", "openrouter"),
        ("OPENROUTER_DEFAULT_MODEL", "anthropic/claude-3-opus-20k"),
        (
            "OPENROUTER_FREE_FALLBACKS",
            "google/gemini-2.5-flash:free, mistralai/mixtral-8x7b:free",
        ),
        (
            "OPENROUTER_HEADERS",
            r#"{"HTTP-Referer":"https://yourdomain.com","X-Title":"Your Project Name"}"#,
        ),
        (
            "AGENT_MODEL_MAP",
            r#"{"researcher":"anthropic/claude-3-opus-20k","validator":"openai/gpt-4o","executor":"meta-llama/llama-3-70b-instruct"}"#,
        ),
        ("LLM_REQUEST_TIMEOUT", "30"),
        ("LLM_MAX_RETRIES", "3"),
        ("LLM_RETRY_DELAY", "1.0"),
        ("LLM_RETRY_MAX_DELAY", "60.0"),
        (
            "LLM_RETRYABLE_ERRORS",
            "connection_error,timeout_error,rate_limit_error,service_error",
        ),
    ])
}

/// The Portkey configuration of the origin documents.
fn portkey_env() -> MapEnv {
    MapEnv::from_iter([
        ("PORTKEY_API_KEY", "pk-secret-portkey-key"),
        ("PREFERRED_LLM_PROVIDER", "portkey"),
        (
            "PORTKEY_FALLBACKS",
            r#"[
  {"provider":"openrouter", "model":"anthropic/claude-3-opus-20k", "weight": 70},
  {"provider":"openrouter", "model":"google/gemini-2.5-flash:free", "weight": 20},
  {"provider":"groq", "model":"mixtral-8x7b-32768", "weight": 10, "api_key": "gsk-secret-groq"}
]"#,
        ),
        ("PORTKEY_STRATEGY", "loadbalance"),
        ("PORTKEY_CACHE_ENABLED", "true"),
        ("TRACE_ID", "your-trace-id"),
        ("VIRTUAL_KEY", "vk-secret-virtual"),
        (
            "AGENT_MODEL_MAP",
            r#"{"researcher":"anthropic/claude-3-opus-20k"}"#,
        ),
    ])
}

#[test]
fn openrouter_settings_resolve_with_secrets_redacted() {
    let loaded = Settings::load(&openrouter_env()).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let json = serde_json::to_string(&loaded.settings).unwrap();
    assert!(!json.contains("sk-or-v1-0123456789abcdef"));
    insta::assert_json_snapshot!(loaded.settings);
}

#[test]
fn portkey_settings_resolve_with_secrets_redacted() {
    let loaded = Settings::load(&portkey_env()).unwrap();
    let settings = &loaded.settings;
    assert_eq!(settings.preferred_provider, ProviderKind::Portkey);
    assert_eq!(settings.portkey.strategy, Strategy::Loadbalance);
    assert_eq!(
        settings.portkey.fallbacks[2]
            .api_key
            .as_ref()
            .unwrap()
            .expose(),
        "gsk-secret-groq"
    );
    let debug = format!("{settings:?}");
    for secret in [
        "pk-secret-portkey-key",
        "gsk-secret-groq",
        "vk-secret-virtual",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked into Debug output");
    }
    insta::assert_json_snapshot!(loaded.settings);
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let loaded = Settings::load(&MapEnv::new()).unwrap();
    assert_eq!(loaded.settings, Settings::default());
    insta::assert_json_snapshot!(loaded.settings);
    // Without a key the user is told, but the configuration stays valid (offline demo).
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].variable, "OPENROUTER_API_KEY");
}

#[test]
fn routes_follow_agent_map_then_fallbacks() {
    let settings = Settings::load(&openrouter_env()).unwrap().settings;
    let routes: Vec<String> = [
        None,
        Some("researcher"),
        Some("validator"),
        Some("unmapped"),
    ]
    .into_iter()
    .map(|agent| {
        format!(
            "{:<10} {}",
            agent.unwrap_or("(none)"),
            settings.route(agent)
        )
    })
    .collect();
    insta::assert_snapshot!(routes.join("\n"), @r"
    (none)     anthropic/claude-3-opus-20k → google/gemini-2.5-flash:free → mistralai/mixtral-8x7b:free  [openrouter fallback]
    researcher anthropic/claude-3-opus-20k → google/gemini-2.5-flash:free → mistralai/mixtral-8x7b:free  [openrouter fallback]
    validator  openai/gpt-4o → google/gemini-2.5-flash:free → mistralai/mixtral-8x7b:free  [openrouter fallback]
    unmapped   anthropic/claude-3-opus-20k → google/gemini-2.5-flash:free → mistralai/mixtral-8x7b:free  [openrouter fallback]
    ");

    let portkey = Settings::load(&portkey_env()).unwrap().settings;
    assert_eq!(
        portkey.route(None).models,
        [
            "anthropic/claude-3-opus-20k",
            "google/gemini-2.5-flash:free",
            "mixtral-8x7b-32768"
        ]
    );
}

#[test]
fn values_are_trimmed_and_case_insensitive_names_accepted() {
    let env = MapEnv::from_iter([
        ("PREFERRED_LLM_PROVIDER", "  Portkey "),
        ("PORTKEY_STRATEGY", "COST_AWARE"),
        ("PORTKEY_CACHE_ENABLED", "yes"),
        ("LLM_REQUEST_TIMEOUT", "500ms"),
        (
            "LLM_RETRYABLE_ERRORS",
            "timeout_error, timeout_error,connection_error",
        ),
        ("OPENROUTER_BASE_URL", "http://127.0.0.1:8080/api/v1/"),
        (
            "PORTKEY_FALLBACKS",
            r#"[{"provider":"openai","override_params":{"model":"gpt-4o","temperature":0}}]"#,
        ),
    ]);
    let settings = Settings::load(&env).unwrap().settings;
    assert_eq!(settings.preferred_provider, ProviderKind::Portkey);
    assert_eq!(settings.portkey.strategy, Strategy::CostAware);
    assert!(settings.portkey.cache_enabled);
    assert_eq!(settings.resilience.request_timeout.as_millis(), 500);
    assert_eq!(
        settings.resilience.retryable_errors,
        [
            orchestra_core::ErrorClass::Connection,
            orchestra_core::ErrorClass::Timeout
        ]
    );
    assert_eq!(
        settings.openrouter.base_url.as_str(),
        "http://127.0.0.1:8080/api/v1"
    );
    assert_eq!(settings.portkey.fallbacks[0].model(), Some("gpt-4o"));
}

#[test]
fn warnings_point_at_likely_mistakes() {
    let env = MapEnv::from_iter([
        ("OPENROUTER_API_KEY", "sk-or-v1-x"),
        ("OPENROUTER_DEFUALT_MODEL", "openai/gpt-4o"),
        (
            "OPENROUTER_FREE_FALLBACKS",
            "openai/gpt-4o-mini,google/gemma:free,google/gemma:free",
        ),
        ("LLM_SOMETHING_ELSE_ENTIRELY", "1"),
    ]);
    let warnings: Vec<String> = Settings::load(&env)
        .unwrap()
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    insta::assert_snapshot!(warnings.join("\n"), @r"
    OPENROUTER_FREE_FALLBACKS: `openai/gpt-4o-mini` is not a `:free` model: requests it serves are billed
    OPENROUTER_FREE_FALLBACKS: `google/gemma:free` is listed twice; the second entry is ignored
    OPENROUTER_DEFUALT_MODEL: unknown variable, ignored (did you mean OPENROUTER_DEFAULT_MODEL?)
    ");
}

#[test]
fn rate_limits_and_deadline_resolve() {
    use orchestra_config::{RateLimit, ResilienceSettings};

    let defaults = Settings::default().resilience;
    assert_eq!(
        defaults.rate_limits,
        ResilienceSettings::default_rate_limits()
    );
    assert_eq!(
        defaults.rate_limits["*:free"],
        RateLimit::new().rpm(20).rpd(50)
    );

    let env = MapEnv::from_iter([
        (
            "LLM_RATE_LIMITS",
            r#"{"*:free": {"rpm": 20, "rpd": 1000}, "openai/*": {"rpm": 500, "tpm": 200000}}"#,
        ),
        ("LLM_REQUEST_DEADLINE", "45s"),
        (
            "LLM_RATE_LIMIT_REDIS_URL",
            "redis://:hunter2@127.0.0.1:6379/0",
        ),
    ]);
    let loaded = Settings::load(&env).unwrap();
    let resilience = &loaded.settings.resilience;
    assert_eq!(
        resilience.request_deadline,
        std::time::Duration::from_secs(45)
    );
    assert_eq!(resilience.rate_limits.len(), 2);
    assert_eq!(
        resilience.rate_limits["openai/*"],
        RateLimit::new().rpm(500).tpm(200_000)
    );
    let described = loaded.settings.describe();
    let redis = described
        .iter()
        .find(|(name, _)| *name == "LLM_RATE_LIMIT_REDIS_URL")
        .unwrap();
    assert_eq!(redis.1, "[redacted]");
    assert!(!format!("{:?}", loaded.settings).contains("hunter2"));

    let off = Settings::load(&MapEnv::from_iter([("LLM_RATE_LIMITS", "{}")])).unwrap();
    assert!(off.settings.resilience.rate_limits.is_empty());

    let short = Settings::load(&MapEnv::from_iter([("LLM_REQUEST_DEADLINE", "10")])).unwrap();
    assert!(
        short
            .warnings
            .iter()
            .any(|warning| warning.variable == "LLM_REQUEST_DEADLINE"),
        "{:?}",
        short.warnings
    );
}

#[test]
fn provider_keys_are_read_for_keyless_targets_only_and_never_shown() {
    let env = MapEnv::from_iter([
        ("PREFERRED_LLM_PROVIDER", "portkey"),
        (
            "PORTKEY_FALLBACKS",
            r#"[
  {"provider":"openai", "model":"gpt-4o-mini"},
  {"provider":"openrouter", "model":"google/gemini-2.5-flash:free"},
  {"provider":"groq", "model":"mixtral-8x7b-32768", "api_key": "gsk-own-key"},
  {"provider":"together-ai", "model":"meta-llama/Llama-3-8b-chat-hf"}
]"#,
        ),
        ("OPENAI_API_KEY", "sk-openai-secret"),
        ("OPENROUTER_API_KEY", "sk-or-v1-secret"),
        ("GROQ_API_KEY", "gsk-unused-secret"),
        ("PORTKEY_BASE_URL", "http://127.0.0.1:8787/v1"),
    ]);
    let loaded = Settings::load(&env).unwrap();
    let keys = &loaded.settings.portkey.provider_keys;
    let names: Vec<&str> = keys.keys().map(String::as_str).collect();
    // groq has its own api_key; together-ai has no TOGETHER_AI_API_KEY.
    assert_eq!(names, ["openai", "openrouter"]);
    assert_eq!(keys["openai"].expose(), "sk-openai-secret");
    assert_eq!(keys["openrouter"].expose(), "sk-or-v1-secret");

    let described = loaded.settings.describe();
    let row = described
        .iter()
        .find(|(name, _)| *name == "<PROVIDER>_API_KEY")
        .unwrap();
    assert_eq!(
        row.1,
        "OPENAI_API_KEY=[redacted], OPENROUTER_API_KEY=[redacted]"
    );
    let shown = format!(
        "{:?} {} {described:?}",
        loaded.settings,
        serde_json::to_string(&loaded.settings).unwrap()
    );
    for secret in ["sk-openai-secret", "sk-or-v1-secret", "gsk-"] {
        assert!(!shown.contains(secret), "{secret} leaked");
    }
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "PORTKEY_FALLBACKS: [3] (together-ai) has no api_key or virtual_key and TOGETHER_AI_API_KEY is not set: the gateway sends that provider no key"
        ]
    );
}

#[test]
fn cache_settings_and_the_portkey_switch() {
    use orchestra_config::CacheMode;

    let loaded = Settings::load(&MapEnv::from_iter([
        ("LLM_CACHE", "Exact"),
        ("LLM_CACHE_TTL", "90s"),
        ("LLM_CACHE_MAX_ENTRIES", "500"),
        ("LLM_CACHE_SIMILARITY", "0.95"),
        ("LLM_CACHE_REDIS_URL", "redis://:hunter2@127.0.0.1:6379/1"),
    ]))
    .unwrap();
    let cache = &loaded.settings.cache;
    assert_eq!(cache.mode, CacheMode::Exact);
    assert_eq!(cache.ttl.as_secs(), 90);
    assert_eq!(cache.max_entries, 500);
    assert!((cache.similarity - 0.95).abs() < 1e-6);
    assert_eq!(
        cache.redis_url.as_ref().unwrap().expose(),
        "redis://:hunter2@127.0.0.1:6379/1"
    );
    let described = loaded.settings.describe();
    assert!(!format!("{described:?}").contains("hunter2"));

    // Each embedder has its own measured default similarity; an explicit one wins.
    use orchestra_config::CacheEmbedder;
    assert_eq!(cache.embedder, CacheEmbedder::Lexical);
    let local = Settings::load(&MapEnv::from_iter([("LLM_CACHE_EMBEDDER", "Local")])).unwrap();
    assert_eq!(local.settings.cache.embedder, CacheEmbedder::Local);
    assert_eq!(
        local.settings.cache.similarity,
        CacheEmbedder::Local.default_similarity()
    );
    assert_ne!(
        CacheEmbedder::Local.default_similarity(),
        CacheEmbedder::Lexical.default_similarity()
    );
    let explicit = Settings::load(&MapEnv::from_iter([
        ("LLM_CACHE_EMBEDDER", "local"),
        ("LLM_CACHE_SIMILARITY", "0.9"),
    ]))
    .unwrap();
    assert!((explicit.settings.cache.similarity - 0.9).abs() < 1e-6);
    assert_eq!(explicit.settings.cache.embedder_dir, None);

    // `local:DIR`: the local embedder with a model folder.
    let dir = tempfile::tempdir().unwrap();
    for file in CacheSettings::MODEL_FILES {
        std::fs::write(dir.path().join(file), "").unwrap();
    }
    let value = format!("LOCAL:{}", dir.path().display());
    let folder =
        Settings::load(&MapEnv::from_iter([("LLM_CACHE_EMBEDDER", value.as_str())])).unwrap();
    let cache = &folder.settings.cache;
    assert_eq!(cache.embedder, CacheEmbedder::Local);
    assert_eq!(cache.embedder_dir.as_deref(), Some(dir.path()));
    assert_eq!(cache.similarity, CacheEmbedder::Local.default_similarity());
    let described = format!("{:?}", folder.settings.describe());
    assert!(
        described.contains(&format!("local:{}", dir.path().display())),
        "{described}"
    );
    let lexical = Settings::load(&MapEnv::from_iter([("LLM_CACHE", "semantic")])).unwrap();
    assert_eq!(
        lexical.settings.cache.similarity,
        CacheSettings::DEFAULT_SIMILARITY
    );

    // PORTKEY_CACHE_ENABLED turns the cache on unless LLM_CACHE says otherwise.
    let portkey = Settings::load(&MapEnv::from_iter([("PORTKEY_CACHE_ENABLED", "true")])).unwrap();
    assert_eq!(portkey.settings.cache.mode, CacheMode::Semantic);
    let off = Settings::load(&MapEnv::from_iter([
        ("PORTKEY_CACHE_ENABLED", "true"),
        ("LLM_CACHE", "off"),
    ]))
    .unwrap();
    assert_eq!(off.settings.cache.mode, CacheMode::Off);
    assert!(
        off.warnings
            .iter()
            .any(|warning| warning.variable == "LLM_CACHE")
    );
}
