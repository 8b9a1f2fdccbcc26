//! The HTTP server: accept loop, connections that can be reset, routing of paths.

mod chat;
mod control;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::body::{Abort, SimBody};
use crate::config::price_string;
use crate::state::{RequestRecord, State};

pub(crate) const CT_JSON: &str = "application/json";
pub(crate) const CT_SSE: &str = "text/event-stream";
/// Streams one HTTP/2 connection may carry at once: enough for every request of a
/// 10,000-in-flight benchmark on one connection (hyper's default is 200).
pub(crate) const H2_MAX_CONCURRENT_STREAMS: u32 = 65_536;
/// Largest request body accepted.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// A TCP stream that is closed with RST (zero linger) when its connection is killed.
struct KillableStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

impl Drop for KillableStream {
    fn drop(&mut self) {
        if self.kill.load(Ordering::Relaxed) {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Resolves once the shutdown flag is set (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Accepts connections until `shutdown` turns true.
pub(crate) async fn run(
    listener: TcpListener,
    state: Arc<State>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "orchestra-sim: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => break,
        };
        let _ = stream.set_nodelay(true);
        let kill = Arc::new(AtomicBool::new(false));
        let io = TokioIo::new(KillableStream {
            inner: stream,
            kill: kill.clone(),
        });
        let state = state.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let state = state.clone();
                let kill = kill.clone();
                async move { dispatch(&state, &kill, req).await }
            });
            // HTTP/1.1, or HTTP/2 when the client opens with its preface (h2c, prior
            // knowledge): what OpenRouter negotiates over TLS, without the TLS.
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().keep_alive(true);
            builder
                .http2()
                .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS);
            let conn = builder.serve_connection(io, svc);
            tokio::select! {
                _ = conn => {}
                () = stopped(&mut stop) => {}
            }
        });
    }
}

pub(crate) fn json_response(status: u16, body: impl Into<Bytes>) -> Response<SimBody> {
    let mut resp = Response::new(SimBody::full(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static(CT_JSON));
    resp
}

/// OpenRouter's error body: `{"error":{"code","message","metadata"},"user_id"}`.
pub(crate) fn error_json(status: u16, message: &str, metadata: serde_json::Value) -> Bytes {
    let mut error = serde_json::json!({"code": status, "message": message});
    if !metadata.as_object().is_some_and(serde_json::Map::is_empty)
        && let Some(obj) = error.as_object_mut()
    {
        obj.insert("metadata".into(), metadata);
    }
    serde_json::to_vec(&serde_json::json!({"error": error, "user_id": "user_sim"}))
        .map(Bytes::from)
        .unwrap_or_default()
}

fn error_response(status: u16, message: &str) -> Response<SimBody> {
    json_response(status, error_json(status, message, serde_json::json!({})))
}

/// `None` when authorised, else the 401 answer.
fn check_auth(state: &State, req: &Request<Incoming>) -> Option<Response<SimBody>> {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    match (token, &state.api_key) {
        (None, _) => Some(error_response(401, "No auth credentials found")),
        (Some(t), Some(k)) if t != k => Some(error_response(401, "User not found.")),
        _ => None,
    }
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<SimBody>> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(_) => Err(error_response(413, "Request body too large or unreadable")),
    }
}

fn simple_record(state: &State, method: &Method, path: &str, status: u16) -> RequestRecord {
    RequestRecord {
        seq: 0,
        at_ms: state.clock.now_ms(),
        method: method.to_string(),
        path: path.to_owned(),
        requested: Vec::new(),
        served: None,
        status,
        stream: false,
        fault: None,
        attempts: Vec::new(),
        generation_id: None,
    }
}

