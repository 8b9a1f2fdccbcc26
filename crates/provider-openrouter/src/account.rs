//! Account APIs: `GET /models`, `/credits`, `/key` (`/auth/key`), `/generation`.

use std::{sync::Arc, time::Duration};

use orchestra_core::{Credits, Error, ModelInfo, ModelPricing};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};
use tokio::{sync::Mutex, time::Instant};

use orchestra_openai_compat::{ErrorMapper, read_body};

use crate::{
    OpenRouter, PROVIDER_NAME,
    wire::{Data, WireCredits, WireModel, WirePricing},
};

/// Requests per minute OpenRouter allows on `:free` models.
pub const FREE_MODEL_REQUESTS_PER_MINUTE: u32 = 20;
/// Requests per day on `:free` models for accounts that bought less than
/// [`FREE_MODEL_CREDITS_THRESHOLD_USD`].
pub const FREE_MODEL_REQUESTS_PER_DAY: u32 = 50;
/// Requests per day on `:free` models once the account bought at least
/// [`FREE_MODEL_CREDITS_THRESHOLD_USD`].
pub const FREE_MODEL_REQUESTS_PER_DAY_WITH_CREDITS: u32 = 1000;
/// Credits (USD) an account must have bought to get the higher free-model daily quota.
pub const FREE_MODEL_CREDITS_THRESHOLD_USD: f64 = 10.0;

/// What `GET /key` says about the calling key. Money is in USD; `None` means unlimited,
/// never, or not reported. Fields OpenRouter adds later are kept in `extra`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct KeyInfo {
    /// The key's label: OpenRouter shows a shortened key (`sk-or-v1-au7...890`), never the
    /// whole secret.
    pub label: Option<String>,
    /// Spending cap of the key.
    pub limit: Option<f64>,
    /// What is left under the cap.
    pub limit_remaining: Option<f64>,
    /// When the cap resets: `daily`, `weekly` or `monthly`.
    pub limit_reset: Option<String>,
    /// Whether bring-your-own-key spend counts toward the cap.
    pub include_byok_in_limit: Option<bool>,
    /// Spend of the key, all time.
    pub usage: Option<f64>,
    /// Spend today (UTC).
    pub usage_daily: Option<f64>,
    /// Spend this week (UTC, Monday to Sunday).
    pub usage_weekly: Option<f64>,
    /// Spend this month (UTC).
    pub usage_monthly: Option<f64>,
    /// Bring-your-own-key spend, all time.
    pub byok_usage: Option<f64>,
    /// Whether the account never paid for credits.
    pub is_free_tier: Option<bool>,
    /// Whether this is a management key (it may read `/credits`).
    pub is_management_key: Option<bool>,
    /// Expiry time (RFC 3339), `None` for never.
    pub expires_at: Option<String>,
    /// Every other field, as sent (the deprecated `rate_limit` among them).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why a [`FreeModelQuota`] has the daily limit it has.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "basis", rename_all = "snake_case")]
#[non_exhaustive]
pub enum QuotaBasis {
    /// `/credits` reported the credits bought.
    PurchasedCredits {
        /// Credits bought, USD.
        total_credits: f64,
    },
    /// `/key` says the account never paid.
    FreeTier,
    /// Neither is known (`/credits` needs a management key and `/key` did not say, or said
    /// the account paid without saying how much): the lower quota is assumed, because
    /// failed requests count against the daily quota.
    Assumed,
}

/// The request quotas OpenRouter applies to `:free` models for this account.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FreeModelQuota {
    /// Requests per minute.
    pub requests_per_minute: u32,
    /// Requests per day (UTC).
    pub requests_per_day: u32,
    /// How the daily figure was decided.
    #[serde(flatten)]
    pub basis: QuotaBasis,
}

impl FreeModelQuota {
    /// The quota that follows from what the account APIs reported.
    ///
    /// ```
    /// use orchestra_provider_openrouter::{FreeModelQuota, QuotaBasis};
    ///
    /// assert_eq!(FreeModelQuota::from_account(Some(25.0), Some(false)).requests_per_day, 1000);
    /// assert_eq!(FreeModelQuota::from_account(Some(5.0), Some(false)).requests_per_day, 50);
    /// let unknown = FreeModelQuota::from_account(None, Some(false));
    /// assert_eq!((unknown.requests_per_day, unknown.basis), (50, QuotaBasis::Assumed));
    /// ```
    pub fn from_account(total_credits: Option<f64>, is_free_tier: Option<bool>) -> Self {
        let (requests_per_day, basis) = match (total_credits, is_free_tier) {
            (Some(total_credits), _) => (
                if total_credits >= FREE_MODEL_CREDITS_THRESHOLD_USD {
                    FREE_MODEL_REQUESTS_PER_DAY_WITH_CREDITS
                } else {
                    FREE_MODEL_REQUESTS_PER_DAY
                },
                QuotaBasis::PurchasedCredits { total_credits },
            ),
            (None, Some(true)) => (FREE_MODEL_REQUESTS_PER_DAY, QuotaBasis::FreeTier),
            (None, _) => (FREE_MODEL_REQUESTS_PER_DAY, QuotaBasis::Assumed),
        };
        Self {
            requests_per_minute: FREE_MODEL_REQUESTS_PER_MINUTE,
            requests_per_day,
            basis,
        }
    }
}

