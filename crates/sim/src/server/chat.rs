//! `POST /chat/completions`: routing over `model` + `models`, quotas, credits, faults, and
//! the JSON / SSE answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hyper::Response;
use hyper::header::{CONTENT_LENGTH, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::{CT_JSON, CT_SSE, error_json, json_response};
use crate::body::{Abort, SimBody};
use crate::clock::{Rng, fnv1a};
use crate::fault::Fault;
use crate::state::{Attempt, GenerationRecord, ModelEntry, RequestRecord, State, lock};

/// The parts of a chat request the simulator reads.
#[derive(Deserialize)]
struct ChatRequest<'a> {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    models: Option<Vec<String>>,
    #[serde(default, borrow)]
    messages: Option<Vec<Message<'a>>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(default)]
    role: Option<String>,
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Part {
    #[serde(default)]
    text: Option<String>,
}

fn message_text(content: Option<&RawValue>) -> String {
    let Some(raw) = content else {
        return String::new();
    };
    let s = raw.get();
    if s.starts_with('"') {
        serde_json::from_str::<String>(s).unwrap_or_default()
    } else if s.starts_with('[') {
        serde_json::from_str::<Vec<Part>>(s)
            .map(|parts| {
                parts
                    .into_iter()
                    .filter_map(|p| p.text)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    } else {
        String::new()
    }
}

/// A refusal sent as a JSON error (before any body byte).
pub(crate) struct ErrorReply {
    status: u16,
    body: Bytes,
    retry_after: Option<u64>,
    /// `(limit, reset epoch ms)` for `X-RateLimit-*`.
    rate: Option<(u32, u64)>,
}

impl ErrorReply {
    fn plain(status: u16, message: &str, metadata: serde_json::Value) -> Self {
        Self {
            status,
            body: error_json(status, message, metadata),
            retry_after: None,
            rate: None,
        }
    }

    pub(crate) fn into_response(self) -> Response<SimBody> {
        let mut resp = json_response(self.status, self.body);
        let h = resp.headers_mut();
        if let Some(s) = self.retry_after {
            h.insert("retry-after", HeaderValue::from(s));
        }
        if let Some((limit, reset)) = self.rate {
            h.insert("x-ratelimit-limit", HeaderValue::from(limit));
            h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            h.insert("x-ratelimit-reset", HeaderValue::from(reset));
        }
        resp
    }
}

/// Everything decided about a request that will be answered by a model.
struct Plan {
    model: Arc<ModelEntry>,
    fault: Option<Fault>,
    gen_id: String,
    created: u64,
    prompt_tokens: u64,
    completion_tokens: u32,
    finish: &'static str,
    cost: f64,
    digest: String,
    ttft: Duration,
    rng: Rng,
}

fn error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request",
        401 => "authentication",
        402 => "payment_required",
        403 => "permission_denied",
        404 => "not_found",
        408 | 504 | 524 => "timeout",
        413 => "payload_too_large",
        422 => "unprocessable",
        429 => "rate_limit_exceeded",
        502 => "provider_unavailable",
        503 | 529 => "provider_overloaded",
        _ => "server",
    }
}

fn default_fault_message(status: u16, model: &str) -> String {
    match status {
        429 => format!(
            "{model} is temporarily rate-limited upstream. Please retry shortly, or add your own \
             key to accumulate your rate limits: https://openrouter.ai/settings/integrations"
        ),
        500 => "Internal Server Error".into(),
        502 => "Provider returned error".into(),
        503 => format!("{model} is temporarily unavailable. Retry shortly."),
        504 | 524 => "Provider timed out".into(),
        529 => "Provider overloaded".into(),
        408 => "Request timed out".into(),
        403 => "Your chosen model requires moderation and your input was flagged".into(),
        404 => format!("No endpoints found for {model}."),
        _ => format!("Simulated upstream error {status}"),
    }
}

/// Handles a chat completion request whose body has been read.
pub(crate) async fn handle(
    state: &State,
    kill: &Arc<AtomicBool>,
    path: &str,
    body: &[u8],
) -> Result<Response<SimBody>, Abort> {
    let now_ms = state.clock.now_ms();
    let mut rec = RequestRecord {
        seq: 0,
        at_ms: now_ms,
        method: "POST".into(),
        path: path.into(),
        requested: Vec::new(),
        served: None,
        status: 200,
        stream: false,
        fault: None,
        attempts: Vec::new(),
        generation_id: None,
    };
    let req: ChatRequest<'_> = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            let reply = ErrorReply::plain(
                400,
                &format!("Invalid JSON in request body: {e}"),
                serde_json::json!({"error_type": "invalid_request"}),
            );
            rec.status = 400;
            state.record(rec);
            return Ok(reply.into_response());
        }
    };
    let stream = req.stream.unwrap_or(false);
    rec.stream = stream;
    rec.requested = req
        .model
        .iter()
        .chain(req.models.iter().flatten())
        .cloned()
        .collect();
    let plan = match route(state, &req, now_ms, stream, &mut rec) {
        Ok(plan) => plan,
        Err(reply) => {
            rec.status = reply.status;
            state.record(rec);
            return Ok(reply.into_response());
        }
    };
    rec.served = Some(plan.model.config.id.clone());
    rec.generation_id = Some(plan.gen_id.clone());
    rec.fault = plan.fault.as_ref().map(Fault::label);
    rec.status = match plan.fault {
        Some(Fault::Hang | Fault::Reset) => 0,
        _ => 200,
    };
    state.record(rec);

    match plan.fault {
        Some(Fault::Hang) => std::future::pending().await,
        Some(Fault::Reset) => {
            kill.store(true, Ordering::Relaxed);
            return Err(Abort);
        }
        _ => {}
    }
    if stream {
        Ok(stream_response(state, plan, kill))
    } else {
        Ok(json_answer(plan, kill).await)
    }
}

