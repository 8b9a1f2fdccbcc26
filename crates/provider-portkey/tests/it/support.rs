//! Shared helpers: a simulator, a gateway, targets and clients pointed at them.

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use orchestra_core::Secret;
use orchestra_provider_portkey::{Mode, Portkey, PortkeyBuilder, PortkeyTarget, harness::Gateway};
use orchestra_sim::{ModelConfig, SimConfig, Simulator};

/// The provider key every target carries; tests assert it never leaks.
pub(crate) const KEY: &str = "sk-portkey-test-target-key-0123";

/// A simulator serving `models` (any bearer key accepted).
pub(crate) async fn simulator(models: Vec<ModelConfig>) -> Simulator {
    let mut config = SimConfig::builder();
    for model in models {
        config = config.model(model);
    }
    Simulator::start(config.build().unwrap()).await.unwrap()
}

/// An `openai` target serving `model` from the simulator's OpenAI-compatible endpoint.
pub(crate) fn target(sim: &Simulator, model: &str) -> PortkeyTarget {
    PortkeyTarget::new("openai", model)
        .api_key(Secret::new(KEY))
        .custom_host(sim.openai_base_url())
}

/// A builder pointed at `gateway` with these targets and mode, no gateway retries.
pub(crate) fn builder(
    gateway: &Gateway,
    targets: Vec<PortkeyTarget>,
    mode: Mode,
) -> PortkeyBuilder {
    Portkey::builder()
        .base_url(gateway.base_url())
        .targets(targets)
        .mode(mode)
        .request_timeout(Duration::from_secs(10))
}

/// A finished client; see [`builder`].
pub(crate) fn client(gateway: &Gateway, targets: Vec<PortkeyTarget>, mode: Mode) -> Portkey {
    builder(gateway, targets, mode).build().unwrap()
}

/// Log lines written by `tracing` while the guard lives.
#[derive(Clone, Default)]
pub(crate) struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub(crate) fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