/// One report on the account's money and quotas: the origin documents' "Monitoring Credit
/// Usage". Built by [`OpenRouter::monitor_credits`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreditReport {
    /// Credits bought, USD (`/credits`; management keys only).
    pub total_credits: Option<f64>,
    /// Credits used, USD (`/credits`).
    pub total_usage: Option<f64>,
    /// Why `/credits` could not be read, when it could not (typically: the key is not a
    /// management key).
    pub account_unavailable: Option<String>,
    /// The calling key (`/key`); `None` when `/key` failed.
    pub key: Option<KeyInfo>,
    /// Why `/key` could not be read, when it could not.
    pub key_unavailable: Option<String>,
    /// The `:free` model quotas that follow.
    pub free_models: FreeModelQuota,
}

impl CreditReport {
    /// Account balance: credits bought minus used, when `/credits` was readable.
    pub fn balance(&self) -> Option<f64> {
        Some(self.total_credits? - self.total_usage?)
    }

    /// What can still be spent: the smaller of the balance and the key's remaining cap,
    /// whichever are known.
    ///
    /// ```
    /// use orchestra_provider_openrouter::CreditReport;
    /// # fn check(report: &CreditReport) {
    /// if report.spendable().is_some_and(|usd| usd < 1.0) {
    ///     eprintln!("less than a dollar left: switch to free models");
    /// }
    /// # }
    /// ```
    pub fn spendable(&self) -> Option<f64> {
        let key_remaining = self.key.as_ref().and_then(|key| key.limit_remaining);
        match (self.balance(), key_remaining) {
            (Some(balance), Some(remaining)) => Some(balance.min(remaining)),
            (balance, remaining) => balance.or(remaining),
        }
    }

    /// Whether the account never paid for credits, as `/key` reported.
    pub fn is_free_tier(&self) -> Option<bool> {
        self.key.as_ref().and_then(|key| key.is_free_tier)
    }

    /// The report in the provider-neutral shape of [`Provider::credits`](orchestra_core::Provider::credits).
    pub fn to_credits(&self) -> Credits {
        let mut credits = Credits::new(PROVIDER_NAME);
        credits.total_credits = self.total_credits;
        credits.total_usage = self.total_usage;
        if let Some(key) = &self.key {
            credits.key_limit = key.limit;
            credits.key_limit_remaining = key.limit_remaining;
            credits.key_usage = key.usage;
            credits.is_free_tier = key.is_free_tier;
        }
        credits
    }
}

/// The model list, kept for a while; the lock is held during a fetch so concurrent callers
/// share one request instead of each downloading a few MiB.
pub(crate) struct ModelsCache {
    ttl: Duration,
    slot: Mutex<Option<(Instant, Arc<[ModelInfo]>)>>,
}

impl ModelsCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slot: Mutex::new(None),
        }
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }
}

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

/// `GET /models`, from the cache while it is fresh.
pub(crate) async fn models(client: &OpenRouter, refresh: bool) -> Result<Arc<[ModelInfo]>, Error> {
    let cache = client.models_cache();
    let mut slot = cache.slot.lock().await;
    if !refresh
        && let Some((fetched, models)) = slot.as_ref()
        && fetched.elapsed() < cache.ttl
    {
        return Ok(Arc::clone(models));
    }
    let models: Arc<[ModelInfo]> = fetch_models(client).await?.into();
    if !cache.ttl.is_zero() {
        *slot = Some((Instant::now(), Arc::clone(&models)));
    }
    Ok(models)
}