/// Tries `model` then `models`; the first candidate that can answer wins, otherwise the last
/// error is returned.
fn route(
    state: &State,
    req: &ChatRequest<'_>,
    now_ms: u64,
    stream: bool,
    rec: &mut RequestRecord,
) -> Result<Plan, ErrorReply> {
    let Some(messages) = req.messages.as_ref().filter(|m| !m.is_empty()) else {
        return Err(ErrorReply::plain(
            400,
            "Input required: specify \"prompt\" or \"messages\"",
            serde_json::json!({"error_type": "invalid_request"}),
        ));
    };
    let fallbacks = req.models.as_deref().unwrap_or(&[]);
    if fallbacks.len() > 3 {
        return Err(ErrorReply::plain(
            400,
            "'models' array must have 3 items or fewer.",
            serde_json::json!({"error_type": "invalid_request"}),
        ));
    }
    let mut candidates: Vec<&str> = Vec::with_capacity(1 + fallbacks.len());
    if let Some(m) = &req.model {
        candidates.push(m);
    }
    candidates.extend(fallbacks.iter().map(String::as_str));
    if candidates.is_empty() {
        match &state.default_model {
            Some(d) => candidates.push(d),
            None => {
                return Err(ErrorReply::plain(
                    400,
                    "No model specified and no default model configured",
                    serde_json::json!({"error_type": "invalid_request"}),
                ));
            }
        }
    }

    let mut prompt_tokens = 0u64;
    let mut last_user = String::new();
    for m in messages {
        let text = message_text(m.content);
        prompt_tokens += 4 + (text.chars().count() as u64).div_ceil(4);
        if m.role.as_deref() == Some("user") {
            last_user = text;
        }
    }
    let digest = format!("{:08x}", fnv1a(last_user.as_bytes()) >> 32);
    let requested_max = req.max_completion_tokens.or(req.max_tokens);

    let mut last_err = None;
    for id in candidates {
        match attempt(state, id, prompt_tokens, requested_max, now_ms) {
            Ok((model, fault, cost, completion_tokens, finish)) => {
                rec.attempts.push(Attempt {
                    model: id.to_owned(),
                    status: 200,
                    fault: fault.as_ref().map(Fault::label),
                });
                let created = now_ms / 1000;
                let gen_id = state.new_generation_id(created);
                let mut rng = Rng::new(lock(&model.faults).rng.next_u64());
                let lat = model.config.latency;
                let ttft = Duration::from_millis(lat.ttft_ms + rng.up_to(lat.jitter_ms));
                let plan = Plan {
                    fault,
                    gen_id,
                    created,
                    prompt_tokens,
                    completion_tokens,
                    finish,
                    cost,
                    digest,
                    ttft,
                    rng,
                    model,
                };
                store_generation(state, &plan, stream, rec);
                return Ok(plan);
            }
            Err((reply, label)) => {
                rec.attempts.push(Attempt {
                    model: id.to_owned(),
                    status: reply.status,
                    fault: Some(label),
                });
                rec.fault = rec.attempts.last().and_then(|a| a.fault.clone());
                last_err = Some(reply);
            }
        }
    }
    Err(last_err
        .unwrap_or_else(|| ErrorReply::plain(500, "Internal Server Error", serde_json::json!({}))))
}

