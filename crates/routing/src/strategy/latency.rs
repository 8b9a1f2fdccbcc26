use rand::RngExt;

use super::StrategyRng;
use crate::{Candidate, RoutingContext, Strategy};

/// Latency-aware: "power of two choices" over each target's moving-average latency. Two
/// healthy targets are drawn at random and the faster leads; the rest follow fastest first.
/// Targets never measured count as fastest, so each gets tried. This spreads load (unlike
/// always picking the fastest, which herds every caller onto one target) while steering
/// away from slow ones.
#[derive(Debug)]
pub struct LeastLatency {
    rng: StrategyRng,
}

impl Default for LeastLatency {
    fn default() -> Self {
        Self::new()
    }
}

impl LeastLatency {
    /// Seeded from the operating system.
    pub fn new() -> Self {
        Self {
            rng: StrategyRng::from_os(),
        }
    }

    /// Seeded with `seed`, for reproducible runs.
    pub fn seeded(seed: u64) -> Self {
        Self {
            rng: StrategyRng::seeded(seed),
        }
    }
}

impl Strategy for LeastLatency {
    fn name(&self) -> &str {
        "least_latency"
    }

    fn reads_prompt_estimate(&self) -> bool {
        false
    }

    fn plan(&self, _context: &RoutingContext<'_>, candidates: &[Candidate<'_>]) -> Vec<usize> {
        let latency = |i: usize| candidates[i].latency.unwrap_or_default();
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| {
            let unhealthy = |i: usize| !candidates[i].health.is_ready();
            unhealthy(a)
                .cmp(&unhealthy(b))
                .then(latency(a).cmp(&latency(b)))
        });
        let healthy = order
            .iter()
            .take_while(|&&i| candidates[i].health.is_ready())
            .count();
        if healthy >= 2 {
            let mut rng = self.rng.lock();
            let first = rng.random_range(0..healthy);
            let mut second = rng.random_range(0..healthy - 1);
            if second >= first {
                second += 1;
            }
            let winner = if latency(order[first]) <= latency(order[second]) {
                first
            } else {
                second
            };
            let lead = order.remove(winner);
            order.insert(0, lead);
        }
        order
    }
}
