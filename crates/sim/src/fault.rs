//! Faults: what can go wrong with one request, scripted as sequences or drawn at random.
//!
//! In scenario files and the HTTP control API a fault is either a table
//! (`{ kind = "status", status = 429, retry_after = 5 }`) or a shorthand string
//! (`"429 retry_after=5"`, `"hang"`, `"stream_cut after=3"`); see [`Fault::parse`].

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// One way a request can fail. Token positions (`after`) count streamed content tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Fault {
    /// An HTTP error status with OpenRouter's error body (429, 500, 502, 503, 524, 529…).
    /// With model fallbacks (`models`), the next model is tried, like OpenRouter does.
    Status {
        /// HTTP status, 400..=599.
        status: u16,
        /// `Retry-After` header value in seconds, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
        /// Error message; a realistic default per status otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Never answer (the connection stays open until the client gives up).
    Hang,
    /// Abort the TCP connection (RST) before any byte of the response.
    Reset,
    /// Send the headers and part of the body, then abort the TCP connection (RST).
    /// Streams: after `after` content tokens; JSON: after half of the body.
    ResetMidBody {
        /// Content tokens streamed before the reset.
        #[serde(default = "default_after")]
        after: u32,
    },
    /// HTTP 200 with a body that is not valid JSON (a broken `data:` event for streams).
    Malformed,
    /// HTTP 200 whose body is an error object without `choices` (a `data:` event for streams).
    ErrorIn200 {
        /// `error.code` in the body.
        #[serde(default = "default_error_code")]
        code: u16,
        /// `error.message` in the body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The stream ends cleanly after `after` tokens without `finish_reason`, usage or
    /// `[DONE]`. For JSON requests the body is cut short (declared length not reached).
    StreamCut {
        /// Content tokens streamed before the cut.
        #[serde(default = "default_after")]
        after: u32,
    },
    /// After `after` tokens, a mid-stream error event
    /// (`{"error":{..},"choices":[{"delta":{"content":""},"finish_reason":"error"}]}`), then
    /// the stream ends. For JSON requests: HTTP 200, partial content, `finish_reason:"error"`
    /// and `choices[0].error`.
    StreamError {
        /// Content tokens streamed before the error.
        #[serde(default = "default_after")]
        after: u32,
        /// `error.code` of the event.
        #[serde(default = "default_error_code")]
        code: u16,
        /// `error.message` of the event.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Pause `ms` milliseconds (real time) after `after` tokens, then continue normally.
    /// For JSON requests: the response is delayed by `ms`.
    Stall {
        /// Content tokens streamed before the pause.
        #[serde(default = "default_after")]
        after: u32,
        /// Length of the pause in real milliseconds.
        ms: u64,
    },
    /// A valid response whose content is about `bytes` bytes long.
    Oversized {
        /// Approximate size of the content.
        #[serde(default = "default_oversized")]
        bytes: usize,
    },
    /// Answer normally, but `ms` real milliseconds later than the model's latency says.
    Slow {
        /// Extra delay in real milliseconds.
        ms: u64,
    },
}

fn default_after() -> u32 {
    2
}
fn default_error_code() -> u16 {
    502
}
fn default_oversized() -> usize {
    8 * 1024 * 1024
}

impl Fault {
    /// An HTTP error status without `Retry-After`.
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            retry_after: None,
            message: None,
        }
    }

    /// An HTTP error status with a `Retry-After` header (seconds).
    pub fn status_retry_after(status: u16, retry_after: u64) -> Self {
        Self::Status {
            status,
            retry_after: Some(retry_after),
            message: None,
        }
    }

    /// A short stable label, used in the request log (`"status_429"`, `"hang"`…).
    pub fn label(&self) -> String {
        match self {
            Self::Status { status, .. } => format!("status_{status}"),
            Self::Hang => "hang".into(),
            Self::Reset => "reset".into(),
            Self::ResetMidBody { .. } => "reset_mid_body".into(),
            Self::Malformed => "malformed".into(),
            Self::ErrorIn200 { .. } => "error_in_200".into(),
            Self::StreamCut { .. } => "stream_cut".into(),
            Self::StreamError { .. } => "stream_error".into(),
            Self::Stall { .. } => "stall".into(),
            Self::Oversized { .. } => "oversized".into(),
            Self::Slow { .. } => "slow".into(),
        }
    }

    /// Parses the shorthand form: a kind followed by `key=value` options.
    ///
    /// Kinds: a status code (`429`, options `retry_after`), `hang`, `reset`,
    /// `reset_mid_body` (`after`), `malformed`, `error_in_200` (`code`), `stream_cut`
    /// (`after`), `stream_error` (`after`, `code`), `stall` (`after`, `ms`), `oversized`
    /// (`bytes`), `slow` (`ms`). Dashes may replace underscores.
    ///
    /// # Errors
    /// A message naming the unknown kind, option or bad number.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut words = text.split_whitespace();
        let kind = words.next().ok_or("empty fault")?.replace('-', "_");
        let mut opts = Opts::default();
        for word in words {
            opts.set(word)?;
        }
        let fault = if let Ok(status) = kind.parse::<u16>() {
            let fault = Self::Status {
                status,
                retry_after: opts.take("retry_after")?,
                message: None,
            };
            fault.validate()?;
            fault
        } else {
            match kind.as_str() {
                "hang" => Self::Hang,
                "reset" => Self::Reset,
                "reset_mid_body" => Self::ResetMidBody {
                    after: opts.take("after")?.unwrap_or_else(default_after),
                },
                "malformed" => Self::Malformed,
                "error_in_200" => Self::ErrorIn200 {
                    code: opts.take("code")?.unwrap_or_else(default_error_code),
                    message: None,
                },
                "stream_cut" => Self::StreamCut {
                    after: opts.take("after")?.unwrap_or_else(default_after),
                },
                "stream_error" => Self::StreamError {
                    after: opts.take("after")?.unwrap_or_else(default_after),
                    code: opts.take("code")?.unwrap_or_else(default_error_code),
                    message: None,
                },
                "stall" => Self::Stall {
                    after: opts.take("after")?.unwrap_or_else(default_after),
                    ms: opts.take("ms")?.ok_or("`stall` needs ms=N")?,
                },
                "oversized" => Self::Oversized {
                    bytes: opts.take("bytes")?.unwrap_or_else(default_oversized),
                },
                "slow" => Self::Slow {
                    ms: opts.take("ms")?.ok_or("`slow` needs ms=N")?,
                },
                other => {
                    return Err(format!(
                        "unknown fault `{other}` (expected a status code, hang, reset, \
                         reset_mid_body, malformed, error_in_200, stream_cut, stream_error, \
                         stall, oversized or slow)"
                    ));
                }
            }
        };
        opts.finish()?;
        Ok(fault)
    }

    /// Checks value ranges (status codes).
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self {
            Self::Status { status, .. } if !(400..=599).contains(status) => Err(format!(
                "status {status} is not an error status (expected 400..=599)"
            )),
            _ => Ok(()),
        }
    }
}

