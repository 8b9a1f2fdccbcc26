//! The `x-portkey-config` of one request, and what the gateway's answer says about it.

use std::time::Duration;

use orchestra_core::{Attempt, AttemptOutcome, ErrorKind};
use serde_json::{Map, Value};

use crate::{PROVIDER_NAME, target::PortkeyTarget, target::RetryPolicy};

/// How the targets of a config are used (`strategy.mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// In order; the next target when one answers a non-2xx status.
    #[default]
    Fallback,
    /// One weighted random target per request.
    Loadbalance,
    /// Cheapest first by our own price estimate, sent as `fallback` (Portkey has no such
    /// mode).
    CostAware,
}

impl Mode {
    /// The strategy of `PORTKEY_STRATEGY`.
    pub fn from_settings(strategy: orchestra_config::Strategy) -> Self {
        match strategy {
            orchestra_config::Strategy::Loadbalance => Mode::Loadbalance,
            orchestra_config::Strategy::CostAware => Mode::CostAware,
            _ => Mode::Fallback,
        }
    }

    /// What goes out as `strategy.mode`.
    pub fn wire_mode(self) -> &'static str {
        match self {
            Mode::Loadbalance => "loadbalance",
            Mode::Fallback | Mode::CostAware => "fallback",
        }
    }
}

/// Settings that apply to the whole config.
#[derive(Clone, Debug, Default)]
pub(crate) struct Root {
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) semantic_cache: bool,
}

/// A target as placed in one request's config.
#[derive(Clone, Debug)]
pub(crate) struct Leaf {
    /// `config.targets[1]`, `config.targets[1].targets[0]`.
    pub(crate) path: String,
    pub(crate) target: PortkeyTarget,
    /// Whether it sits in a `fallback` list (earlier siblings were tried before it).
    pub(crate) in_fallback: bool,
    /// Position among the leaves of the fallback path, for "earlier" questions.
    pub(crate) fallback_rank: usize,
}

/// The config of one request: its JSON and where each target sits in it.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) config: Value,
    pub(crate) redacted: Value,
    pub(crate) leaves: Vec<Leaf>,
    pub(crate) root_retry: Option<RetryPolicy>,
}

impl Plan {
    /// `targets` in the order to send (already price-ordered for cost-aware), with `pinned`
    /// (the request's own model, when it names one) leading.
    pub(crate) fn build(
        targets: &[PortkeyTarget],
        mode: Mode,
        root: &Root,
        pinned: Option<&str>,
    ) -> Plan {
        let mut rest: Vec<PortkeyTarget> = targets.to_vec();
        let lead = pinned.and_then(|model| {
            if rest.first().is_some_and(|first| first.model() == model) {
                return None;
            }
            match rest.iter().position(|target| target.model() == model) {
                Some(index) => Some(rest.remove(index)),
                None => rest.first().map(|first| first.with_model(model)),
            }
        });
        let wire_mode = mode.wire_mode();
        let mut leaves = Vec::new();
        let (targets_json, redacted_json): (Vec<Value>, Vec<Value>) = match lead {
            None => {
                for (index, target) in rest.iter().enumerate() {
                    leaves.push(Leaf {
                        path: format!("config.targets[{index}]"),
                        target: target.clone(),
                        in_fallback: mode != Mode::Loadbalance,
                        fallback_rank: index,
                    });
                }
                (
                    rest.iter().map(|target| target.to_json(true)).collect(),
                    rest.iter().map(|target| target.to_json(false)).collect(),
                )
            }
            Some(lead) if mode == Mode::Loadbalance && !rest.is_empty() => {
                // The pinned model first, then the configured group under its own strategy.
                leaves.push(Leaf {
                    path: "config.targets[0]".into(),
                    target: lead.clone(),
                    in_fallback: true,
                    fallback_rank: 0,
                });
                for (index, target) in rest.iter().enumerate() {
                    leaves.push(Leaf {
                        path: format!("config.targets[1].targets[{index}]"),
                        target: target.clone(),
                        in_fallback: false,
                        fallback_rank: 1,
                    });
                }
                let group = |expose: bool| {
                    let mut object = Map::new();
                    object.insert("strategy".into(), strategy("loadbalance"));
                    object.insert(
                        "targets".into(),
                        Value::Array(rest.iter().map(|target| target.to_json(expose)).collect()),
                    );
                    Value::Object(object)
                };
                (
                    vec![lead.to_json(true), group(true)],
                    vec![lead.to_json(false), group(false)],
                )
            }
            Some(lead) => {
                let all: Vec<PortkeyTarget> = std::iter::once(lead).chain(rest).collect();
                for (index, target) in all.iter().enumerate() {
                    leaves.push(Leaf {
                        path: format!("config.targets[{index}]"),
                        target: target.clone(),
                        in_fallback: true,
                        fallback_rank: index,
                    });
                }
                (
                    all.iter().map(|target| target.to_json(true)).collect(),
                    all.iter().map(|target| target.to_json(false)).collect(),
                )
            }
        };
        let root_mode = if leaves.first().is_some_and(|leaf| leaf.in_fallback) {
            "fallback"
        } else {
            wire_mode
        };
        let config = root_object(root, root_mode, targets_json);
        let redacted = root_object(root, root_mode, redacted_json);
        Plan {
            config,
            redacted,
            leaves,
            root_retry: root.retry.clone(),
        }
    }

