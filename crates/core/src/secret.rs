//! A string that never prints.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An API key or other secret. `Debug`, `Display` and `Serialize` print `[redacted]`; only
/// [`expose`](Self::expose) gives the value, and only code that sends it upstream calls it.
///
/// ```
/// use orchestra_core::Secret;
///
/// let key = Secret::new("sk-or-v1-abcdef");
/// assert_eq!(format!("{key:?}"), "Secret([redacted])");
/// assert_eq!(key.to_string(), "[redacted]");
/// assert_eq!(serde_json::to_string(&key).unwrap(), "\"[redacted]\"");
/// assert_eq!(key.expose(), "sk-or-v1-abcdef");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(Box<str>);

impl Secret {
    /// What every rendering of a secret shows.
    pub const REDACTED: &'static str = "[redacted]";

    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into().into_boxed_str())
    }

    /// The secret value. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", Self::REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(Self::REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}