/// `key=value` options of a shorthand fault.
#[derive(Default)]
struct Opts(Vec<(String, String)>);

impl Opts {
    fn set(&mut self, word: &str) -> Result<(), String> {
        let (key, value) = word
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, found `{word}`"))?;
        self.0.push((key.replace('-', "_"), value.to_owned()));
        Ok(())
    }

    fn take<T: std::str::FromStr>(&mut self, key: &str) -> Result<Option<T>, String> {
        let Some(pos) = self.0.iter().position(|(k, _)| k == key) else {
            return Ok(None);
        };
        let (_, value) = self.0.remove(pos);
        value
            .parse()
            .map(Some)
            .map_err(|_| format!("`{key}={value}`: not a valid number"))
    }

    fn finish(self) -> Result<(), String> {
        match self.0.first() {
            Some((key, _)) => Err(format!("unknown option `{key}` for this fault")),
            None => Ok(()),
        }
    }
}

/// Visitor for a fault given as a shorthand string or a table; `"ok"` means no fault when
/// `allow_ok` is set.
struct FaultVisitor {
    allow_ok: bool,
}

impl<'de> Visitor<'de> for FaultVisitor {
    type Value = Option<Fault>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a fault: a string like \"429 retry_after=5\" or a table with `kind`")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<Fault>, E> {
        if self.allow_ok && v.trim() == "ok" {
            return Ok(None);
        }
        Fault::parse(v).map(Some).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<Fault>, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<Fault>, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<Fault>, A::Error> {
        let fault = Fault::deserialize(de::value::MapAccessDeserializer::new(map))?;
        fault.validate().map_err(de::Error::custom)?;
        Ok(Some(fault))
    }
}