type Accepted = (Arc<ModelEntry>, Option<Fault>, f64, u32, &'static str);

/// One model attempt: availability, quota, credits, then faults.
fn attempt(
    state: &State,
    id: &str,
    prompt_tokens: u64,
    requested_max: Option<u64>,
    now_ms: u64,
) -> Result<Accepted, (ErrorReply, String)> {
    let Some(model) = state.model(id) else {
        return Err((
            ErrorReply::plain(
                400,
                &format!("{id} is not a valid model ID"),
                serde_json::json!({"error_type": "invalid_request"}),
            ),
            "unknown_model".into(),
        ));
    };
    let cfg = &model.config;
    let counters = &model.counters;
    counters.requests.fetch_add(1, Ordering::Relaxed);
    if !cfg.available {
        counters.errors.fetch_add(1, Ordering::Relaxed);
        return Err((
            ErrorReply::plain(
                404,
                &format!("No endpoints found for {id}."),
                serde_json::json!({"error_type": "not_found"}),
            ),
            "no_endpoints".into(),
        ));
    }
    if let Some(max) = requested_max
        && prompt_tokens + max > cfg.context_length
    {
        counters.errors.fetch_add(1, Ordering::Relaxed);
        return Err((
            ErrorReply::plain(
                400,
                &format!(
                    "This endpoint's maximum context length is {} tokens. However, you requested \
                     about {} tokens ({prompt_tokens} of text input, {max} in the output). Please \
                     reduce the length of either one, or use the \"middle-out\" transform to \
                     compress your prompt automatically.",
                    cfg.context_length,
                    prompt_tokens + max
                ),
                serde_json::json!({"error_type": "context_length_exceeded"}),
            ),
            "context_length".into(),
        ));
    }

    // Quota (platform limit): checked first; admitted requests count even if they fail later.
    if cfg.requests_per_minute.is_some() || cfg.requests_per_day.is_some() {
        let hit = lock(&model.quota).admit(now_ms, cfg.requests_per_minute, cfg.requests_per_day);
        if let Err(hit) = hit {
            counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            return Err((
                quota_reply(state, id, cfg.is_free_variant(), hit, now_ms),
                {
                    if hit.per_day {
                        "quota_day".into()
                    } else {
                        "quota_minute".into()
                    }
                },
            ));
        }
    }

    // Answer length.
    let cap = requested_max
        .unwrap_or(u64::MAX)
        .min(u64::from(cfg.max_completion_tokens));
    let (completion_tokens, finish) = if u64::from(cfg.completion_tokens) > cap {
        (u32::try_from(cap).unwrap_or(u32::MAX), "length")
    } else {
        (cfg.completion_tokens, "stop")
    };
    let cost = cfg
        .pricing
        .cost(prompt_tokens, u64::from(completion_tokens));

    // Credits pre-check.
    {
        let credits = lock(&state.credits);
        if let Some(total) = credits.total {
            let balance = total - credits.usage;
            let worst_out = requested_max.unwrap_or(u64::from(cfg.max_completion_tokens));
            let worst = cfg.pricing.cost(prompt_tokens, worst_out);
            let refusal = if balance <= 0.0 {
                Some(
                    "Insufficient credits. Add more using https://openrouter.ai/credits".to_owned(),
                )
            } else if !cfg.pricing.is_free() && worst > balance {
                let left =
                    balance - prompt_tokens as f64 * cfg.pricing.prompt - cfg.pricing.request;
                let afford = if cfg.pricing.completion > 0.0 && left > 0.0 {
                    (left / cfg.pricing.completion).floor() as u64
                } else {
                    0
                };
                Some(format!(
                    "This request requires more credits, or fewer max_tokens. You requested up to \
                     {worst_out} tokens, but can only afford {afford}. To increase, visit \
                     https://openrouter.ai/settings/credits and upgrade to a paid account"
                ))
            } else {
                None
            };
            if let Some(message) = refusal {
                drop(credits);
                counters.errors.fetch_add(1, Ordering::Relaxed);
                return Err((
                    ErrorReply::plain(
                        402,
                        &message,
                        serde_json::json!({"provider_name": null, "error_type": "payment_required"}),
                    ),
                    "credits".into(),
                ));
            }
        }
    }

    // Faults.
    let fault = lock(&model.faults).draw();
    if let Some(f) = &fault {
        counters.faults.fetch_add(1, Ordering::Relaxed);
        if let Fault::Status {
            status,
            retry_after,
            message,
        } = f
        {
            let status = *status;
            if status == 429 {
                counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            } else {
                counters.errors.fetch_add(1, Ordering::Relaxed);
            }
            let message = message
                .clone()
                .unwrap_or_else(|| default_fault_message(status, id));
            let mut reply = ErrorReply::plain(
                status,
                &message,
                serde_json::json!({
                    "provider_name": model.provider,
                    "raw": format!("simulated upstream status {status}"),
                    "error_type": error_type(status),
                }),
            );
            reply.retry_after = *retry_after;
            return Err((reply, f.label()));
        }
    }

    let billed = matches!(
        fault,
        None | Some(Fault::Stall { .. } | Fault::Slow { .. } | Fault::Oversized { .. })
    );
    if billed {
        counters.successes.fetch_add(1, Ordering::Relaxed);
        counters
            .prompt_tokens
            .fetch_add(prompt_tokens, Ordering::Relaxed);
        counters
            .completion_tokens
            .fetch_add(u64::from(completion_tokens), Ordering::Relaxed);
        counters.add_cost(cost);
        lock(&state.credits).usage += cost;
        Ok((model, fault, cost, completion_tokens, finish))
    } else {
        counters.errors.fetch_add(1, Ordering::Relaxed);
        Ok((model, fault, 0.0, completion_tokens, finish))
    }
}

fn quota_reply(
    state: &State,
    id: &str,
    free: bool,
    hit: crate::state::QuotaHit,
    now_ms: u64,
) -> ErrorReply {
    let message = match (free, hit.per_day) {
        (true, true) => "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 \
                         free model requests per day"
            .to_owned(),
        (true, false) => "Rate limit exceeded: free-models-per-min.".to_owned(),
        (false, true) => format!("Rate limit exceeded: limit_rpd/{id}"),
        (false, false) => format!("Rate limit exceeded: limit_rpm/{id}"),
    };
    let retry_after = state
        .clock
        .retry_after_secs(hit.reset_ms.saturating_sub(now_ms));
    let headers = serde_json::json!({
        "X-RateLimit-Limit": hit.limit.to_string(),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": hit.reset_ms.to_string(),
    });
    let mut reply = ErrorReply::plain(
        429,
        &message,
        serde_json::json!({"headers": headers, "provider_name": null, "error_type": "rate_limit_exceeded"}),
    );
    reply.retry_after = Some(retry_after);
    reply.rate = Some((hit.limit, hit.reset_ms));
    reply
}

fn store_generation(state: &State, plan: &Plan, stream: bool, rec: &RequestRecord) {
    let lat = plan.model.config.latency;
    let finish = match plan.fault {
        Some(Fault::StreamError { .. } | Fault::StreamCut { .. } | Fault::ErrorIn200 { .. }) => {
            "error"
        }
        _ => plan.finish,
    };
    state.store_generation(GenerationRecord {
        id: plan.gen_id.clone(),
        model: plan.model.config.id.clone(),
        provider: plan.model.provider.clone(),
        created_ms: plan.created * 1000,
        streamed: stream,
        tokens_prompt: plan.prompt_tokens,
        tokens_completion: u64::from(plan.completion_tokens),
        total_cost: plan.cost,
        finish_reason: finish.into(),
        latency_ms: u64::try_from(plan.ttft.as_millis()).unwrap_or(u64::MAX),
        generation_time_ms: u64::try_from(plan.ttft.as_millis()).unwrap_or(u64::MAX)
            + u64::from(plan.completion_tokens) * lat.per_token_ms,
        previous_attempts: rec.attempts.clone(),
    });
}

// ---------------------------------------------------------------------------------------
// Answer bodies

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
    cost: f64,
    is_byok: bool,
    cost_details: CostDetails,
}

