//! Typed, validated orchestra-llm settings from the environment and a `.env` file.
//!
//! Every variable of the origin documents (`OPENROUTER_*`, `PORTKEY_*`,
//! `PREFERRED_LLM_PROVIDER`, `AGENT_MODEL_MAP`, `LLM_*`, `TRACE_ID`, `VIRTUAL_KEY`) becomes a
//! typed field of [`Settings`]. Problems are reported together, each naming its variable;
//! malformed JSON values get the line, the column and a snippet with secrets masked:
//!
//! ```text
//! PORTKEY_FALLBACKS: expected `,` or `]` at line 1, column 54
//!     [{"provider":"openrouter","model":"a/b","weight":70} {"provider":"groq"}]
//!                                                          ^
//! ```
//!
//! This is the only crate that reads the process environment. The process environment wins
//! over `.env`, and loading `.env` never modifies the process environment.
//!
//! ```
//! use orchestra_config::{MapEnv, ProviderKind, Settings};
//!
//! let env = MapEnv::from_iter([
//!     ("OPENROUTER_API_KEY", "sk-or-v1-example"),
//!     ("OPENROUTER_DEFAULT_MODEL", "anthropic/claude-3-opus-20k"),
//!     ("OPENROUTER_FREE_FALLBACKS", "google/gemini-2.5-flash:free,mistralai/mixtral-8x7b:free"),
//!     ("LLM_RETRY_DELAY", "0.5"),
//! ]);
//! let settings = Settings::load(&env).unwrap().settings;
//! assert_eq!(settings.preferred_provider, ProviderKind::OpenRouter);
//! assert_eq!(settings.openrouter.free_fallbacks.len(), 2);
//! assert_eq!(format!("{:?}", settings.openrouter.api_key), "Some(Secret([redacted]))");
//! ```

#![forbid(unsafe_code)]

mod error;
mod json;
mod load;
mod settings;
mod source;
mod variables;

pub use error::{ConfigError, ConfigErrors, ConfigWarning, Problem};
pub use load::Loaded;
pub use settings::{
    CacheEmbedder, CacheMode, CacheSettings, OpenRouterSettings, PortkeySettings, ProviderKind,
    RateLimit, ResilienceSettings, Route, RoutingSettings, Settings, Strategy, Target, TargetRetry,
};
pub use source::{EnvSource, EnvValue, Environment, MapEnv, Origin};
pub use variables::{
    OPENROUTER_DEFAULT_BASE_URL, PORTKEY_DEFAULT_BASE_URL, PORTKEY_PROVIDERS, VARIABLES, Variable,
    provider_key_variable, render_markdown, variable,
};
