//! The control API under `/__sim/`: drive a running simulator from another process.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde::Deserialize;

use super::{check_auth, error_response, json_response, query_param, read_body};
use crate::body::SimBody;
use crate::config::ModelConfig;
use crate::fault::{RandomFault, ScriptStep};
use crate::state::State;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsBody {
    model: String,
    #[serde(default)]
    clear: bool,
    #[serde(default)]
    script: Vec<ScriptStep>,
    #[serde(default)]
    random: Option<Vec<RandomFault>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreditsBody {
    /// `null` = unlimited; absent = unchanged.
    #[serde(default, with = "double_option")]
    credits: Option<Option<f64>>,
    #[serde(default)]
    usage: Option<f64>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<f64>>, D::Error> {
        Option::<f64>::deserialize(d).map(Some)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    #[serde(default)]
    quotas: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    #[serde(default)]
    ms: u64,
    #[serde(default)]
    seconds: u64,
}

fn ok() -> Response<SimBody> {
    json_response(200, &b"{\"ok\":true}"[..])
}

fn json<T: serde::Serialize>(v: &T) -> Response<SimBody> {
    match serde_json::to_vec(v) {
        Ok(b) => json_response(200, b),
        Err(e) => error_response(500, &e.to_string()),
    }
}

/// A control-call failure: status and message.
struct Fail(u16, String);

fn fail(status: u16, message: impl Into<String>) -> Fail {
    Fail(status, message.into())
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Fail> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| fail(400, format!("invalid body: {e}")))
}

pub(super) async fn handle(
    state: &Arc<State>,
    rest: &str,
    req: Request<Incoming>,
) -> Response<SimBody> {
    if rest == "health" {
        return ok();
    }
    if let Some(resp) = check_auth(state, &req) {
        return resp;
    }
    let method = req.method().clone();
    let query = req.uri().query().map(str::to_owned);
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let result = match (&method, rest) {
        (&Method::GET, "stats") => Ok(json(&state.stats())),
        (&Method::GET, "log") => Ok(json(&state.log())),
        (&Method::GET, "clock") => Ok(json(&serde_json::json!({"now_ms": state.clock.now_ms()}))),
        (&Method::GET, "credits") => Ok(json(&state.credits())),
        (&Method::GET, "models") => {
            let models: Vec<ModelConfig> = state
                .models_sorted()
                .iter()
                .map(|m| m.config.clone())
                .collect();
            Ok(json(&models))
        }
        (&Method::PUT | &Method::POST, "models") => parse::<ModelConfig>(&body).and_then(|m| {
            crate::config::SimConfig {
                models: vec![m.clone()],
                ..crate::config::SimConfig::empty()
            }
            .validate()
            .map_err(|e| fail(400, e.to_string()))?;
            state.set_model(m);
            Ok(ok())
        }),
        (&Method::DELETE, "models") => match query_param(query.as_deref(), "id") {
            Some(id) if state.remove_model(&id) => Ok(ok()),
            Some(id) => Err(fail(404, format!("unknown model `{id}`"))),
            None => Err(fail(400, "missing ?id=")),
        },
        (&Method::POST, "faults") => parse::<FaultsBody>(&body).and_then(|f| {
            if state.model(&f.model).is_none() {
                return Err(fail(404, format!("unknown model `{}`", f.model)));
            }
            if f.clear {
                state.clear_faults(&f.model);
            }
            state.push_faults(&f.model, f.script);
            if let Some(random) = f.random {
                let total: f64 = random.iter().map(|r| r.probability).sum();
                if random.iter().any(|r| !(0.0..=1.0).contains(&r.probability)) || total > 1.0 {
                    return Err(fail(
                        400,
                        "probabilities must be in 0..=1 and add up to at most 1",
                    ));
                }
                state.set_random_faults(&f.model, random);
            }
            Ok(ok())
        }),
        (&Method::GET, "faults") => match query_param(query.as_deref(), "model") {
            Some(id) => state
                .pending_script(&id)
                .map(|s| json(&s))
                .ok_or_else(|| fail(404, format!("unknown model `{id}`"))),
            None => Err(fail(400, "missing ?model=")),
        },
        (&Method::POST, "credits") => parse::<CreditsBody>(&body).map(|c| {
            if let Some(total) = c.credits {
                state.set_credits(total);
            }
            if let Some(usage) = c.usage {
                state.set_usage(usage);
            }
            json(&state.credits())
        }),
        (&Method::POST, "reset") => parse::<ResetBody>(&body).map(|r| {
            state.reset_counters();
            if r.quotas {
                state.reset_quotas();
            }
            ok()
        }),
        (&Method::POST, "advance") => parse::<AdvanceBody>(&body).map(|a| {
            state.clock.advance(Duration::from_millis(
                a.ms.saturating_add(a.seconds.saturating_mul(1000)),
            ));
            json(&serde_json::json!({"now_ms": state.clock.now_ms()}))
        }),
        _ => Err(fail(
            404,
            format!("unknown control endpoint {method} /__sim/{rest}"),
        )),
    };
    result.unwrap_or_else(|Fail(status, message)| error_response(status, &message))
}
