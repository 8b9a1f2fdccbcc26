//! The simulator's error type.

use std::{net::SocketAddr, path::PathBuf};

/// Everything that can go wrong when loading a scenario, starting or driving the simulator.
///
/// Scenario errors name the file, and the line (TOML/JSON syntax and type errors) or the
/// field path such as `models[2].requests_per_minute` (semantic errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The scenario file could not be read.
    #[error("cannot read scenario file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax or type error; the message carries the line, column and key.
    #[error("invalid scenario{}: {source}", origin(path.as_ref()))]
    Toml {
        /// The file, when loaded from one.
        path: Option<PathBuf>,
        /// The parser's error (its `Display` shows the line and a snippet).
        #[source]
        source: toml::de::Error,
    },
    /// JSON syntax or type error; the message carries the line and column.
    #[error("invalid scenario{}: {source}", origin(path.as_ref()))]
    Json {
        /// The file, when loaded from one.
        path: Option<PathBuf>,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A value is syntactically fine but makes no sense (negative price, duplicate id…).
    #[error("invalid scenario: `{field}`: {message}")]
    Invalid {
        /// Path of the offending field, e.g. `models[1].pricing.prompt`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A control call named a model the simulator does not serve.
    #[error("unknown model `{0}`")]
    UnknownModel(String),
    /// Waiting for Ctrl-C failed.
    #[error("cannot wait for Ctrl-C: {0}")]
    Signal(#[source] std::io::Error),
}

fn origin(path: Option<&PathBuf>) -> String {
    path.map(|p| format!(" {}", p.display()))
        .unwrap_or_default()
}

impl SimError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}