#[derive(Serialize)]
struct PromptDetails {
    cached_tokens: u64,
    cache_write_tokens: u64,
    audio_tokens: u64,
}

#[derive(Serialize)]
struct CompletionDetails {
    reasoning_tokens: u64,
}

#[derive(Serialize)]
struct CostDetails {
    upstream_inference_cost: Option<f64>,
    upstream_inference_prompt_cost: f64,
    upstream_inference_completions_cost: f64,
}

impl Plan {
    fn usage(&self, completion_tokens: u64) -> Usage {
        let p = &self.model.config.pricing;
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens,
            total_tokens: self.prompt_tokens + completion_tokens,
            prompt_tokens_details: PromptDetails {
                cached_tokens: 0,
                cache_write_tokens: 0,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: 0,
            },
            cost: self.cost,
            is_byok: false,
            cost_details: CostDetails {
                upstream_inference_cost: None,
                upstream_inference_prompt_cost: self.prompt_tokens as f64 * p.prompt,
                upstream_inference_completions_cost: completion_tokens as f64 * p.completion,
            },
        }
    }

    /// Content token `i` (0 = the model id, 1 = the prompt digest, then filler words).
    fn token(&self, i: u32) -> std::borrow::Cow<'_, str> {
        match i {
            0 => self.model.config.id.as_str().into(),
            1 => format!(" {}", self.digest).into(),
            _ => self.model.filler.word(i as usize - 2).into(),
        }
    }

    /// The first `n` content tokens as one string.
    fn content(&self, n: u32) -> String {
        let id = &self.model.config.id;
        let filler = self.model.filler.prefix(n.saturating_sub(2) as usize);
        let mut s = String::with_capacity(id.len() + 10 + filler.len());
        if n >= 1 {
            s.push_str(id);
        }
        if n >= 2 {
            s.push(' ');
            s.push_str(&self.digest);
        }
        s.push_str(filler);
        s
    }

    /// Real time of generating `n` tokens after the first.
    fn token_time(&mut self, n: u32) -> Duration {
        let lat = self.model.config.latency;
        let mut ms = u64::from(n) * lat.per_token_ms;
        if lat.token_jitter_ms > 0 {
            for _ in 0..n {
                ms += self.rng.up_to(lat.token_jitter_ms);
            }
        }
        Duration::from_millis(ms)
    }

    fn token_pause(&mut self) -> Duration {
        let lat = self.model.config.latency;
        Duration::from_millis(lat.per_token_ms + self.rng.up_to(lat.token_jitter_ms))
    }
}