async fn fetch_models(client: &OpenRouter) -> Result<Vec<ModelInfo>, Error> {
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

/// Exact per-token prices; `None` when unknown or variable (`"-1"`, any negative value).
fn pricing(pricing: WirePricing) -> Option<ModelPricing> {
    let mut prices =
        ModelPricing::new(pricing.prompt?.as_price()?, pricing.completion?.as_price()?);
    if let Some(request) = pricing.request {
        prices.request = request.as_price()?;
    }
    Some(prices)
}

/// `GET /credits` and `GET /key` together. Either may fail; only when both do is the error
/// returned (the `/key` one: `/credits` failing alone is normal for inference keys).
pub(crate) async fn monitor_credits(client: &OpenRouter) -> Result<CreditReport, Error> {
    let (account, key) =
        futures_util::future::join(account_credits(client), key_info(client)).await;
    let (account, account_unavailable) = match account {
        Ok(account) => (Some(account), None),
        Err(error) => (None, Some(error)),
    };
    let (key, key_unavailable) = match key {
        Ok(key) => (Some(key), None),
        Err(error) => (None, Some(error)),
    };
    if let (Some(account_error), Some(key_error)) = (&account_unavailable, &key_unavailable) {
        tracing::debug!(%account_error, "GET /credits failed as well as GET /key");
        return Err(key_error.clone());
    }
    let total_credits = account.as_ref().and_then(|account| account.total_credits);
    let report = CreditReport {
        total_credits,
        total_usage: account.as_ref().and_then(|account| account.total_usage),
        account_unavailable: account_unavailable.map(|error| describe_unavailable(&error)),
        free_models: FreeModelQuota::from_account(
            total_credits,
            key.as_ref().and_then(|key| key.is_free_tier),
        ),
        key,
        key_unavailable: key_unavailable.map(|error| error.to_string()),
    };
    tracing::info!(
        balance_usd = report.balance(),
        spendable_usd = report.spendable(),
        key_usage_daily_usd = report.key.as_ref().and_then(|key| key.usage_daily),
        is_free_tier = report.is_free_tier(),
        free_requests_per_day = report.free_models.requests_per_day,
        "openrouter credits"
    );
    Ok(report)
}

fn describe_unavailable(error: &Error) -> String {
    match error.status() {
        Some(403) => "GET /credits needs a management key; this is an inference key".to_owned(),
        Some(404) => "this server has no GET /credits".to_owned(),
        _ => error.to_string(),
    }
}

/// `GET /credits` (management keys only: 403 otherwise).
async fn account_credits(client: &OpenRouter) -> Result<WireCredits, Error> {
    get_json::<Data<WireCredits>>(client, &client.url("credits"))
        .await
        .map(|data| data.data)
}

/// `GET /key`, or the legacy `GET /auth/key` when `/key` is 404.
async fn key_info(client: &OpenRouter) -> Result<KeyInfo, Error> {
    match get_json::<Data<KeyInfo>>(client, &client.url("key")).await {
        Ok(data) => Ok(data.data),
        Err(error) if error.status() == Some(404) => {
            get_json::<Data<KeyInfo>>(client, &client.url("auth/key"))
                .await
                .map(|data| data.data)
        }
        Err(error) => Err(error),
    }
}

impl OpenRouter {
    /// The account's money and quotas in one report: balance (with a management key),
    /// the key's cap, spend and free-tier flag, and the `:free` model quotas that follow.
    /// Also logged as a `tracing` event at `info`.
    ///
    /// `/credits` answers only management keys; with an inference key the report says so
    /// in [`CreditReport::account_unavailable`] and carries what `/key` gives.
    ///
    /// # Errors
    ///
    /// Only when both `/credits` and `/key` fail: the `/key` error.
    pub async fn monitor_credits(&self) -> Result<CreditReport, Error> {
        monitor_credits(self).await
    }

    /// What `GET /key` says about the calling key: cap, remaining, spend per day, week and
    /// month, free-tier flag.
    ///
    /// # Errors
    ///
    /// Transport errors and mapped HTTP errors, as for chat.
    pub async fn key_info(&self) -> Result<KeyInfo, Error> {
        key_info(self).await
    }

    /// The model list fetched now, bypassing and then refreshing the cache.
    ///
    /// # Errors
    ///
    /// Transport errors and mapped HTTP errors, as for chat.
    pub async fn refresh_models(&self) -> Result<Arc<[ModelInfo]>, Error> {
        models(self, true).await
    }

    /// The model list, from the cache while it is younger than the configured time to
    /// live ([`OpenRouterBuilder::models_cache_ttl`](crate::OpenRouterBuilder::models_cache_ttl)).
    ///
    /// # Errors
    ///
    /// Transport errors and mapped HTTP errors, as for chat.
    pub async fn cached_models(&self) -> Result<Arc<[ModelInfo]>, Error> {
        models(self, false).await
    }

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
        .map_err(|error| client.errors().transport(error, None))?;
    if !response.status().is_success() {
        return Err(client.error_from_response(response, None).await);
    }
    let body = read_body(
        response,
        MAX_ACCOUNT_BODY_BYTES,
        false,
        &**client.errors(),
        None,
    )
    .await?;
    serde_json::from_slice(&body).map_err(|error| {
        client.errors().decode(
            &format!("unexpected JSON from {}", path_of(url)),
            Some(error),
            None,
        )
    })
}

fn path_of(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}
