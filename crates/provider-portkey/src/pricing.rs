//! Prices for `cost_aware`: Portkey has no such strategy, so targets are ordered here,
//! cheapest first, and sent as a `fallback` config.

use std::{collections::HashMap, sync::Arc, time::Duration};

use orchestra_core::{ChatRequest, Decimal, ModelPricing, Provider};
use tokio::{sync::Mutex, time::Instant};

use crate::target::PortkeyTarget;

/// Completion tokens assumed when a request sets no `max_tokens`.
pub const DEFAULT_COMPLETION_ESTIMATE: u32 = 512;

/// Model id → prices.
type PriceList = Arc<HashMap<String, ModelPricing>>;

/// Prices from another provider's model list, fetched on first use and kept for a while.
pub(crate) struct PriceSource {
    provider: Arc<dyn Provider>,
    ttl: Duration,
    cache: Mutex<Option<(Instant, PriceList)>>,
}

impl PriceSource {
    pub(crate) fn new(provider: Arc<dyn Provider>, ttl: Duration) -> Self {
        Self {
            provider,
            ttl,
            cache: Mutex::new(None),
        }
    }

    pub(crate) fn name(&self) -> &str {
        self.provider.name()
    }

    /// The price list, from the cache while fresh. A failed fetch is remembered too (as an
    /// empty list), so a broken price source costs one request per time-to-live, not one
    /// per chat.
    pub(crate) async fn prices(&self) -> PriceList {
        let mut slot = self.cache.lock().await;
        if let Some((fetched, prices)) = slot.as_ref()
            && fetched.elapsed() < self.ttl
        {
            return Arc::clone(prices);
        }
        let prices: HashMap<String, ModelPricing> = match self.provider.models().await {
            Ok(models) => models
                .into_iter()
                .filter_map(|model| Some((model.id, model.pricing?)))
                .collect(),
            Err(error) => {
                tracing::warn!(
                    %error,
                    source = self.provider.name(),
                    "cost_aware: could not read prices; targets keep their configured order"
                );
                HashMap::new()
            }
        };
        let prices = Arc::new(prices);
        *slot = Some((Instant::now(), Arc::clone(&prices)));
        prices
    }
}

/// The price of `target`'s model: its id as is, else `<provider>/<model>` (OpenRouter's ids
/// for a direct provider's model, `openai` + `gpt-4o` → `openai/gpt-4o`).
pub(crate) fn price_of<'a>(
    prices: &'a HashMap<String, ModelPricing>,
    target: &PortkeyTarget,
) -> Option<&'a ModelPricing> {
    prices
        .get(target.model())
        .or_else(|| prices.get(&format!("{}/{}", target.provider(), target.model())))
}

/// Rough prompt tokens of `request`: 4 per message plus one per 4 characters.
pub(crate) fn prompt_estimate(request: &ChatRequest) -> u32 {
    let tokens: usize = request
        .messages
        .iter()
        .map(|message| 4 + message.text().map_or(0, |text| text.chars().count() / 4))
        .sum();
    u32::try_from(tokens).unwrap_or(u32::MAX)
}

/// `targets` cheapest first for `request` (exact decimal estimates); targets without a
/// known price keep their configured order after the priced ones.
pub(crate) fn order_by_price(
    targets: &[PortkeyTarget],
    prices: &HashMap<String, ModelPricing>,
    request: &ChatRequest,
) -> Vec<PortkeyTarget> {
    let prompt = prompt_estimate(request);
    let completion = request.max_tokens.unwrap_or(DEFAULT_COMPLETION_ESTIMATE);
    let mut keyed: Vec<(Option<Decimal>, &PortkeyTarget)> = targets
        .iter()
        .map(|target| {
            (
                price_of(prices, target).map(|pricing| pricing.estimate(prompt, completion)),
                target,
            )
        })
        .collect();
    // Stable: equal prices and unknown prices keep the configured order.
    keyed.sort_by(|(a, _), (b, _)| match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    keyed
        .into_iter()
        .map(|(_, target)| target.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_core::Message;

    #[test]
    fn cheapest_first_unknown_last_in_configured_order() {
        let targets = [
            PortkeyTarget::new("openai", "unknown-1"),
            PortkeyTarget::new("openai", "gpt-4o"),
            PortkeyTarget::new("openrouter", "google/gemini-2.5-flash:free"),
            PortkeyTarget::new("openai", "unknown-2"),
            PortkeyTarget::new("openrouter", "anthropic/claude-3-opus"),
        ];
        let prices: HashMap<String, ModelPricing> = [
            ("openai/gpt-4o", ModelPricing::parse("0.0000025", "0.00001")),
            (
                "google/gemini-2.5-flash:free",
                ModelPricing::parse("0", "0"),
            ),
            (
                "anthropic/claude-3-opus",
                ModelPricing::parse("0.000015", "0.000075"),
            ),
        ]
        .into_iter()
        .map(|(id, pricing)| (id.to_owned(), pricing.unwrap()))
        .collect();
        let request = ChatRequest::new(vec![Message::user("hello")]).max_tokens(100);
        let order: Vec<String> = order_by_price(&targets, &prices, &request)
            .iter()
            .map(|target| target.model().to_owned())
            .collect();
        assert_eq!(
            order,
            [
                "google/gemini-2.5-flash:free",
                "gpt-4o",
                "anthropic/claude-3-opus",
                "unknown-1",
                "unknown-2"
            ]
        );
    }
}