#[derive(Serialize)]
struct ChatResult<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    provider: &'a str,
    system_fingerprint: Option<&'a str>,
    choices: [Choice<'a>; 1],
    usage: Usage,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    finish_reason: &'a str,
    native_finish_reason: &'a str,
    logprobs: Option<()>,
    message: AssistantMessage<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: &'a str,
    refusal: Option<()>,
    reasoning: Option<()>,
}

fn chat_json(
    plan: &Plan,
    content: &str,
    tokens: u32,
    finish: &str,
    error: Option<serde_json::Value>,
) -> Vec<u8> {
    let result = ChatResult {
        id: &plan.gen_id,
        object: "chat.completion",
        created: plan.created,
        model: &plan.model.config.id,
        provider: &plan.model.provider,
        system_fingerprint: None,
        choices: [Choice {
            index: 0,
            finish_reason: finish,
            native_finish_reason: finish,
            logprobs: None,
            message: AssistantMessage {
                role: "assistant",
                content,
                refusal: None,
                reasoning: None,
            },
            error,
        }],
        usage: plan.usage(u64::from(tokens)),
    };
    serde_json::to_vec(&result).unwrap_or_default()
}

fn in_body_error(code: u16, message: Option<&str>, provider: &str) -> serde_json::Value {
    serde_json::json!({
        "code": code,
        "message": message.unwrap_or("Provider returned error"),
        "metadata": {"provider_name": provider, "error_type": error_type(code)},
    })
}

