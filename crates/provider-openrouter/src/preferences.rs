//! OpenRouter's `provider` routing preferences object.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Provider routing preferences: the request body's `provider` object.
///
/// Set once per client with
/// [`OpenRouterBuilder::provider_preferences`](crate::OpenRouterBuilder::provider_preferences).
/// A single request overrides it through `request.extra["provider"]`: the request's keys
/// replace the client's keys of the same name (set a key to `null` to clear it), and a
/// non-object value (for example `null`) replaces the whole object.
///
/// ```
/// use orchestra_provider_openrouter::{DataCollection, ProviderPreferences, SortBy};
///
/// let preferences = ProviderPreferences::new()
///     .order(["anthropic", "amazon-bedrock"])
///     .allow_fallbacks(false)
///     .sort(SortBy::Price)
///     .data_collection(DataCollection::Deny);
/// let json = serde_json::to_value(&preferences).unwrap();
/// assert_eq!(json["order"][0], "anthropic");
/// assert_eq!(json["sort"], "price");
/// assert!(json.get("zdr").is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProviderPreferences {
    /// Provider slugs to try first, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Vec<String>>,
    /// `false`: only the listed/primary providers; default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_fallbacks: Option<bool>,
    /// Only providers that support every parameter sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_parameters: Option<bool>,
    /// Whether providers that may store or train on prompts are allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_collection: Option<DataCollection>,
    /// Only Zero-Data-Retention endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zdr: Option<bool>,
    /// Allow-list of provider slugs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<Vec<String>>,
    /// Deny-list of provider slugs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<Vec<String>>,
    /// Allowed quantizations (`int8`, `fp8`, `bf16`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantizations: Option<Vec<String>>,
    /// How to order endpoints (disables price load-balancing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<ProviderSort>,
    /// Price ceilings; a hard filter that can make the request fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price: Option<MaxPrice>,
    /// Fields this type does not model yet, sent verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ProviderPreferences {
    /// No preferences: OpenRouter's default routing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `order`.
    #[must_use]
    pub fn order<I: IntoIterator<Item = S>, S: Into<String>>(mut self, providers: I) -> Self {
        self.order = Some(providers.into_iter().map(Into::into).collect());
        self
    }

    /// Sets `allow_fallbacks`.
    #[must_use]
    pub fn allow_fallbacks(mut self, allow: bool) -> Self {
        self.allow_fallbacks = Some(allow);
        self
    }

    /// Sets `require_parameters`.
    #[must_use]
    pub fn require_parameters(mut self, require: bool) -> Self {
        self.require_parameters = Some(require);
        self
    }

    /// Sets `data_collection`.
    #[must_use]
    pub fn data_collection(mut self, policy: DataCollection) -> Self {
        self.data_collection = Some(policy);
        self
    }

    /// Sets `zdr`.
    #[must_use]
    pub fn zdr(mut self, zdr: bool) -> Self {
        self.zdr = Some(zdr);
        self
    }

    /// Sets `only`.
    #[must_use]
    pub fn only<I: IntoIterator<Item = S>, S: Into<String>>(mut self, providers: I) -> Self {
        self.only = Some(providers.into_iter().map(Into::into).collect());
        self
    }

    /// Sets `ignore`.
    #[must_use]
    pub fn ignore<I: IntoIterator<Item = S>, S: Into<String>>(mut self, providers: I) -> Self {
        self.ignore = Some(providers.into_iter().map(Into::into).collect());
        self
    }

    /// Sets `quantizations`.
    #[must_use]
    pub fn quantizations<I: IntoIterator<Item = S>, S: Into<String>>(mut self, levels: I) -> Self {
        self.quantizations = Some(levels.into_iter().map(Into::into).collect());
        self
    }

    /// Sets `sort` (a [`SortBy`] or a full [`ProviderSort`]).
    #[must_use]
    pub fn sort(mut self, sort: impl Into<ProviderSort>) -> Self {
        self.sort = Some(sort.into());
        self
    }

    /// Sets `max_price`.
    #[must_use]
    pub fn max_price(mut self, max_price: MaxPrice) -> Self {
        self.max_price = Some(max_price);
        self
    }

    /// The preferences as the JSON object that goes into the body.
    pub(crate) fn to_object(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(object)) => object,
            // A struct of options and strings always serialises to an object.
            _ => Map::new(),
        }
    }
}

/// `provider.data_collection`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DataCollection {
    /// Providers that may retain or train on data are allowed (OpenRouter's default).
    Allow,
    /// Only providers that do not collect data.
    Deny,
}

/// What `provider.sort` orders endpoints by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SortBy {
    /// Cheapest first.
    Price,
    /// Highest throughput first.
    Throughput,
    /// Lowest latency first.
    Latency,
    /// OpenRouter's "exacto" quality ordering.
    Exacto,
}

/// Whether `sort` ranks each model's endpoints separately or all models together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SortPartition {
    /// Per model, in `models` order (the default).
    Model,
    /// Across every model in `models`.
    None,
}

/// `provider.sort`: a plain key (`"price"`) or `{by, partition}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum ProviderSort {
    /// `"price"`, `"throughput"`, ...
    By(SortBy),
    /// `{"by": ..., "partition": ...}`.
    Advanced {
        /// The sort key.
        by: SortBy,
        /// The partition.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partition: Option<SortPartition>,
    },
}

impl From<SortBy> for ProviderSort {
    fn from(by: SortBy) -> Self {
        ProviderSort::By(by)
    }
}

/// `provider.max_price`: USD per million tokens (per request/image for those keys).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MaxPrice {
    /// USD per million prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<f64>,
    /// USD per million completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<f64>,
    /// USD per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<f64>,
    /// USD per image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<f64>,
    /// USD per million audio tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<f64>,
}

impl MaxPrice {
    /// Ceilings for prompt and completion tokens, USD per million.
    pub fn per_million(prompt: f64, completion: f64) -> Self {
        Self {
            prompt: Some(prompt),
            completion: Some(completion),
            ..Self::default()
        }
    }
}
