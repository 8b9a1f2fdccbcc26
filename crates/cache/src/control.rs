//! Per-request cache control.

use orchestra_core::ChatRequest;
use serde_json::Value;

/// The [`ChatRequest::extra`] key that carries a [`CacheControl`]. The cache removes it
/// before the request goes upstream.
pub const CONTROL_KEY: &str = "orchestra_cache";

/// What the cache does with one request. Set it with [`CacheRequestExt::cache_control`] (or
/// `extra["orchestra_cache"] = "bypass" | "refresh" | "exact"` in JSON).
///
/// ```
/// use orchestra_cache::{CacheControl, CacheRequestExt};
/// use orchestra_core::{ChatRequest, Message};
///
/// let request = ChatRequest::new(vec![Message::user("What's new today?")])
///     .cache_control(CacheControl::Bypass);
/// assert_eq!(CacheControl::of(&request), CacheControl::Bypass);
/// assert_eq!(request.extra["orchestra_cache"], "bypass");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheControl {
    /// Look up, and store on a miss (the default).
    #[default]
    Default,
    /// Neither look up nor store: the answer is fresh and stays private. The response reports
    /// [`CacheStatus::Off`](orchestra_core::CacheStatus::Off).
    Bypass,
    /// Do not look up, but store the fresh answer, replacing the cached one.
    Refresh,
    /// Only the exact tier for this request: no semantic match.
    ExactOnly,
}

impl CacheControl {
    /// The JSON spelling: `default`, `bypass`, `refresh` or `exact`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheControl::Default => "default",
            CacheControl::Bypass => "bypass",
            CacheControl::Refresh => "refresh",
            CacheControl::ExactOnly => "exact",
        }
    }

    /// The control set on `request`; an unknown value counts as [`Bypass`](Self::Bypass),
    /// the safe reading of an instruction we do not understand.
    pub fn of(request: &ChatRequest) -> Self {
        match request.extra.get(CONTROL_KEY) {
            None | Some(Value::Null) => CacheControl::Default,
            Some(Value::String(value)) => match value.as_str() {
                "default" => CacheControl::Default,
                "refresh" => CacheControl::Refresh,
                "exact" => CacheControl::ExactOnly,
                _ => CacheControl::Bypass,
            },
            Some(_) => CacheControl::Bypass,
        }
    }

    /// Removes the control from `request` and returns it.
    pub fn take(request: &mut ChatRequest) -> Self {
        let control = Self::of(request);
        request.extra.remove(CONTROL_KEY);
        control
    }
}

/// Sets a [`CacheControl`] on a request.
pub trait CacheRequestExt {
    /// Sets what the cache does with this request.
    #[must_use]
    fn cache_control(self, control: CacheControl) -> Self;
}

impl CacheRequestExt for ChatRequest {
    fn cache_control(mut self, control: CacheControl) -> Self {
        if control == CacheControl::Default {
            self.extra.remove(CONTROL_KEY);
        } else {
            self.extra
                .insert(CONTROL_KEY.to_owned(), Value::from(control.as_str()));
        }
        self
    }
}