async fn dispatch(
    state: &Arc<State>,
    kill: &Arc<AtomicBool>,
    req: Request<Incoming>,
) -> Result<Response<SimBody>, Abort> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    if let Some(rest) = path.strip_prefix("/__sim/") {
        return Ok(control::handle(state, rest, req).await);
    }
    state.http_requests.fetch_add(1, Ordering::Relaxed);
    let api = path
        .strip_prefix("/api/v1/")
        .or_else(|| path.strip_prefix("/v1/"));
    let Some(endpoint) = api else {
        let resp = error_response(404, "Not Found");
        state.record(simple_record(state, &method, &path, 404));
        return Ok(resp);
    };
    if let Some(resp) = check_auth(state, &req) {
        state.unauthorized.fetch_add(1, Ordering::Relaxed);
        if endpoint == "chat/completions" {
            state.chat_requests.fetch_add(1, Ordering::Relaxed);
        }
        state.record(simple_record(state, &method, &path, 401));
        return Ok(resp);
    }
    let resp = match (&method, endpoint) {
        (&Method::POST, "chat/completions") => {
            state.chat_requests.fetch_add(1, Ordering::Relaxed);
            let body = match read_body(req).await {
                Ok(b) => b,
                Err(resp) => return Ok(resp),
            };
            // The chat handler records the request itself.
            return chat::handle(state, kill, &path, &body).await;
        }
        (&Method::GET, "models") => json_response(200, state.models_json(models_body)),
        (&Method::GET, "key" | "auth/key") => json_response(200, key_body(state)),
        (&Method::GET, "credits") => {
            let c = state.credits();
            json_response(
                200,
                to_bytes(&serde_json::json!({"data": {
                    "total_credits": c.total.unwrap_or(UNLIMITED_CREDITS),
                    "total_usage": c.usage,
                }})),
            )
        }
        (&Method::GET, "generation") => {
            let id = query_param(req.uri().query(), "id");
            match id.and_then(|id| state.generation(&id)) {
                Some(g) => json_response(200, generation_body(&g)),
                None => error_response(404, "Generation not found"),
            }
        }
        (_, "chat/completions" | "models" | "key" | "auth/key" | "credits" | "generation") => {
            error_response(405, "Method Not Allowed")
        }
        _ => error_response(404, "Not Found"),
    };
    state.record(simple_record(state, &method, &path, resp.status().as_u16()));
    Ok(resp)
}

/// `total_credits` reported by `GET /credits` when credits are unlimited.
pub(crate) const UNLIMITED_CREDITS: f64 = 1_000_000.0;

fn to_bytes(v: &serde_json::Value) -> Bytes {
    serde_json::to_vec(v).map(Bytes::from).unwrap_or_default()
}

pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn models_body(state: &State) -> Bytes {
    let created = state.clock.now_ms() / 1000;
    let data: Vec<serde_json::Value> = state
        .models_sorted()
        .iter()
        .map(|m| {
            let c = &m.config;
            serde_json::json!({
                "id": c.id,
                "canonical_slug": c.id.strip_suffix(":free").unwrap_or(&c.id),
                "hugging_face_id": null,
                "name": c.display_name(),
                "created": created,
                "description": format!("Simulated model {} served by orchestra-sim.", c.id),
                "context_length": c.context_length,
                "architecture": {
                    "modality": "text->text",
                    "input_modalities": ["text"],
                    "output_modalities": ["text"],
                    "tokenizer": "Other",
                    "instruct_type": null,
                },
                "pricing": {
                    "prompt": price_string(c.pricing.prompt),
                    "completion": price_string(c.pricing.completion),
                    "request": price_string(c.pricing.request),
                    "image": "0",
                },
                "top_provider": {
                    "context_length": c.context_length,
                    "max_completion_tokens": c.max_completion_tokens,
                    "is_moderated": false,
                },
                "per_request_limits": null,
                "supported_parameters": ["max_tokens", "temperature", "top_p", "stop", "seed", "tools", "tool_choice"],
                "default_parameters": null,
                "supported_voices": null,
                "expiration_date": null,
                "knowledge_cutoff": null,
                "links": {"details": format!("/api/v1/models/{}/endpoints", c.id)},
            })
        })
        .collect();
    let total = data.len();
    to_bytes(&serde_json::json!({"data": data, "total_count": total, "links": {"next": null}}))
}

