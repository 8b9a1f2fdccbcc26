//! The client-side usage ledger and the credit report built from it.
//!
//! The open-source gateway has no balance or usage API; what a client can know for certain is
//! what its own responses said. The ledger adds that up per target.

use std::{
    collections::BTreeMap,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use orchestra_core::{Credits, Usage};
use orchestra_provider_openrouter::CreditReport;
use serde::{Deserialize, Serialize};

use crate::PROVIDER_NAME;

/// What one target served through this client.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TargetUsage {
    /// Provider slug of the target.
    pub provider: String,
    /// Its model.
    pub model: String,
    /// Its custom host, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_host: Option<String>,
    /// Responses it served (streams included).
    pub responses: u64,
    /// Requests whose final error came from it.
    pub failures: u64,
    /// Requests on which the gateway fell back past it.
    pub fallen_back: u64,
    /// Prompt tokens of its responses.
    pub prompt_tokens: u64,
    /// Completion tokens of its responses.
    pub completion_tokens: u64,
    /// Cost in USD its responses reported (`usage.cost`).
    pub cost_usd: f64,
    /// Responses that reported no cost (not counted in `cost_usd`).
    pub responses_without_cost: u64,
}

/// A target's identity in the ledger: provider, model, custom host.
type TargetKey = (String, String, Option<String>);

/// The usage ledger: everything since the client was built.
#[derive(Debug)]
pub(crate) struct Ledger {
    since: SystemTime,
    targets: Mutex<BTreeMap<TargetKey, TargetUsage>>,
}

impl Ledger {
    pub(crate) fn new() -> Self {
        Self {
            since: SystemTime::now(),
            targets: Mutex::new(BTreeMap::new()),
        }
    }

    fn update(
        &self,
        provider: &str,
        model: &str,
        host: Option<&str>,
        change: impl FnOnce(&mut TargetUsage),
    ) {
        let key = (
            provider.to_owned(),
            model.to_owned(),
            host.map(str::to_owned),
        );
        // A poisoned lock only means another thread panicked mid-update: keep counting.
        let mut targets = self
            .targets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = targets.entry(key).or_insert_with(|| TargetUsage {
            provider: provider.to_owned(),
            model: model.to_owned(),
            custom_host: host.map(str::to_owned),
            ..TargetUsage::default()
        });
        change(entry);
    }

    pub(crate) fn served(
        &self,
        provider: &str,
        model: &str,
        host: Option<&str>,
        usage: Option<Usage>,
    ) {
        self.update(provider, model, host, |entry| {
            entry.responses += 1;
            if let Some(usage) = usage {
                entry.prompt_tokens += u64::from(usage.prompt_tokens);
                entry.completion_tokens += u64::from(usage.completion_tokens);
            }
            match usage.and_then(|usage| usage.cost_usd) {
                Some(cost) => entry.cost_usd += cost,
                None => entry.responses_without_cost += 1,
            }
        });
    }

    pub(crate) fn failed(&self, provider: &str, model: &str, host: Option<&str>) {
        self.update(provider, model, host, |entry| entry.failures += 1);
    }

    pub(crate) fn fallen_back(&self, provider: &str, model: &str, host: Option<&str>) {
        self.update(provider, model, host, |entry| entry.fallen_back += 1);
    }

    pub(crate) fn snapshot(&self) -> (SystemTime, Vec<TargetUsage>) {
        let targets = self
            .targets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (self.since, targets.values().cloned().collect())
    }
}

/// The balance of an OpenRouter account a target's key belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OpenRouterAccount {
    /// The OpenRouter API base asked.
    pub base_url: String,
    /// The models of the targets that use this key.
    pub models: Vec<String>,
    /// OpenRouter's report, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<CreditReport>,
    /// Why it could not, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// What [`Portkey::monitor_credits`](crate::Portkey::monitor_credits) reports: the usage
/// ledger of this client (the gateway has no balance API), and the balance of each OpenRouter
/// account whose key a target carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PortkeyCreditReport {
    /// The gateway's base URL.
    pub gateway: String,
    /// When the ledger started (this client's creation), Unix milliseconds.
    pub since_epoch_ms: u64,
    /// Responses received, all targets.
    pub responses: u64,
    /// Requests that failed at the gateway, all targets.
    pub failures: u64,
    /// Prompt tokens, all targets.
    pub prompt_tokens: u64,
    /// Completion tokens, all targets.
    pub completion_tokens: u64,
    /// Cost in USD the responses reported, all targets.
    pub cost_usd: f64,
    /// Per target, ordered by provider, model and host.
    pub targets: Vec<TargetUsage>,
    /// One entry per distinct OpenRouter key among the targets.
    pub openrouter: Vec<OpenRouterAccount>,
}

impl PortkeyCreditReport {
    pub(crate) fn new(
        gateway: String,
        since: SystemTime,
        targets: Vec<TargetUsage>,
        openrouter: Vec<OpenRouterAccount>,
    ) -> Self {
        let since_epoch_ms = since.duration_since(UNIX_EPOCH).map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
        Self {
            gateway,
            since_epoch_ms,
            responses: targets.iter().map(|target| target.responses).sum(),
            failures: targets.iter().map(|target| target.failures).sum(),
            prompt_tokens: targets.iter().map(|target| target.prompt_tokens).sum(),
            completion_tokens: targets.iter().map(|target| target.completion_tokens).sum(),
            cost_usd: targets.iter().map(|target| target.cost_usd).sum(),
            targets,
            openrouter,
        }
    }

    /// The provider-neutral view: the OpenRouter balances (summed when several accounts
    /// are known; key limits only when there is exactly one), or `None` when no balance is
    /// known.
    pub fn to_credits(&self) -> Option<Credits> {
        let reports: Vec<&CreditReport> = self
            .openrouter
            .iter()
            .filter_map(|account| account.report.as_ref())
            .collect();
        match reports.as_slice() {
            [] => None,
            [one] => {
                let mut credits = one.to_credits();
                credits.provider = PROVIDER_NAME.to_owned();
                Some(credits)
            }
            many => {
                let sum = |field: fn(&CreditReport) -> Option<f64>| {
                    many.iter().map(|report| field(report)).sum::<Option<f64>>()
                };
                let mut credits = Credits::new(PROVIDER_NAME);
                credits.total_credits = sum(|report| report.total_credits);
                credits.total_usage = sum(|report| report.total_usage);
                Some(credits)
            }
        }
    }
}