fn with_gen_id(mut resp: Response<SimBody>, gen_id: &str) -> Response<SimBody> {
    if let Ok(v) = HeaderValue::from_str(gen_id) {
        resp.headers_mut().insert("x-generation-id", v);
    }
    resp
}

/// A non-streaming answer (after the model's latency).
async fn json_answer(mut plan: Plan, kill: &Arc<AtomicBool>) -> Response<SimBody> {
    let n = plan.completion_tokens;
    let mut delay = plan.ttft + plan.token_time(n.saturating_sub(1));
    if let Some(Fault::Stall { ms, .. } | Fault::Slow { ms }) = &plan.fault {
        delay += Duration::from_millis(*ms);
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let gen_id = plan.gen_id.clone();
    let body: Vec<u8> = match &plan.fault {
        Some(Fault::Malformed) => {
            let full = chat_json(&plan, &plan.content(n), n, plan.finish, None);
            full[..full.len() / 2].to_vec()
        }
        Some(Fault::ErrorIn200 { code, message }) => serde_json::to_vec(&serde_json::json!({
            "error": in_body_error(*code, message.as_deref(), &plan.model.provider),
            "user_id": "user_sim",
        }))
        .unwrap_or_default(),
        Some(Fault::StreamError {
            after,
            code,
            message,
        }) => {
            let k = (*after).min(n);
            let err = in_body_error(*code, message.as_deref(), &plan.model.provider);
            chat_json(&plan, &plan.content(k), k, "error", Some(err))
        }
        Some(Fault::Oversized { bytes }) => {
            let mut content = plan.content(n);
            content.push_str(BULK_MARKER);
            let json = chat_json(&plan, &content, n, plan.finish, None);
            return with_gen_id(json_response(200, with_bulk(&json, *bytes)), &gen_id);
        }
        Some(Fault::ResetMidBody { .. } | Fault::StreamCut { .. }) => {
            let full = chat_json(&plan, &plan.content(n), n, plan.finish, None);
            let abort = matches!(plan.fault, Some(Fault::ResetMidBody { .. }));
            let half = Bytes::copy_from_slice(&full[..full.len() / 2]);
            let steps = if abort {
                vec![Step::Data(half), Step::Sleep(FLUSH_PAUSE), Step::Abort]
            } else {
                // The pause makes it a channel body, which may end short of the length.
                vec![Step::Data(half), Step::Sleep(FLUSH_PAUSE)]
            };
            let mut resp = play(steps, kill, CT_JSON);
            resp.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(full.len()));
            return with_gen_id(resp, &gen_id);
        }
        _ => chat_json(&plan, &plan.content(n), n, plan.finish, None),
    };
    with_gen_id(json_response(200, body), &gen_id)
}