fn key_body(state: &State) -> Bytes {
    let c = state.credits();
    let label = match &state.api_key {
        Some(k) if k.chars().count() > 13 => {
            let head: String = k.chars().take(10).collect();
            let tail: String = k.chars().skip(k.chars().count() - 3).collect();
            format!("{head}...{tail}")
        }
        Some(k) => k.clone(),
        None => "sk-or-v1-sim...any".into(),
    };
    let remaining = c.total.map(|t| t - c.usage);
    to_bytes(&serde_json::json!({"data": {
        "label": label,
        "limit": c.total,
        "limit_remaining": remaining,
        "limit_reset": null,
        "include_byok_in_limit": false,
        "usage": c.usage,
        "usage_daily": c.usage,
        "usage_weekly": c.usage,
        "usage_monthly": c.usage,
        "byok_usage": 0.0,
        "byok_usage_daily": 0.0,
        "byok_usage_weekly": 0.0,
        "byok_usage_monthly": 0.0,
        "is_free_tier": c.total.is_some_and(|t| t < 10.0),
        "is_management_key": false,
        "is_provisioning_key": false,
        "creator_user_id": "user_sim",
        "expires_at": null,
        "rate_limit": {"requests": -1, "interval": "10s", "note": "This field is deprecated and safe to ignore."},
    }}))
}

fn generation_body(g: &crate::state::GenerationRecord) -> Bytes {
    let created = format_rfc3339(g.created_ms);
    let previous: Vec<serde_json::Value> = g
        .previous_attempts
        .iter()
        .map(|a| serde_json::json!({"model": a.model, "status": a.status, "fault": a.fault}))
        .collect();
    to_bytes(&serde_json::json!({"data": {
        "id": g.id,
        "upstream_id": format!("sim-{}", g.id),
        "total_cost": g.total_cost,
        "usage": g.total_cost,
        "cache_discount": null,
        "upstream_inference_cost": null,
        "created_at": created,
        "model": g.model,
        "provider_name": g.provider,
        "streamed": g.streamed,
        "cancelled": false,
        "latency": g.latency_ms,
        "generation_time": g.generation_time_ms,
        "moderation_latency": null,
        "finish_reason": g.finish_reason,
        "native_finish_reason": g.finish_reason,
        "tokens_prompt": g.tokens_prompt,
        "tokens_completion": g.tokens_completion,
        "native_tokens_prompt": g.tokens_prompt,
        "native_tokens_completion": g.tokens_completion,
        "native_tokens_reasoning": 0,
        "native_tokens_cached": 0,
        "native_tokens_completion_images": 0,
        "num_media_prompt": null,
        "num_media_completion": null,
        "num_search_results": null,
        "is_byok": false,
        "origin": "",
        "api_type": "completions",
        "router": null,
        "provider_responses": previous,
        "external_user": null,
        "app_id": null,
        "preset_id": null,
        "service_tier": null,
        "data_region": null,
        "workspace_id": null,
        "user_agent": null,
        "http_referer": null,
    }}))
}

/// Epoch ms → `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian, UTC).
pub(crate) fn format_rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(
            format_rfc3339(1_735_689_600_000),
            "2025-01-01T00:00:00.000Z"
        );
        assert_eq!(
            format_rfc3339(1_741_305_600_123),
            "2025-03-07T00:00:00.123Z"
        );
    }

    #[test]
    fn query() {
        assert_eq!(
            query_param(Some("a=1&id=gen-x%2Dy"), "id").as_deref(),
            Some("gen-x-y")
        );
        assert_eq!(query_param(Some("a=1"), "id"), None);
        assert_eq!(query_param(Some("id=%"), "id").as_deref(), Some("%"));
    }
}
