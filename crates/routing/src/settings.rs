//! Building a router from `orchestra-config` settings.

use std::{collections::BTreeMap, sync::Arc};

use orchestra_config::Settings;
use orchestra_core::{Error, Provider};

use crate::{CostAware, Fallback, Loadbalance, Router, RouterBuilder, Strategy, Target};

/// The built-in strategy for a configured name (`LLM_ROUTING_STRATEGY`, `PORTKEY_STRATEGY`).
pub fn strategy_for(strategy: orchestra_config::Strategy) -> Arc<dyn Strategy> {
    match strategy {
        orchestra_config::Strategy::Loadbalance => Arc::new(Loadbalance::new()),
        orchestra_config::Strategy::CostAware => Arc::new(CostAware),
        _ => Arc::new(Fallback),
    }
}

impl Router {
    /// A router configured from `settings`: `LLM_ROUTING_STRATEGY`, `LLM_ROUTING_TARGETS`
    /// (else `OPENROUTER_DEFAULT_MODEL` then `OPENROUTER_FREE_FALLBACKS`, equal weights),
    /// `AGENT_MODEL_MAP`, `LLM_REQUEST_DEADLINE` and `LLM_STREAM_IDLE_TIMEOUT` (else
    /// `LLM_REQUEST_TIMEOUT`). `providers` maps a target's provider name (`openrouter`,
    /// `portkey`, …) to the provider stack that serves it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](orchestra_core::ErrorKind::Config) when no target is
    /// configured, or a target names a provider `providers` does not have.
    pub fn from_settings(
        settings: &Settings,
        providers: &BTreeMap<String, Arc<dyn Provider>>,
    ) -> Result<Router, Error> {
        Self::builder_from_settings(settings, providers)?.build()
    }

    /// A builder configured as [`from_settings`](Self::from_settings) does, to add a
    /// [`health`](RouterBuilder::health) view, a [`clock`](RouterBuilder::clock) or another
    /// strategy before building.
    ///
    /// # Errors
    ///
    /// As [`from_settings`](Self::from_settings).
    pub fn builder_from_settings(
        settings: &Settings,
        providers: &BTreeMap<String, Arc<dyn Provider>>,
    ) -> Result<RouterBuilder, Error> {
        let provider = |name: &str| {
            providers.get(name).cloned().ok_or_else(|| {
                Error::config(format!(
                    "LLM_ROUTING_TARGETS names provider `{name}`, which is not configured here"
                ))
            })
        };
        let mut targets = Vec::new();
        if settings.routing.targets.is_empty() {
            let openrouter = provider("openrouter")?;
            let models = settings
                .openrouter
                .default_model
                .iter()
                .chain(&settings.openrouter.free_fallbacks);
            for model in models {
                if !targets
                    .iter()
                    .any(|target: &Target| target.model() == model)
                {
                    targets.push(Target::new(Arc::clone(&openrouter), model.clone()));
                }
            }
        } else {
            for configured in &settings.routing.targets {
                let Some(model) = configured.model() else {
                    continue;
                };
                targets.push(
                    Target::new(provider(&configured.provider)?, model).weight(configured.weight()),
                );
            }
        }
        if targets.is_empty() {
            return Err(Error::config(
                "nothing to route to: set OPENROUTER_DEFAULT_MODEL or LLM_ROUTING_TARGETS",
            ));
        }
        Ok(Router::builder()
            .targets(targets)
            .shared_strategy(strategy_for(settings.routing.strategy))
            .agent_models(settings.agent_model_map.clone())
            .deadline(settings.resilience.request_deadline)
            .idle_timeout(
                settings
                    .routing
                    .stream_idle_timeout
                    .unwrap_or(settings.resilience.request_timeout),
            ))
    }
}