/// Deserializes a [`Fault`] from a shorthand string or a table, validating it.
pub(crate) fn fault_or_shorthand<'de, D: Deserializer<'de>>(d: D) -> Result<Fault, D::Error> {
    d.deserialize_any(FaultVisitor { allow_ok: false })?
        .ok_or_else(|| de::Error::custom("\"ok\" is not a fault here"))
}

/// One step of a fault script: `fault` (or success when `None`) for the next `times` requests.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScriptStep {
    /// The fault to apply, `None` = answer normally.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    /// How many consecutive requests this step covers (at least 1).
    pub times: u32,
}

impl ScriptStep {
    /// `times` successful answers.
    pub fn ok(times: u32) -> Self {
        Self { fault: None, times }
    }

    /// `fault` for the next `times` requests.
    pub fn fault(fault: Fault, times: u32) -> Self {
        Self {
            fault: Some(fault),
            times,
        }
    }

    /// Parses the shorthand form: `"ok"` or a [`Fault::parse`] string, optionally followed
    /// by `xN` (repeat N times), e.g. `"429 retry_after=5 x2"`.
    ///
    /// # Errors
    /// A message naming the bad part.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut times = 1;
        let mut rest: Vec<&str> = Vec::new();
        for word in text.split_whitespace() {
            match word.strip_prefix('x').or_else(|| word.strip_prefix('*')) {
                Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                    times = n
                        .parse()
                        .map_err(|_| format!("`{word}`: repeat count too large"))?;
                }
                _ => rest.push(word),
            }
        }
        if times == 0 {
            return Err("repeat count must be at least 1".into());
        }
        let body = rest.join(" ");
        if body == "ok" {
            Ok(Self::ok(times))
        } else {
            Ok(Self::fault(Fault::parse(&body)?, times))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepTable {
    #[serde(default, deserialize_with = "opt_fault")]
    fault: Option<Fault>,
    #[serde(default = "one")]
    times: u32,
}

fn one() -> u32 {
    1
}

fn opt_fault<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Fault>, D::Error> {
    d.deserialize_any(FaultVisitor { allow_ok: true })
}

impl<'de> Deserialize<'de> for ScriptStep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ScriptStep;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a script step: \"ok\", \"429 x2\", or { fault = .., times = N }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScriptStep, E> {
                ScriptStep::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ScriptStep, E> {
                ScriptStep::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ScriptStep, E> {
                ScriptStep::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ScriptStep, A::Error> {
                let t = StepTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                if t.times == 0 {
                    return Err(de::Error::custom("`times` must be at least 1"));
                }
                Ok(ScriptStep {
                    fault: t.fault,
                    times: t.times,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A fault drawn at random with the given probability on each request to the model.
///
/// Several random faults of one model are exclusive: one uniform draw picks at most one
/// (so their probabilities must add up to at most 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomFault {
    /// Probability in `0.0..=1.0`.
    pub probability: f64,
    /// The fault.
    #[serde(deserialize_with = "fault_or_shorthand")]
    pub fault: Fault,
}

impl RandomFault {
    /// `fault` with probability `probability`.
    pub fn new(probability: f64, fault: Fault) -> Self {
        Self { probability, fault }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_parses() {
        assert_eq!(
            ScriptStep::parse("429 retry_after=5 x2").unwrap(),
            ScriptStep::fault(Fault::status_retry_after(429, 5), 2)
        );
        assert_eq!(ScriptStep::parse("ok x3").unwrap(), ScriptStep::ok(3));
        assert_eq!(
            Fault::parse("stall after=1 ms=500").unwrap(),
            Fault::Stall { after: 1, ms: 500 }
        );
        assert_eq!(
            Fault::parse("reset-mid-body").unwrap(),
            Fault::ResetMidBody { after: 2 }
        );
        assert!(
            Fault::parse("teapot")
                .unwrap_err()
                .contains("unknown fault")
        );
        assert!(
            Fault::parse("200")
                .unwrap_err()
                .contains("not an error status")
        );
        assert!(Fault::parse("stall").unwrap_err().contains("ms=N"));
        assert!(Fault::parse("hang foo=1").unwrap_err().contains("foo"));
        assert!(ScriptStep::parse("500 x0").is_err());
    }
}
