use crate::{Candidate, RoutingContext, Strategy};

/// Cheapest first by the estimated cost of *this* request (estimated prompt tokens × prompt
/// price + `max_tokens` × completion price), skipping targets whose context window is too
/// small. When the account cannot pay for the cheapest paid option, only free targets are
/// planned. Targets with unknown prices go after priced ones, in configured order.
///
/// Rate limits and cooldowns still apply: the router skips unhealthy targets whatever the
/// order.
#[derive(Clone, Copy, Debug, Default)]
pub struct CostAware;

impl Strategy for CostAware {
    fn name(&self) -> &str {
        "cost_aware"
    }

    fn plan(&self, context: &RoutingContext<'_>, candidates: &[Candidate<'_>]) -> Vec<usize> {
        let mut priced: Vec<(usize, f64)> = Vec::new();
        let mut unpriced = Vec::new();
        for (index, candidate) in candidates.iter().enumerate() {
            if !candidate.fits(context) {
                continue;
            }
            match candidate.estimated_cost(context) {
                Some(cost) => priced.push((index, cost)),
                None => unpriced.push(index),
            }
        }
        // Stable: equal costs keep the configured order.
        priced.sort_by(|a, b| a.1.total_cmp(&b.1));
        if let Some(spendable) = context.spendable_usd {
            priced.retain(|&(_, cost)| cost == 0.0 || cost <= spendable);
            if spendable <= 0.0 {
                // Nothing left to spend: unknown prices may be paid ones.
                unpriced.clear();
            }
        }
        priced
            .into_iter()
            .map(|(index, _)| index)
            .chain(unpriced)
            .collect()
    }

    fn needs_catalog(&self) -> bool {
        true
    }
}
