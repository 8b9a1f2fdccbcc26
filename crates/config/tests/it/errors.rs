//! Every class of bad value: the message names the variable, says what was expected and, for
//! JSON, where. Secrets never appear.

use orchestra_config::{MapEnv, Settings};

fn errors_for(vars: &[(&str, &str)]) -> String {
    let env = MapEnv::from_iter(vars.iter().copied());
    match Settings::load(&env) {
        Ok(_) => panic!("expected {vars:?} to be rejected"),
        Err(errors) => errors.to_string(),
    }
}

macro_rules! rejects {
    ($name:ident, $($var:expr => $value:expr),+ $(,)?) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(errors_for(&[$(($var, $value)),+]));
        }
    };
}

rejects!(malformed_fallbacks_json, "PORTKEY_FALLBACKS" =>
    r#"[{"provider":"openrouter","model":"a/b","weight":70} {"provider":"groq","model":"c"}]"#);
rejects!(malformed_multiline_json_points_at_the_line, "PORTKEY_FALLBACKS" =>
    "[\n  {\"provider\":\"openrouter\", \"model\":\"a/b\"},\n  {\"provider\":\"groq\" \"model\":\"c\"}\n]");
rejects!(malformed_agent_map, "AGENT_MODEL_MAP" => r#"{"researcher":"a/b", "executor" "c/d"}"#);
rejects!(agent_map_of_wrong_type, "AGENT_MODEL_MAP" => r#"["researcher", "a/b"]"#);
rejects!(malformed_headers, "OPENROUTER_HEADERS" => r#"{"X-Title": "App",}"#);
rejects!(invalid_header_name_and_value, "OPENROUTER_HEADERS" =>
    r#"{"Bad Header": "x", "X-Title": "line\nbreak"}"#);
rejects!(unknown_target_field, "PORTKEY_FALLBACKS" => r#"[{"provider":"openai","modle":"gpt-4o"}]"#);
rejects!(unknown_provider_names, "PORTKEY_FALLBACKS" =>
    r#"[{"provider":"open-router","model":"a/b"},{"provider":"gemini","model":"c/d"}]"#);
rejects!(negative_and_missing_fields_in_targets, "PORTKEY_FALLBACKS" =>
    r#"[{"provider":"openai","model":"gpt-4o","weight":-5},{"provider":"groq"},{"provider":"openai","model":"a","override_params":{"model":"b"}}]"#);
rejects!(all_zero_weights, "PORTKEY_FALLBACKS" =>
    r#"[{"provider":"openai","model":"gpt-4o","weight":0},{"provider":"groq","model":"x","weight":0}]"#);
rejects!(bad_custom_host_and_status_codes, "PORTKEY_FALLBACKS" =>
    r#"[{"provider":"openai","model":"gpt-4o","custom_host":"localhost:8080","retry":{"attempts":2,"on_status_codes":[429,999]}}]"#);
rejects!(unknown_strategy, "PORTKEY_STRATEGY" => "round_robin");
rejects!(misspelt_strategy, "PORTKEY_STRATEGY" => "load-balance");
rejects!(unknown_provider, "PREFERRED_LLM_PROVIDER" => "openroutr");
rejects!(non_positive_timeout, "LLM_REQUEST_TIMEOUT" => "0");
rejects!(negative_timeout, "LLM_REQUEST_TIMEOUT" => "-3");
rejects!(non_numeric_delay, "LLM_RETRY_DELAY" => "fast");
rejects!(negative_retries, "LLM_MAX_RETRIES" => "-1");
rejects!(delay_above_max_delay, "LLM_RETRY_DELAY" => "10", "LLM_RETRY_MAX_DELAY" => "5");
rejects!(unknown_retryable_error, "LLM_RETRYABLE_ERRORS" => "connection_error,server_error,bogus");
rejects!(bad_boolean, "PORTKEY_CACHE_ENABLED" => "maybe");
rejects!(bad_base_url, "OPENROUTER_BASE_URL" => "openrouter.ai/api");
rejects!(model_with_spaces, "OPENROUTER_DEFAULT_MODEL" => "openai gpt-4o");
rejects!(api_key_with_whitespace_is_not_echoed, "OPENROUTER_API_KEY" => "sk-or-v1 secretpart");

#[test]
fn several_problems_are_reported_together_in_documentation_order() {
    let message = errors_for(&[
        ("LLM_REQUEST_TIMEOUT", "0"),
        ("PORTKEY_STRATEGY", "random"),
        ("AGENT_MODEL_MAP", "{"),
        ("LLM_RETRYABLE_ERRORS", "nope"),
        ("PREFERRED_LLM_PROVIDER", "azure"),
    ]);
    let variables: Vec<&str> = message
        .lines()
        .filter(|line| !line.starts_with(' '))
        .map(|line| line.split(':').next().unwrap())
        .collect();
    assert_eq!(
        variables,
        [
            "PREFERRED_LLM_PROVIDER",
            "AGENT_MODEL_MAP",
            "PORTKEY_STRATEGY",
            "LLM_REQUEST_TIMEOUT",
            "LLM_RETRYABLE_ERRORS"
        ]
    );
}

#[test]
fn secrets_never_appear_in_error_messages() {
    let key = "sk-or-v1-TOPSECRET";
    let message = errors_for(&[
        ("OPENROUTER_API_KEY", key),
        (
            "PORTKEY_FALLBACKS",
            r#"[{"provider":"openai","api_key":"sk-or-v1-TOPSECRET" "model":"gpt-4o"}]"#,
        ),
        ("OPENROUTER_HEADERS", r#"{"X-Other": "sk-or-v1-TOPSECRET" "#),
    ]);
    assert!(message.contains("PORTKEY_FALLBACKS"), "{message}");
    assert!(message.contains("OPENROUTER_HEADERS"), "{message}");
    assert!(!message.contains("TOPSECRET"), "{message}");
}

rejects!(malformed_rate_limits, "LLM_RATE_LIMITS" => r#"{"*:free": {"rpm": 20 "rpd": 50}}"#);
rejects!(rate_limits_of_wrong_shape, "LLM_RATE_LIMITS" =>
    r#"{"openai/*": {"rpm": 500, "rps": 5}, "a/b": {"rpm": -1}}"#);
rejects!(rate_limits_zero_empty_and_bad_pattern, "LLM_RATE_LIMITS" =>
    r#"{"openai/*": {"rpm": 0}, "*:free": {}, "bad pattern": {"rpd": 5}}"#);
rejects!(non_positive_deadline, "LLM_REQUEST_DEADLINE" => "0");
rejects!(redis_url_is_not_echoed, "LLM_RATE_LIMIT_REDIS_URL" => "http://:hunter2@localhost:6379");
rejects!(unknown_cache_mode, "LLM_CACHE" => "semantics");
rejects!(unknown_cache_embedder, "LLM_CACHE_EMBEDDER" => "locale");
rejects!(missing_cache_model_folder, "LLM_CACHE_EMBEDDER" => "local:/nonexistent/minilm");
rejects!(empty_cache_model_folder, "LLM_CACHE_EMBEDDER" => "local:");

#[test]
fn a_cache_model_folder_must_hold_the_model_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    let value = format!("local:{}", dir.path().display());
    let message = errors_for(&[("LLM_CACHE_EMBEDDER", &value)]);
    assert!(message.contains("LLM_CACHE_EMBEDDER"), "{message}");
    assert!(
        message.contains("no tokenizer.json, model.safetensors"),
        "{message}"
    );
}
rejects!(cache_values_out_of_range, "LLM_CACHE_TTL" => "0", "LLM_CACHE_MAX_ENTRIES" => "0",
    "LLM_CACHE_SIMILARITY" => "1.5");
rejects!(cache_redis_url_is_not_echoed, "LLM_CACHE_REDIS_URL" => "localhost:hunter2");
