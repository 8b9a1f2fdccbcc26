//! Account APIs: `GET /models`, `/credits`, `/key` (`/auth/key`), `/generation`.

use orchestra_core::{Credits, Error, ModelInfo, ModelPricing};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::{
    OpenRouter, PROVIDER_NAME,
    client::read_body,
    errors::{decode_error, transport_error},
    wire::{Data, WireCredits, WireKey, WireModel, WirePricing},
};

/// Largest account response read (the full model list is a few MiB).
const MAX_ACCOUNT_BODY_BYTES: usize = 32 << 20;

/// Statistics of one generation (`GET /generation?id=`). Every field is optional: the
/// endpoint reports many of them as `null`, and fields are added over time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Generation {
    /// Generation id (`gen-…`).
    #[serde(default)]
    pub id: Option<String>,
    /// The upstream provider's own id.
    #[serde(default)]
    pub upstream_id: Option<String>,
    /// Total cost in USD.
    #[serde(default)]
    pub total_cost: Option<f64>,
    /// Usage in USD.
    #[serde(default)]
    pub usage: Option<f64>,
    /// Discount from prompt caching, USD.
    #[serde(default)]
    pub cache_discount: Option<f64>,
    /// BYOK: what the upstream charged, USD.
    #[serde(default)]
    pub upstream_inference_cost: Option<f64>,
    /// Creation time (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
    /// The model that served.
    #[serde(default)]
    pub model: Option<String>,
    /// The upstream provider that served.
    #[serde(default)]
    pub provider_name: Option<String>,
    /// Whether it was streamed.
    #[serde(default)]
    pub streamed: Option<bool>,
    /// Whether it was cancelled.
    #[serde(default)]
    pub cancelled: Option<bool>,
    /// Total latency, ms.
    #[serde(default)]
    pub latency: Option<f64>,
    /// Generation time, ms.
    #[serde(default)]
    pub generation_time: Option<f64>,
    /// Moderation latency, ms.
    #[serde(default)]
    pub moderation_latency: Option<f64>,
    /// Normalised finish reason.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// The provider's own finish reason.
    #[serde(default)]
    pub native_finish_reason: Option<String>,
    /// Prompt tokens (normalised count).
    #[serde(default)]
    pub tokens_prompt: Option<u64>,
    /// Completion tokens (normalised count).
    #[serde(default)]
    pub tokens_completion: Option<u64>,
    /// Prompt tokens, native tokenizer.
    #[serde(default)]
    pub native_tokens_prompt: Option<u64>,
    /// Completion tokens, native tokenizer.
    #[serde(default)]
    pub native_tokens_completion: Option<u64>,
    /// Reasoning tokens, native tokenizer.
    #[serde(default)]
    pub native_tokens_reasoning: Option<u64>,
    /// Cached prompt tokens, native tokenizer.
    #[serde(default)]
    pub native_tokens_cached: Option<u64>,
    /// Whether the user's own provider key was used.
    #[serde(default)]
    pub is_byok: Option<bool>,
    /// The attempts OpenRouter made upstream (fallbacks), as sent.
    #[serde(default)]
    pub provider_responses: Option<Vec<Value>>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GET /models`.
pub(crate) async fn models(client: &OpenRouter) -> Result<Vec<ModelInfo>, Error> {
    #[derive(Deserialize)]
    struct List {
        #[serde(default)]
        data: Vec<Value>,
    }
    let list: List = get_json(client, &client.url("models")).await?;
    Ok(list
        .data
        .into_iter()
        .filter_map(|entry| serde_json::from_value::<WireModel>(entry).ok())
        .filter_map(model_info)
        .collect())
}

fn model_info(model: WireModel) -> Option<ModelInfo> {
    let id = model.id.filter(|id| !id.trim().is_empty())?;
    let mut info = ModelInfo::new(id);
    info.name = model.name;
    let top = model.top_provider.unwrap_or_default();
    info.context_length = model
        .context_length
        .as_ref()
        .and_then(crate::wire::Number::as_u32)
        .or_else(|| {
            top.context_length
                .as_ref()
                .and_then(crate::wire::Number::as_u32)
        });
    info.max_completion_tokens = top
        .max_completion_tokens
        .as_ref()
        .and_then(crate::wire::Number::as_u32);
    info.pricing = model.pricing.and_then(pricing);
    Some(info)
}

/// Per-token prices; `None` when unknown or variable (`"-1"`, any negative value).
fn pricing(pricing: WirePricing) -> Option<ModelPricing> {
    let prompt = pricing.prompt?.as_f64()?;
    let completion = pricing.completion?.as_f64()?;
    let request = match pricing.request {
        None => 0.0,
        Some(request) => request.as_f64().unwrap_or(0.0),
    };
    if prompt < 0.0 || completion < 0.0 || request < 0.0 {
        return None;
    }
    let mut prices = ModelPricing::new(prompt, completion);
    prices.request = request;
    Some(prices)
}

/// `GET /credits` (management keys) and `GET /key` (any key; `/auth/key` on 404), combined.
/// Either may fail; only when both do is the error returned.
pub(crate) async fn credits(client: &OpenRouter) -> Result<Credits, Error> {
    let (account, key) =
        futures_util::future::join(account_credits(client), key_info(client)).await;
    let mut credits = Credits::new(PROVIDER_NAME);
    match (account, key) {
        (Err(account_error), Err(key_error)) => {
            tracing::debug!(%account_error, "GET /credits failed as well as GET /key");
            return Err(key_error);
        }
        (account, key) => {
            match account {
                Ok(Some(account)) => {
                    credits.total_credits = account.total_credits;
                    credits.total_usage = account.total_usage;
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "GET /credits failed; reporting the key only"),
            }
            match key {
                Ok(key) => {
                    credits.key_limit = key.limit;
                    credits.key_limit_remaining = key.limit_remaining;
                    credits.key_usage = key.usage;
                    credits.is_free_tier = key.is_free_tier;
                }
                Err(error) => tracing::warn!(%error, "GET /key failed; reporting the account only"),
            }
        }
    }
    Ok(credits)
}

/// `GET /credits`; `Ok(None)` when this key may not read it (403: management keys only) or
/// the server has no such endpoint (404).
async fn account_credits(client: &OpenRouter) -> Result<Option<WireCredits>, Error> {
    match get_json::<Data<WireCredits>>(client, &client.url("credits")).await {
        Ok(data) => Ok(Some(data.data)),
        Err(error) if matches!(error.status(), Some(403 | 404)) => {
            tracing::debug!(%error, "GET /credits unavailable with this key; using GET /key");
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// `GET /key`, or the legacy `GET /auth/key` when `/key` is 404.
async fn key_info(client: &OpenRouter) -> Result<WireKey, Error> {
    match get_json::<Data<WireKey>>(client, &client.url("key")).await {
        Ok(data) => Ok(data.data),
        Err(error) if error.status() == Some(404) => {
            get_json::<Data<WireKey>>(client, &client.url("auth/key"))
                .await
                .map(|data| data.data)
        }
        Err(error) => Err(error),
    }
}

impl OpenRouter {
    /// Statistics of a finished generation (`GET /generation?id=`), for auditing: cost,
    /// latency, native token counts, upstream attempts.
    ///
    /// Stats appear a moment after the generation ends; a 404
    /// ([`ModelNotFound`](orchestra_core::ErrorKind::ModelNotFound)) right after a request is
    /// common, so retry after about a second.
    ///
    /// # Errors
    ///
    /// Transport errors and mapped HTTP errors, as for chat.
    pub async fn generation(&self, id: &str) -> Result<Generation, Error> {
        let mut url = url::Url::parse(&self.url("generation"))
            .map_err(|error| Error::config(format!("invalid generation URL: {error}")))?;
        url.query_pairs_mut().append_pair("id", id);
        get_json::<Data<Generation>>(self, url.as_str())
            .await
            .map(|data| data.data)
    }
}

/// GETs `url` with the key and decodes a 2xx JSON body; other statuses become mapped errors.
async fn get_json<T: DeserializeOwned>(client: &OpenRouter, url: &str) -> Result<T, Error> {
    let response = client
        .http()
        .get(url)
        .bearer_auth(client.api_key().expose())
        .timeout(client.request_timeout())
        .send()
        .await
        .map_err(|error| transport_error(error, None))?;
    if !response.status().is_success() {
        return Err(client.error_from_response(response, None).await);
    }
    let body = read_body(response, MAX_ACCOUNT_BODY_BYTES, None, false).await?;
    serde_json::from_slice(&body).map_err(|error| {
        decode_error(
            &format!("unexpected JSON from {}", path_of(url)),
            Some(error),
            None,
        )
    })
}

fn path_of(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}
