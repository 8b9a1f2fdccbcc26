//! Account information: models with prices, credit balance.

pub use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A model a provider can serve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelInfo {
    /// Model id, e.g. `openai/gpt-4o` or `google/gemini-2.5-flash:free`.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Context window in tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u32>,
    /// Largest completion the top provider allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Prices; `None` when the upstream reports a variable price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<ModelPricing>,
}

impl ModelInfo {
    /// A model with only its id known.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: None,
            context_length: None,
            max_completion_tokens: None,
            pricing: None,
        }
    }

    /// Whether the model costs nothing: a `:free` variant or zero prices.
    pub fn is_free(&self) -> bool {
        self.id.ends_with(":free") || self.pricing.is_some_and(|pricing| pricing.is_zero())
    }
}

/// Prices in USD **per token** (OpenRouter's unit; multiply by 10⁶ for per-million prices),
/// as exact decimals: `0.0000003` stays `0.0000003`, so costs add up and rankings never
/// depend on float rounding. Serialised as strings, the way OpenRouter sends them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelPricing {
    /// USD per prompt token.
    pub prompt: Decimal,
    /// USD per completion token.
    pub completion: Decimal,
    /// USD per request.
    #[serde(default)]
    pub request: Decimal,
}

impl ModelPricing {
    /// Prices per token.
    pub fn new(prompt: Decimal, completion: Decimal) -> Self {
        Self {
            prompt,
            completion,
            request: Decimal::ZERO,
        }
    }

    /// Parses per-token prices as OpenRouter writes them (`"0.000003"`); `None` for text that
    /// is not a non-negative decimal (OpenRouter's `"-1"` means "variable").
    ///
    /// ```
    /// use orchestra_core::ModelPricing;
    ///
    /// let pricing = ModelPricing::parse("0.000003", "0.000015").unwrap();
    /// assert_eq!(pricing.prompt.to_string(), "0.000003");
    /// assert!(ModelPricing::parse("-1", "-1").is_none());
    /// ```
    pub fn parse(prompt: &str, completion: &str) -> Option<Self> {
        Some(Self::new(
            Self::parse_price(prompt)?,
            Self::parse_price(completion)?,
        ))
    }

    /// One non-negative decimal price; `None` for anything else (`"-1"`: variable).
    pub fn parse_price(text: &str) -> Option<Decimal> {
        let price: Decimal = text.trim().parse().ok()?;
        (!price.is_sign_negative()).then_some(price)
    }

    /// Whether every price is zero.
    pub fn is_zero(&self) -> bool {
        self.prompt.is_zero() && self.completion.is_zero() && self.request.is_zero()
    }

    /// Exact cost in USD of a request with these token counts.
    ///
    /// ```
    /// use orchestra_core::ModelPricing;
    ///
    /// let pricing = ModelPricing::parse("0.000003", "0.000015").unwrap();
    /// assert_eq!(pricing.estimate(1000, 100).to_string(), "0.004500");
    /// ```
    pub fn estimate(&self, prompt_tokens: u32, completion_tokens: u32) -> Decimal {
        self.request
            + Decimal::from(prompt_tokens) * self.prompt
            + Decimal::from(completion_tokens) * self.completion
    }
}

/// Credit balance of the account and limits of the key, in USD.
///
/// Every field is optional because providers report different subsets (OpenRouter's
/// `/credits` needs a management key; `/key` reports only the key's own limit).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Credits {
    /// The provider reporting.
    pub provider: String,
    /// Credits ever bought.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_credits: Option<f64>,
    /// Credits ever used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_usage: Option<f64>,
    /// The key's spending cap; `None` means unlimited or unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_limit: Option<f64>,
    /// What is left under the key's cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_limit_remaining: Option<f64>,
    /// What the key has spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_usage: Option<f64>,
    /// Whether the account never bought credits (lower free-model quotas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_free_tier: Option<bool>,
}

impl Credits {
    /// An empty report from `provider`.
    pub fn new(provider: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            ..Self::default()
        }
    }

    /// Account balance: credits bought minus credits used, when both are known.
    ///
    /// ```
    /// use orchestra_core::Credits;
    ///
    /// let mut credits = Credits::new("openrouter");
    /// credits.total_credits = Some(100.5);
    /// credits.total_usage = Some(25.75);
    /// assert_eq!(credits.balance(), Some(74.75));
    /// ```
    pub fn balance(&self) -> Option<f64> {
        Some(self.total_credits? - self.total_usage?)
    }
}
