//! What the commands that call a provider share: settings, the client and a runtime.

use std::io::{self, Write};

use orchestra_config::{EnvSource, ProviderKind, Settings};
use orchestra_core::{Error, ErrorKind};
use orchestra_llm::{LlmClient, LlmProvider};
use tokio::runtime::Runtime;

use crate::{ExitStatus, Output};

/// A configured client, ready to send.
pub(crate) struct Session {
    /// The whole stack: resilience, routing, cache and ledger over the preferred provider.
    pub(crate) client: LlmClient,
    /// The preferred provider itself, for its account APIs.
    pub(crate) backend: LlmProvider,
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
        let preferred = settings.preferred_provider.as_str();
        if settings.preferred_provider == ProviderKind::OpenRouter
            && settings.openrouter.api_key.is_none()
        {
            writeln!(
                output.err,
                "error: OPENROUTER_API_KEY is not set (environment or .env).\n\
                 hint: `orchestra demo` runs offline against the built-in simulator, no key \
                 needed; `orchestra sim` serves a simulated OpenRouter for \
                 OPENROUTER_BASE_URL."
            )?;
            return Ok(Err(ExitStatus::InvalidUsage));
        }
        // The runtime first: building the client may start background work (Redis).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let built = runtime.block_on(async {
            let client = LlmClient::from_settings(settings)?;
            let backend = client.get_llm_provider(preferred)?;
            Ok::<_, Error>((client, backend))
        });
        let (client, backend) = match built {
            Ok(built) => built,
            Err(error) => {
                writeln!(output.err, "error: {error}")?;
                return Ok(Err(ExitStatus::InvalidUsage));
            }
        };
        Ok(Ok(Self {
            client,
            backend,
            runtime,
        }))
    }
}

/// Prints a failed call: the error, whose text lists every attempt once; the exit status
/// follows the error's kind (configuration problems are usage errors, the rest failed
/// requests).
pub(crate) fn report_failure(error: &Error, err: &mut dyn Write) -> io::Result<ExitStatus> {
    writeln!(err, "error: {error}")?;
    if let Some(tokens) = error.affordable_max_tokens() {
        writeln!(err, "hint: retry with --max-tokens {tokens} or add credits")?;
    }
    Ok(match error.kind() {
        ErrorKind::Config => ExitStatus::InvalidUsage,
        _ => ExitStatus::RequestFailed,
    })
}
