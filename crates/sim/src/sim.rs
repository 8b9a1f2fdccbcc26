//! The running simulator and its in-process control handle.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::SimError;
use crate::config::{ModelConfig, SimConfig};
use crate::fault::{RandomFault, ScriptStep};
use crate::state::{
    CreditsInfo, GenerationRecord, ModelStats, RequestRecord, SimStats, State, lock,
};

/// A running simulator. Cheap to clone (all clones control the same server); the server
/// stops on [`Simulator::shutdown`] or when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Simulator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Arc<State>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl Simulator {
    /// Validates `config`, binds `config.bind` (port 0 = a free port) and starts serving on
    /// the current Tokio runtime.
    ///
    /// # Errors
    /// [`SimError::Invalid`] for a bad configuration, [`SimError::Bind`] when the address
    /// cannot be bound.
    pub async fn start(config: SimConfig) -> Result<Self, SimError> {
        config.validate()?;
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| SimError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: config.bind,
            source,
        })?;
        let state = Arc::new(State::new(&config));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(crate::server::run(listener, state.clone(), stop_rx));
        Ok(Self {
            inner: Arc::new(Inner {
                state,
                addr,
                stop,
                task: Mutex::new(Some(task)),
            }),
        })
    }

    /// Starts with [`SimConfig::default`].
    ///
    /// # Errors
    /// As [`Simulator::start`].
    pub async fn start_default() -> Result<Self, SimError> {
        Self::start(SimConfig::default()).await
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// OpenRouter-style base URL, e.g. `http://127.0.0.1:PORT/api/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.inner.addr)
    }

    /// Plain OpenAI-compatible base URL, e.g. `http://127.0.0.1:PORT/v1` (for Portkey's
    /// `custom_host`).
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/v1", self.inner.addr)
    }

    /// Base URL of the HTTP control API, e.g. `http://127.0.0.1:PORT/__sim`.
    pub fn control_url(&self) -> String {
        format!("http://{}/__sim", self.inner.addr)
    }

    /// The request log, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.inner.state.log()
    }

    /// Chat requests of the log only.
    pub fn chat_requests(&self) -> Vec<RequestRecord> {
        let mut log = self.inner.state.log();
        log.retain(|r| r.path.ends_with("/chat/completions"));
        log
    }

    /// All counters.
    pub fn stats(&self) -> SimStats {
        self.inner.state.stats()
    }

    /// Counters of one model (all zero when unknown).
    pub fn model_stats(&self, id: &str) -> ModelStats {
        self.stats().model(id)
    }

    /// A past generation by id.
    pub fn generation(&self, id: &str) -> Option<GenerationRecord> {
        self.inner.state.generation(id)
    }

    /// Adds a model or replaces its behaviour (its counters and quota windows are kept; its
    /// pending script is replaced by `model.script`).
    pub fn set_model(&self, model: ModelConfig) -> Result<(), SimError> {
        SimConfig {
            models: vec![model.clone()],
            ..SimConfig::empty()
        }
        .validate()?;
        self.inner.state.set_model(model);
        Ok(())
    }

    /// Removes a model; returns whether it existed.
    pub fn remove_model(&self, id: &str) -> bool {
        self.inner.state.remove_model(id)
    }

    /// Current configuration of a model.
    pub fn model(&self, id: &str) -> Option<ModelConfig> {
        self.inner.state.model(id).map(|m| m.config.clone())
    }

    /// Appends steps to a model's fault script.
    ///
    /// # Errors
    /// [`SimError::UnknownModel`].
    pub fn push_faults(
        &self,
        id: &str,
        steps: impl IntoIterator<Item = ScriptStep>,
    ) -> Result<(), SimError> {
        if self
            .inner
            .state
            .push_faults(id, steps.into_iter().collect())
        {
            Ok(())
        } else {
            Err(SimError::UnknownModel(id.to_owned()))
        }
    }

    /// Replaces a model's random faults.
    ///
    /// # Errors
    /// [`SimError::UnknownModel`], or [`SimError::Invalid`] for bad probabilities.
    pub fn set_random_faults(&self, id: &str, faults: Vec<RandomFault>) -> Result<(), SimError> {
        let total: f64 = faults.iter().map(|f| f.probability).sum();
        if faults.iter().any(|f| !(0.0..=1.0).contains(&f.probability)) || total > 1.0 {
            return Err(SimError::invalid(
                "random",
                "probabilities must be in 0..=1 and add up to at most 1",
            ));
        }
        if self.inner.state.set_random_faults(id, faults) {
            Ok(())
        } else {
            Err(SimError::UnknownModel(id.to_owned()))
        }
    }

    /// Removes a model's pending script steps and random faults.
    ///
    /// # Errors
    /// [`SimError::UnknownModel`].
    pub fn clear_faults(&self, id: &str) -> Result<(), SimError> {
        if self.inner.state.clear_faults(id) {
            Ok(())
        } else {
            Err(SimError::UnknownModel(id.to_owned()))
        }
    }

    /// Sets the account credits (USD); `None` = unlimited. Usage so far is kept.
    pub fn set_credits(&self, total: Option<f64>) {
        self.inner.state.set_credits(total);
    }

    /// Sets the USD spent so far.
    pub fn set_usage(&self, usage: f64) {
        self.inner.state.set_usage(usage);
    }

    /// Credits and usage.
    pub fn credits(&self) -> CreditsInfo {
        self.inner.state.credits()
    }

    /// Zeroes every counter and clears the request log (quota windows, credits and usage
    /// stay).
    pub fn reset_counters(&self) {
        self.inner.state.reset_counters();
    }

    /// Gives every model a full quota again.
    pub fn reset_quotas(&self) {
        self.inner.state.reset_quotas();
    }

    /// Moves simulated time forward (works with both clocks).
    pub fn advance(&self, by: Duration) {
        self.inner.state.clock.advance(by);
    }

    /// Simulated now, Unix epoch milliseconds.
    pub fn now_epoch_ms(&self) -> u64 {
        self.inner.state.clock.now_ms()
    }

    /// Stops accepting connections, closes the open ones (hanging requests included) and
    /// waits for the accept loop to end.
    pub async fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        let task = lock(&self.inner.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Serves until Ctrl-C, then shuts down (for `orchestra sim`).
    ///
    /// # Errors
    /// [`SimError::Signal`] when the signal handler cannot be installed.
    pub async fn serve_until_ctrl_c(&self) -> Result<(), SimError> {
        let result = tokio::signal::ctrl_c().await.map_err(SimError::Signal);
        self.shutdown().await;
        result
    }
}