/// Stands in for the bulk of an oversized answer until [`with_bulk`] replaces it; JSON-safe.
const BULK_MARKER: &str = "@@orchestra-sim-bulk@@";

/// `body` with its [`BULK_MARKER`] replaced by about `bytes` bytes of filler words, copied
/// from one 64 KiB piece: a 100 MiB answer is a few memcpys, never a serde pass over 100 MiB
/// (which would take seconds in a debug build and turn the fault into a timeout).
fn with_bulk(body: &[u8], bytes: usize) -> Bytes {
    static PIECE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let piece = PIECE.get_or_init(|| crate::state::Filler::bulk(64 * 1024));
    let marker = BULK_MARKER.as_bytes();
    let Some(at) = body
        .windows(marker.len())
        .position(|window| window == marker)
    else {
        return Bytes::copy_from_slice(body);
    };
    let mut out = BytesMut::with_capacity(body.len() + bytes);
    out.extend_from_slice(&body[..at]);
    let mut left = bytes;
    while left > 0 {
        let take = left.min(piece.len());
        out.extend_from_slice(&piece.as_bytes()[..take]);
        left -= take;
    }
    out.extend_from_slice(&body[at + marker.len()..]);
    out.freeze()
}

/// Real pause before an abort so the bytes already written reach the client first.
const FLUSH_PAUSE: Duration = Duration::from_millis(20);
const PROCESSING: &[u8] = b": OPENROUTER PROCESSING\n\n";

/// One step of a scripted body.
enum Step {
    Data(Bytes),
    Sleep(Duration),
    Abort,
}

