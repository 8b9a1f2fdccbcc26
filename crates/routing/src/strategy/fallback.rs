use crate::{Candidate, RoutingContext, Strategy};

/// Targets in configured order; the next is tried when one fails.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fallback;

impl Strategy for Fallback {
    fn name(&self) -> &str {
        "fallback"
    }

    fn reads_prompt_estimate(&self) -> bool {
        false
    }

    fn plan(&self, _context: &RoutingContext<'_>, candidates: &[Candidate<'_>]) -> Vec<usize> {
        (0..candidates.len()).collect()
    }
}