    /// The leaf at the gateway's `x-portkey-last-used-option-index`.
    pub(crate) fn leaf(&self, path: &str) -> Option<&Leaf> {
        let path = normalise_path(path)?;
        self.leaves.iter().find(|leaf| leaf.path == path)
    }

    /// The first leaf: who a request is for until the gateway says otherwise.
    pub(crate) fn first(&self) -> Option<&Leaf> {
        self.leaves.first()
    }

    /// The retry policy in force for `leaf`.
    pub(crate) fn retry_of<'a>(&'a self, leaf: &'a Leaf) -> Option<&'a RetryPolicy> {
        leaf.target.retry_policy().or(self.root_retry.as_ref())
    }

    /// Worst-case gateway time for one request: every try of every target at the request
    /// timeout, plus the gateway's back-off.
    pub(crate) fn budget(&self, request_timeout: Duration) -> Duration {
        let mut tries: u32 = 0;
        let mut backoff: u64 = 0;
        for leaf in &self.leaves {
            let retry = self.retry_of(leaf);
            tries = tries.saturating_add(1 + retry.map_or(0, RetryPolicy::attempts));
            backoff = backoff.saturating_add(retry.map_or(0, RetryPolicy::backoff_secs));
        }
        request_timeout
            .saturating_mul(tries.max(1))
            .saturating_add(Duration::from_secs(backoff.saturating_add(2)))
    }

    /// The attempts before the answer came from `served`: one per target the gateway fell
    /// back past (it does not report their statuses), then one per gateway retry of
    /// `served` itself (`retry_count`; −1 = every retry was used).
    pub(crate) fn earlier_attempts(
        &self,
        served: Option<&Leaf>,
        retry_count: Option<i64>,
    ) -> Vec<Attempt> {
        let mut attempts = Vec::new();
        let Some(served) = served else {
            return attempts;
        };
        if served.in_fallback || served.fallback_rank > 0 {
            for leaf in &self.leaves {
                if leaf.in_fallback && leaf.fallback_rank < served.fallback_rank {
                    attempts.push(
                        Attempt::new(
                            PROVIDER_NAME,
                            leaf.target.model(),
                            AttemptOutcome::Failed(ErrorKind::Server),
                            Duration::ZERO,
                        )
                        .with_detail(format!(
                            "{} ({}): failed, the gateway fell back to the next target \
                             (it does not report this target's status)",
                            leaf.path,
                            leaf.target.provider()
                        )),
                    );
                }
            }
        }
        let retry = self.retry_of(served);
        let retries = match (retry_count, retry) {
            (Some(-1), Some(retry)) => i64::from(retry.attempts()),
            (Some(count), _) if count > 0 => count,
            _ => 0,
        };
        let kind = retry.map_or(ErrorKind::Server, RetryPolicy::failure_kind);
        for _ in 0..retries.min(64) {
            attempts.push(
                Attempt::new(
                    PROVIDER_NAME,
                    served.target.model(),
                    AttemptOutcome::Failed(kind),
                    Duration::ZERO,
                )
                .with_detail(format!(
                    "{} ({}): retried by the gateway (on HTTP {})",
                    served.path,
                    served.target.provider(),
                    retry.map_or_else(String::new, |retry| join(retry.effective_codes()))
                )),
            );
        }
        attempts
    }
}