/// Plays steps into a response: a single buffer when nothing waits or aborts, otherwise a
/// task feeding a channel.
fn play(steps: Vec<Step>, kill: &Arc<AtomicBool>, content_type: &'static str) -> Response<SimBody> {
    let timed = steps.iter().any(|s| !matches!(s, Step::Data(_)));
    let body = if timed {
        let (tx, rx) = mpsc::channel(8);
        let kill = kill.clone();
        tokio::spawn(async move {
            let mut buf = BytesMut::new();
            for step in steps {
                match step {
                    Step::Data(b) => buf.extend_from_slice(&b),
                    Step::Sleep(d) => {
                        if !buf.is_empty() && tx.send(Ok(buf.split().freeze())).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(d).await;
                    }
                    Step::Abort => {
                        kill.store(true, Ordering::Relaxed);
                        if !buf.is_empty() {
                            let _ = tx.send(Ok(buf.split().freeze())).await;
                        }
                        let _ = tx.send(Err(Abort)).await;
                        return;
                    }
                }
            }
            if !buf.is_empty() {
                let _ = tx.send(Ok(buf.freeze())).await;
            }
        });
        SimBody::Channel(rx)
    } else {
        let mut buf = BytesMut::new();
        for step in steps {
            if let Step::Data(b) = step {
                buf.extend_from_slice(&b);
            }
        }
        SimBody::full(buf.freeze())
    };
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    if content_type == CT_SSE {
        resp.headers_mut()
            .insert("cache-control", HeaderValue::from_static("no-cache"));
    }
    resp
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Builds the SSE answer.
fn stream_response(state: &State, mut plan: Plan, kill: &Arc<AtomicBool>) -> Response<SimBody> {
    let mut steps = Vec::new();
    steps.push(Step::Data(Bytes::from_static(PROCESSING)));
    let mut wait = plan.ttft;
    while wait > state.keepalive {
        steps.push(Step::Sleep(state.keepalive));
        steps.push(Step::Data(Bytes::from_static(PROCESSING)));
        wait -= state.keepalive;
    }
    if !wait.is_zero() {
        steps.push(Step::Sleep(wait));
    }

    let head = format!(
        "data: {{\"id\":\"{}\",\"provider\":{},\"model\":{},\"object\":\"chat.completion.chunk\",\"created\":{}",
        plan.gen_id,
        json_str(&plan.model.provider),
        json_str(&plan.model.config.id),
        plan.created
    );
    let chunk = |delta: &str, finish: &str| -> Bytes {
        Bytes::from(format!(
            "{head},\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish},\"native_finish_reason\":{finish},\"logprobs\":null}}],\"system_fingerprint\":null}}\n\n"
        ))
    };

    match plan.fault.clone() {
        Some(Fault::ErrorIn200 { code, message }) => {
            let body = serde_json::json!({
                "error": in_body_error(code, message.as_deref(), &plan.model.provider),
                "user_id": "user_sim",
            });
            steps.push(Step::Data(Bytes::from(format!("data: {body}\n\n"))));
            return with_gen_id(play(steps, kill, CT_SSE), &plan.gen_id);
        }
        Some(Fault::Malformed) => {
            steps.push(Step::Data(chunk(
                r#"{"role":"assistant","content":""}"#,
                "null",
            )));
            steps.push(Step::Data(Bytes::from(format!(
                "{head},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\n\n"
            ))));
            steps.push(Step::Data(Bytes::from_static(b"data: [DONE]\n\n")));
            return with_gen_id(play(steps, kill, CT_SSE), &plan.gen_id);
        }
        _ => {}
    }

    steps.push(Step::Data(chunk(
        r#"{"role":"assistant","content":""}"#,
        "null",
    )));
    let n = plan.completion_tokens;
    let paced =
        plan.model.config.latency.per_token_ms > 0 || plan.model.config.latency.token_jitter_ms > 0;
    let trigger = match &plan.fault {
        Some(
            Fault::ResetMidBody { after }
            | Fault::StreamCut { after }
            | Fault::StreamError { after, .. }
            | Fault::Stall { after, .. },
        ) => Some((*after).min(n)),
        Some(Fault::Slow { ms }) => {
            steps.push(Step::Sleep(Duration::from_millis(*ms)));
            None
        }
        _ => None,
    };
    for i in 0..=n {
        if trigger == Some(i) {
            match plan.fault.clone() {
                Some(Fault::StreamCut { .. }) => {
                    return with_gen_id(play(steps, kill, CT_SSE), &plan.gen_id);
                }
                Some(Fault::ResetMidBody { .. }) => {
                    steps.push(Step::Sleep(FLUSH_PAUSE));
                    steps.push(Step::Abort);
                    return with_gen_id(play(steps, kill, CT_SSE), &plan.gen_id);
                }
                Some(Fault::StreamError { code, message, .. }) => {
                    let err = in_body_error(code, message.as_deref(), &plan.model.provider);
                    steps.push(Step::Data(Bytes::from(format!(
                        "{head},\"error\":{err},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"\"}},\"finish_reason\":\"error\",\"native_finish_reason\":\"error\"}}]}}\n\n"
                    ))));
                    return with_gen_id(play(steps, kill, CT_SSE), &plan.gen_id);
                }
                Some(Fault::Stall { ms, .. }) => {
                    steps.push(Step::Sleep(Duration::from_millis(ms)));
                }
                _ => {}
            }
        }
        if i == n {
            break;
        }
        if i > 0 && paced {
            let pause = plan.token_pause();
            steps.push(Step::Sleep(pause));
        }
        let delta = format!("{{\"content\":{}}}", json_str(&plan.token(i)));
        steps.push(Step::Data(chunk(&delta, "null")));
    }
    if let Some(Fault::Oversized { bytes }) = &plan.fault {
        let delta = format!("{{\"content\":\"{BULK_MARKER}\"}}");
        steps.push(Step::Data(with_bulk(&chunk(&delta, "null"), *bytes)));
    }
    let finish = format!("\"{}\"", plan.finish);
    steps.push(Step::Data(chunk(r#"{"content":""}"#, &finish)));
    let usage = serde_json::to_string(&plan.usage(u64::from(n))).unwrap_or_default();
    steps.push(Step::Data(Bytes::from(format!(
        "{head},\"choices\":[],\"usage\":{usage}}}\n\n"
    ))));
    steps.push(Step::Data(Bytes::from_static(b"data: [DONE]\n\n")));
    with_gen_id(play(steps, kill, CT_SSE), &plan.gen_id)
}
