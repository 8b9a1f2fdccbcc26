//! The Portkey config builder: from any settings (PORTKEY_FALLBACKS above all) and any
//! requested model, building the client fails with a typed error or yields an inline
//! `x-portkey-config` that is valid JSON of the documented shape, with every credential
//! `[redacted]` in the shown copy. Never a panic.
//!
//! Input: NUL-separated records `[variable pick, value…]`; the pseudo-variable
//! `REQUEST_MODEL` is the request's own model.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orchestra_config::{MapEnv, Settings};
use orchestra_core::{ChatRequest, ErrorKind, Message};
use orchestra_fuzz::{CANARY, env_with_canary, runtime};
use orchestra_provider_portkey::Portkey;
use serde_json::Value;

const NAMES: &[&str] = &[
    "PORTKEY_FALLBACKS",
    "PORTKEY_FALLBACKS",
    "PORTKEY_FALLBACKS",
    "PORTKEY_STRATEGY",
    "PORTKEY_API_KEY",
    "VIRTUAL_KEY",
    "PORTKEY_BASE_URL",
    "PORTKEY_CACHE_ENABLED",
    "TRACE_ID",
    "OPENAI_API_KEY",
    "OPENROUTER_API_KEY",
    "LLM_MAX_RETRIES",
    "LLM_RETRYABLE_ERRORS",
    "LLM_REQUEST_TIMEOUT",
    "REQUEST_MODEL",
];

/// Checks one target object (or a nested group) of the shown config.
fn check_target(target: &Value, depth: usize) {
    assert!(depth < 4, "targets nested too deep: {target}");
    let object = target.as_object().expect("a target is an object");
    if let Some(group) = object.get("targets") {
        assert!(object.contains_key("strategy"), "a group without strategy");
        for inner in group.as_array().expect("targets is an array") {
            check_target(inner, depth + 1);
        }
        return;
    }
    assert!(object.get("provider").is_some_and(Value::is_string));
    let params = object
        .get("override_params")
        .and_then(Value::as_object)
        .expect("override_params");
    assert!(
        params.get("model").is_some_and(Value::is_string),
        "no model"
    );
    for key in ["api_key", "virtual_key"] {
        if let Some(value) = object.get(key) {
            assert_eq!(value, "[redacted]", "{key} shown");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (mut pairs, canary_only_in_secrets) = env_with_canary(data, NAMES);
    let model = pairs
        .iter()
        .position(|(name, _)| name == "REQUEST_MODEL")
        .map(|index| pairs.remove(index).1);
    pairs.push(("PREFERRED_LLM_PROVIDER".into(), "portkey".into()));
    let env = MapEnv::from_iter(
        pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    );
    let Ok(loaded) = Settings::load(&env) else {
        return; // The config target covers loading.
    };
    let portkey = match Portkey::from_settings(&loaded.settings) {
        Ok(portkey) => portkey,
        Err(error) => {
            assert_eq!(error.kind(), ErrorKind::Config, "{error}");
            if canary_only_in_secrets {
                assert!(
                    !error.to_string().contains(CANARY),
                    "a credential in {error}"
                );
            }
            return;
        }
    };
    let mut request = ChatRequest::new(vec![Message::user("hi")]);
    request.model = model;
    let config = runtime().block_on(portkey.config_for(&request));
    let text = config.to_string();
    let reparsed: Value = serde_json::from_str(&text).expect("the config is valid JSON");
    assert_eq!(reparsed, config, "the config does not round-trip");
    if canary_only_in_secrets {
        assert!(
            !text.contains(CANARY),
            "a credential in the shown config: {text}"
        );
        assert!(
            !format!("{portkey:?}").contains(CANARY),
            "a credential in Debug"
        );
    }
    let Value::Object(root) = &config else {
        return; // A saved config id (a string).
    };
    let mode = root
        .get("strategy")
        .and_then(|strategy| strategy.get("mode"))
        .and_then(Value::as_str);
    assert!(
        matches!(mode, Some("fallback" | "loadbalance")),
        "mode {mode:?}"
    );
    let targets = root
        .get("targets")
        .and_then(Value::as_array)
        .expect("targets");
    assert!(!targets.is_empty() || portkey.targets().is_empty());
    for target in targets {
        check_target(target, 0);
    }
});
