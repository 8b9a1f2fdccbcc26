//! Configuration parsing: any environment (plain values and the JSON variables
//! AGENT_MODEL_MAP, PORTKEY_FALLBACKS, LLM_ROUTING_TARGETS, LLM_RATE_LIMITS, …) loads into
//! settings or into errors that name a variable; never a panic, and never a credential in
//! `Debug`, `describe()`, a warning or an error.
//!
//! Input: NUL-separated records, each `[variable pick, value…]` (see `env_pairs`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use orchestra_config::{MapEnv, Settings, VARIABLES};
use orchestra_fuzz::{CANARY, env_with_canary};

/// Every variable, a few provider keys, and misspellings (for the warnings).
fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = VARIABLES
        .iter()
        .map(|variable| variable.name)
        .filter(|name| !name.starts_with('<'))
        .collect();
    names.extend([
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GROQ_API_KEY",
        "OPENROUTER_API_KY",
        "PORTKEY_FALLBACK",
        "LLM_RATE_LIMIT",
    ]);
    names
}

fuzz_target!(|data: &[u8]| {
    let (pairs, canary_only_in_secrets) = env_with_canary(data, &names());
    let env = MapEnv::from_iter(
        pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    );
    let mut seen = Vec::new();
    match Settings::load(&env) {
        Ok(loaded) => {
            let settings = &loaded.settings;
            seen.push(format!("{settings:?}"));
            for (name, value) in settings.describe() {
                seen.push(format!("{name}={value}"));
            }
            for agent in [None, Some("researcher"), Some("")] {
                seen.push(settings.route(agent).to_string());
                let _ = settings.primary_model(agent);
            }
            seen.extend(loaded.warnings.iter().map(ToString::to_string));
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "an error without a problem");
            for error in errors.errors() {
                assert!(!error.variable().is_empty(), "an error naming no variable");
            }
            seen.push(errors.to_string());
            seen.push(format!("{errors:?}"));
        }
    }
    if canary_only_in_secrets {
        for text in &seen {
            assert!(!text.contains(CANARY), "a credential was shown: {text}");
        }
    }
});
