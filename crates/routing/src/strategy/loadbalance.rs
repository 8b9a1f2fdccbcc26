use rand::RngExt;

use super::StrategyRng;
use crate::{Candidate, RoutingContext, Strategy};

/// Weighted random choice among healthy targets (weights renormalised over them), then the
/// rest as fallbacks in the same weighted order, so a failure still moves on.
///
/// Seed it for reproducible runs:
///
/// ```
/// use orchestra_routing::Loadbalance;
///
/// let strategy = Loadbalance::seeded(7);
/// # let _ = strategy;
/// ```
#[derive(Debug)]
pub struct Loadbalance {
    rng: StrategyRng,
}

impl Default for Loadbalance {
    fn default() -> Self {
        Self::new()
    }
}

impl Loadbalance {
    /// Seeded from the operating system.
    pub fn new() -> Self {
        Self {
            rng: StrategyRng::from_os(),
        }
    }

    /// Seeded with `seed`: the same picks every run.
    pub fn seeded(seed: u64) -> Self {
        Self {
            rng: StrategyRng::seeded(seed),
        }
    }
}

impl Strategy for Loadbalance {
    fn name(&self) -> &str {
        "loadbalance"
    }

    fn reads_prompt_estimate(&self) -> bool {
        false
    }

    fn plan(&self, _context: &RoutingContext<'_>, candidates: &[Candidate<'_>]) -> Vec<usize> {
        let mut rng = self.rng.lock();
        // Healthy targets first, each group in weighted-random order without replacement
        // (the first pick is exactly "weight / Σ healthy weights"); zero weights trail.
        let (healthy, unhealthy): (Vec<usize>, Vec<usize>) =
            (0..candidates.len()).partition(|&i| candidates[i].health.is_ready());
        let mut order = Vec::with_capacity(candidates.len());
        for mut group in [healthy, unhealthy] {
            while !group.is_empty() {
                let total: f64 = group
                    .iter()
                    .map(|&i| candidates[i].target.weight_value())
                    .sum();
                let position = if total > 0.0 {
                    let mut point = rng.random::<f64>() * total;
                    group
                        .iter()
                        .position(|&i| {
                            point -= candidates[i].target.weight_value();
                            point < 0.0
                        })
                        .unwrap_or(group.len() - 1)
                } else {
                    0
                };
                order.push(group.remove(position));
            }
        }
        order
    }
}
