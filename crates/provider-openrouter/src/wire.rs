//! Serde types of the OpenRouter-only account endpoints. The chat wire format is shared with
//! the other OpenAI-compatible providers in `orchestra-openai-compat`.

use serde::Deserialize;

pub(crate) use orchestra_openai_compat::wire::Number;

/// `{"data": ...}`, the envelope of the account endpoints.
#[derive(Debug, Deserialize)]
pub(crate) struct Data<T> {
    pub(crate) data: T,
}

/// `GET /credits`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireCredits {
    pub(crate) total_credits: Option<f64>,
    pub(crate) total_usage: Option<f64>,
}

/// One entry of `GET /models`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireModel {
    pub(crate) id: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) context_length: Option<Number>,
    pub(crate) pricing: Option<WirePricing>,
    pub(crate) top_provider: Option<TopProvider>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TopProvider {
    pub(crate) context_length: Option<Number>,
    pub(crate) max_completion_tokens: Option<Number>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WirePricing {
    pub(crate) prompt: Option<Number>,
    pub(crate) completion: Option<Number>,
    pub(crate) request: Option<Number>,
}