fn join(codes: &[u16]) -> String {
    codes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("/")
}

fn strategy(mode: &str) -> Value {
    let mut object = Map::new();
    object.insert("mode".into(), Value::String(mode.to_owned()));
    Value::Object(object)
}

fn root_object(root: &Root, mode: &str, targets: Vec<Value>) -> Value {
    let mut object = Map::new();
    object.insert("strategy".into(), strategy(mode));
    if let Some(retry) = &root.retry {
        object.insert("retry".into(), retry.to_json());
    }
    if let Some(timeout) = root.request_timeout {
        let millis = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        object.insert("request_timeout".into(), Value::from(millis));
    }
    if root.semantic_cache {
        let mut cache = Map::new();
        cache.insert("mode".into(), Value::String("semantic".into()));
        object.insert("cache".into(), Value::Object(cache));
    }
    object.insert("targets".into(), Value::Array(targets));
    Value::Object(object)
}

/// `config.targets[ 1 ].targets[0]` → `config.targets[1].targets[0]`; `None` unless it is a
/// `config` path.
pub(crate) fn normalise_path(path: &str) -> Option<String> {
    let compact: String = path.chars().filter(|c| !c.is_whitespace()).collect();
    let mut rest = compact.strip_prefix("config")?;
    let mut out = String::from("config");
    while !rest.is_empty() {
        let after = rest.strip_prefix(".targets[")?;
        let close = after.find(']')?;
        let index: usize = after[..close].parse().ok()?;
        out.push_str(&format!(".targets[{index}]"));
        rest = &after[close + 1..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised() {
        assert_eq!(
            normalise_path("config.targets[1]").as_deref(),
            Some("config.targets[1]")
        );
        assert_eq!(
            normalise_path(" config.targets[ 0 ].targets[2] ").as_deref(),
            Some("config.targets[0].targets[2]")
        );
        assert_eq!(normalise_path("config").as_deref(), Some("config"));
        assert_eq!(normalise_path("config.targets[x]"), None);
        assert_eq!(normalise_path("targets[0]"), None);
    }

    #[test]
    fn a_pinned_model_leads_and_loadbalance_becomes_a_nested_group() {
        let targets = [
            PortkeyTarget::new("openai", "a"),
            PortkeyTarget::new("openai", "b"),
        ];
        let plan = Plan::build(&targets, Mode::Loadbalance, &Root::default(), Some("b"));
        let paths: Vec<(&str, &str)> = plan
            .leaves
            .iter()
            .map(|leaf| (leaf.path.as_str(), leaf.target.model()))
            .collect();
        assert_eq!(
            paths,
            [
                ("config.targets[0]", "b"),
                ("config.targets[1].targets[0]", "a")
            ]
        );
        assert_eq!(plan.config["strategy"]["mode"], "fallback");
        assert_eq!(plan.config["targets"][1]["strategy"]["mode"], "loadbalance");
        let served = plan.leaf("config.targets[1].targets[0]");
        let earlier = plan.earlier_attempts(served, Some(0));
        assert_eq!(earlier.len(), 1);
        assert_eq!(earlier[0].model, "b");

        let plan = Plan::build(&targets, Mode::Fallback, &Root::default(), Some("c"));
        assert_eq!(plan.leaves[0].target.model(), "c");
        assert_eq!(plan.leaves.len(), 3);
        let plan = Plan::build(&targets, Mode::Loadbalance, &Root::default(), Some("a"));
        assert_eq!(plan.config["strategy"]["mode"], "loadbalance");
        assert!(
            plan.earlier_attempts(plan.leaf("config.targets[1]"), Some(0))
                .is_empty()
        );
    }

    #[test]
    fn retries_of_the_served_target_are_attempts_of_the_kind_the_codes_tell() {
        let targets = [PortkeyTarget::new("openai", "a").retry(RetryPolicy::new(2, [429]))];
        let plan = Plan::build(&targets, Mode::Fallback, &Root::default(), None);
        let attempts = plan.earlier_attempts(plan.leaf("config.targets[0]"), Some(-1));
        assert_eq!(attempts.len(), 2);
        assert_eq!(
            attempts[0].outcome,
            AttemptOutcome::Failed(ErrorKind::RateLimited)
        );
        assert_eq!(
            plan.budget(Duration::from_secs(10)),
            Duration::from_secs(30 + 3 + 2)
        );
    }
}
