//! What the commands that call a provider share: settings, the client and a runtime.

use std::{
    io::{self, Write},
    sync::Arc,
};

use orchestra_config::{EnvSource, ProviderKind, Settings};
use orchestra_core::{Error, ErrorKind, Provider};
use orchestra_provider_openrouter::OpenRouter;
use orchestra_provider_portkey::{Mode, Portkey};
use tokio::runtime::Runtime;

use crate::{ExitStatus, Output};

/// The provider `PREFERRED_LLM_PROVIDER` chose.
pub(crate) enum Backend {
    /// OpenRouter directly.
    OpenRouter(OpenRouter),
    /// A Portkey gateway.
    Portkey(Portkey),
}

impl Backend {
    pub(crate) fn provider(&self) -> &dyn Provider {
        match self {
            Backend::OpenRouter(client) => client,
            Backend::Portkey(client) => client,
        }
    }
}

/// A configured client, ready to send.
pub(crate) struct Session {
    pub(crate) settings: Settings,
    pub(crate) client: Backend,
    pub(crate) runtime: Runtime,
}

impl Session {
    /// Loads the configuration and builds the client; on failure the problem is printed and
    /// the exit status returned.
    pub(crate) fn open(
        source: &dyn EnvSource,
        output: &mut Output<'_>,
    ) -> io::Result<Result<Self, ExitStatus>> {
        let loaded = match Settings::load(source) {
            Ok(loaded) => loaded,
            Err(errors) => {
                crate::print_config_errors(&errors, output.err)?;
                return Ok(Err(ExitStatus::InvalidUsage));
            }
        };
        for warning in &loaded.warnings {
            writeln!(output.err, "warning: {warning}")?;
        }
        let settings = loaded.settings;
        let client = match settings.preferred_provider {
            ProviderKind::Portkey => portkey(&settings).map(Backend::Portkey),
            _ => {
                if settings.openrouter.api_key.is_none() {
                    writeln!(
                        output.err,
                        "error: OPENROUTER_API_KEY is not set (environment or .env).\n\
                         hint: `orchestra demo` runs offline against the built-in simulator, no key \
                         needed; `orchestra sim` serves a simulated OpenRouter for \
                         OPENROUTER_BASE_URL."
                    )?;
                    return Ok(Err(ExitStatus::InvalidUsage));
                }
                OpenRouter::from_settings(&settings).map(Backend::OpenRouter)
            }
        };
        let client = match client {
            Ok(client) => client,
            Err(error) => {
                writeln!(output.err, "error: {error}")?;
                return Ok(Err(ExitStatus::InvalidUsage));
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Ok(Self {
            settings,
            client,
            runtime,
        }))
    }
}

/// The Portkey client of the settings; `cost_aware` gets its prices from OpenRouter's model
/// list when OPENROUTER_API_KEY is set.
fn portkey(settings: &Settings) -> Result<Portkey, Error> {
    let mut builder = Portkey::builder_from_settings(settings);
    if Mode::from_settings(settings.portkey.strategy) == Mode::CostAware
        && settings.openrouter.api_key.is_some()
    {
        let prices: Arc<dyn Provider> = Arc::new(OpenRouter::from_settings(settings)?);
        builder = builder.price_source(prices);
    }
    builder.build()
}

/// Prints a failed call: one line per attempt, then the error; the exit status follows the
/// error's kind (configuration problems are usage errors, the rest failed requests).
pub(crate) fn report_failure(error: &Error, err: &mut dyn Write) -> io::Result<ExitStatus> {
    for attempt in error.attempts() {
        let status = attempt
            .status
            .map_or_else(String::new, |status| format!(" HTTP {status}"));
        writeln!(
            err,
            "attempt: {} {} → {}{status} after {} ms",
            attempt.provider,
            attempt.model,
            attempt.outcome,
            attempt.latency.as_millis()
        )?;
    }
    writeln!(err, "error: {error}")?;
    if let Some(tokens) = error.affordable_max_tokens() {
        writeln!(err, "hint: retry with --max-tokens {tokens} or add credits")?;
    }
    Ok(match error.kind() {
        ErrorKind::Config => ExitStatus::InvalidUsage,
        _ => ExitStatus::RequestFailed,
    })
}
