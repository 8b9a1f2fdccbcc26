//! Account information: models with prices, credit balance.

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

/// Prices in USD **per token** (OpenRouter's unit; multiply by 10⁶ for per-million prices).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelPricing {
    /// USD per prompt token.
    pub prompt: f64,
    /// USD per completion token.
    pub completion: f64,
    /// USD per request.
    #[serde(default)]
    pub request: f64,
}

impl ModelPricing {
    /// Prices per token.
    pub fn new(prompt: f64, completion: f64) -> Self {
        Self {
            prompt,
            completion,
            request: 0.0,
        }
    }

    /// Whether every price is zero.
    pub fn is_zero(&self) -> bool {
        self.prompt == 0.0 && self.completion == 0.0 && self.request == 0.0
    }

    /// Estimated cost of a request with these token counts.
    ///
    /// ```
    /// use orchestra_core::ModelPricing;
    ///
    /// let pricing = ModelPricing::new(0.000_003, 0.000_015);
    /// assert!((pricing.estimate(1000, 100) - 0.0045).abs() < 1e-12);
    /// ```
    pub fn estimate(&self, prompt_tokens: u32, completion_tokens: u32) -> f64 {
        self.request
            + f64::from(prompt_tokens) * self.prompt
            + f64::from(completion_tokens) * self.completion
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
