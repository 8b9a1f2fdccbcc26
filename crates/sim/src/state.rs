//! Shared state: models, quotas, credits, counters, request log and past generations.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::clock::{Rng, SimClock};
use crate::config::{ModelConfig, SimConfig};
use crate::fault::{Fault, RandomFault, ScriptStep};

/// Locks a mutex, ignoring poisoning (the protected data stays consistent: every critical
/// section is a handful of plain assignments).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counters of one model.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) successes: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) faults: AtomicU64,
    pub(crate) prompt_tokens: AtomicU64,
    pub(crate) completion_tokens: AtomicU64,
    cost_bits: AtomicU64,
}

impl Counters {
    pub(crate) fn add_cost(&self, usd: f64) {
        add_f64(&self.cost_bits, usd);
    }

    fn snapshot(&self) -> ModelStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ModelStats {
            requests: l(&self.requests),
            successes: l(&self.successes),
            rate_limited: l(&self.rate_limited),
            errors: l(&self.errors),
            faults: l(&self.faults),
            prompt_tokens: l(&self.prompt_tokens),
            completion_tokens: l(&self.completion_tokens),
            cost: f64::from_bits(l(&self.cost_bits)),
        }
    }

    fn reset(&self) {
        for a in [
            &self.requests,
            &self.successes,
            &self.rate_limited,
            &self.errors,
            &self.faults,
            &self.prompt_tokens,
            &self.completion_tokens,
            &self.cost_bits,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }
}

fn add_f64(cell: &AtomicU64, v: f64) {
    let mut cur = cell.load(Ordering::Relaxed);
    loop {
        let new = (f64::from_bits(cur) + v).to_bits();
        match cell.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(seen) => cur = seen,
        }
    }
}

/// Counters of one model, as read through the handle or `GET /__sim/stats`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelStats {
    /// Attempts routed to this model (fallback attempts included).
    pub requests: u64,
    /// Attempts answered with content (HTTP 200 with choices), faults like `stall` included.
    pub successes: u64,
    /// 429s sent for this model (quota or scripted).
    pub rate_limited: u64,
    /// Other failures: error statuses, 402, 404 and failing faults (reset, cut, malformed…).
    pub errors: u64,
    /// Attempts on which a scripted or random fault was applied.
    pub faults: u64,
    /// Prompt tokens billed.
    pub prompt_tokens: u64,
    /// Completion tokens billed.
    pub completion_tokens: u64,
    /// USD billed.
    pub cost: f64,
}

/// All counters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SimStats {
    /// HTTP requests on the API paths (control API excluded).
    pub http_requests: u64,
    /// Chat completion requests (`/api/v1/chat/completions` and `/v1/chat/completions`).
    pub chat_requests: u64,
    /// Requests refused with 401.
    pub unauthorized: u64,
    /// Per model, by id.
    pub models: BTreeMap<String, ModelStats>,
}

impl SimStats {
    /// Counters of one model (all zero when it never got a request).
    pub fn model(&self, id: &str) -> ModelStats {
        self.models.get(id).cloned().unwrap_or_default()
    }

    /// Sum of `requests` over all models.
    pub fn total_attempts(&self) -> u64 {
        self.models.values().map(|m| m.requests).sum()
    }
}

/// One model attempt inside a chat request (fallbacks make several).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Attempt {
    /// Model tried.
    pub model: String,
    /// Status of this attempt (200 when it served).
    pub status: u16,
    /// Fault applied, if any (label as in [`Fault::label`], or `quota_minute`/`quota_day`/
    /// `credits`/`unknown_model`/`no_endpoints`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

/// One entry of the request log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RequestRecord {
    /// Sequence number, from 0.
    pub seq: u64,
    /// Simulated time of arrival, epoch ms.
    pub at_ms: u64,
    /// HTTP method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Models asked for: `model` first, then `models`.
    pub requested: Vec<String>,
    /// Model that answered, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served: Option<String>,
    /// HTTP status sent; `0` when no response was sent (hang, reset before headers).
    pub status: u16,
    /// `stream: true` in the request.
    pub stream: bool,
    /// Fault applied to the request as answered (the served or last attempt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// Per-model attempts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// Generation id of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_id: Option<String>,
}

/// A past generation, as served by `GET /api/v1/generation?id=`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GenerationRecord {
    /// `gen-…` id.
    pub id: String,
    /// Served model.
    pub model: String,
    /// Provider name.
    pub provider: String,
    /// Simulated creation time, epoch ms.
    pub created_ms: u64,
    /// Streamed or not.
    pub streamed: bool,
    /// Prompt tokens.
    pub tokens_prompt: u64,
    /// Completion tokens.
    pub tokens_completion: u64,
    /// USD billed.
    pub total_cost: f64,
    /// `stop`, `length` or `error`.
    pub finish_reason: String,
    /// Planned time to first token, real ms.
    pub latency_ms: u64,
    /// Planned total generation time, real ms.
    pub generation_time_ms: u64,
    /// Failed attempts before the served one (fallbacks).
    pub previous_attempts: Vec<Attempt>,
}

/// Fixed-window request counts of one model.
#[derive(Debug, Default)]
pub(crate) struct QuotaState {
    minute: u64,
    minute_count: u32,
    day: u64,
    day_count: u32,
}

/// A quota refusal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QuotaHit {
    pub(crate) per_day: bool,
    pub(crate) limit: u32,
    pub(crate) reset_ms: u64,
}

const MINUTE_MS: u64 = 60_000;
const DAY_MS: u64 = 86_400_000;

impl QuotaState {
    /// Counts a request if both windows allow it.
    pub(crate) fn admit(
        &mut self,
        now_ms: u64,
        rpm: Option<u32>,
        rpd: Option<u32>,
    ) -> Result<(), QuotaHit> {
        let (minute, day) = (now_ms / MINUTE_MS, now_ms / DAY_MS);
        if self.minute != minute {
            self.minute = minute;
            self.minute_count = 0;
        }
        if self.day != day {
            self.day = day;
            self.day_count = 0;
        }
        if let Some(limit) = rpd
            && self.day_count >= limit
        {
            return Err(QuotaHit {
                per_day: true,
                limit,
                reset_ms: (day + 1) * DAY_MS,
            });
        }
        if let Some(limit) = rpm
            && self.minute_count >= limit
        {
            return Err(QuotaHit {
                per_day: false,
                limit,
                reset_ms: (minute + 1) * MINUTE_MS,
            });
        }
        self.minute_count += 1;
        self.day_count += 1;
        Ok(())
    }
}

/// Script and random faults of one model.
#[derive(Debug)]
pub(crate) struct FaultState {
    script: VecDeque<ScriptStep>,
    random: Vec<RandomFault>,
    pub(crate) rng: Rng,
}

impl FaultState {
    fn new(config: &ModelConfig, seed: u64) -> Self {
        Self {
            script: config.script.iter().cloned().collect(),
            random: config.random.clone(),
            rng: Rng::new(seed),
        }
    }

    /// The fault for the next request, if any.
    pub(crate) fn draw(&mut self) -> Option<Fault> {
        if let Some(step) = self.script.front_mut() {
            let fault = step.fault.clone();
            step.times = step.times.saturating_sub(1);
            if step.times == 0 {
                self.script.pop_front();
            }
            return fault;
        }
        if self.random.is_empty() {
            return None;
        }
        let mut x = self.rng.unit();
        for r in &self.random {
            if x < r.probability {
                return Some(r.fault.clone());
            }
            x -= r.probability;
        }
        None
    }
}

/// Precomputed answer pieces of one model.
#[derive(Debug)]
pub(crate) struct Filler {
    /// `" word word …"` for `completion_tokens - 2` words.
    pub(crate) text: String,
    /// End offset in `text` of each word.
    pub(crate) ends: Vec<usize>,
}

const WORDS: [&str; 24] = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
];

impl Filler {
    fn new(words: usize) -> Self {
        let mut text = String::with_capacity(words * 7);
        let mut ends = Vec::with_capacity(words);
        for i in 0..words {
            text.push(' ');
            text.push_str(WORDS[i % WORDS.len()]);
            ends.push(text.len());
        }
        Self { text, ends }
    }

    /// The filler for `words` words (at most the precomputed number).
    pub(crate) fn prefix(&self, words: usize) -> &str {
        match words.checked_sub(1).and_then(|i| self.ends.get(i)) {
            Some(&end) => &self.text[..end],
            None if words == 0 => "",
            None => &self.text,
        }
    }

    /// Precomputed word `k` with its leading space (empty past the end).
    pub(crate) fn word(&self, k: usize) -> &str {
        let start = match k.checked_sub(1) {
            Some(j) => self.ends.get(j).copied().unwrap_or(self.text.len()),
            None => 0,
        };
        let end = self.ends.get(k).copied().unwrap_or(self.text.len());
        self.text.get(start..end).unwrap_or("")
    }

    /// About `bytes` bytes of filler text (for oversized answers).
    pub(crate) fn bulk(bytes: usize) -> String {
        let mut s = String::with_capacity(bytes + 16);
        let mut i = 0;
        while s.len() < bytes {
            s.push(' ');
            s.push_str(WORDS[i % WORDS.len()]);
            i += 1;
        }
        s
    }
}

/// One served model with its live state.
#[derive(Debug)]
pub(crate) struct ModelEntry {
    pub(crate) config: ModelConfig,
    pub(crate) provider: String,
    pub(crate) filler: Filler,
    pub(crate) order: u64,
    pub(crate) quota: Arc<Mutex<QuotaState>>,
    pub(crate) faults: Mutex<FaultState>,
    pub(crate) counters: Arc<Counters>,
}

/// Credits and spend.
#[derive(Debug, Default)]
pub(crate) struct Credits {
    pub(crate) total: Option<f64>,
    pub(crate) usage: f64,
}

/// Account credits as seen through the handle.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreditsInfo {
    /// Credits bought, USD; `None` = unlimited.
    pub total: Option<f64>,
    /// USD spent so far.
    pub usage: f64,
}

#[derive(Debug, Default)]
struct Generations {
    map: HashMap<String, GenerationRecord>,
    order: VecDeque<String>,
}

/// Everything the server tasks share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) api_key: Option<String>,
    pub(crate) keepalive: Duration,
    pub(crate) default_model: Option<String>,
    pub(crate) clock: SimClock,
    seed: u64,
    models: RwLock<HashMap<String, Arc<ModelEntry>>>,
    next_order: AtomicU64,
    models_json: RwLock<Option<Bytes>>,
    pub(crate) credits: Mutex<Credits>,
    log: Mutex<VecDeque<RequestRecord>>,
    log_capacity: usize,
    log_seq: AtomicU64,
    generations: Mutex<Generations>,
    gen_counter: AtomicU64,
    pub(crate) http_requests: AtomicU64,
    pub(crate) chat_requests: AtomicU64,
    pub(crate) unauthorized: AtomicU64,
}

impl State {
    pub(crate) fn new(config: &SimConfig) -> Self {
        let state = Self {
            api_key: config.api_key.clone(),
            keepalive: Duration::from_millis(config.keepalive_ms.max(1)),
            default_model: config.default_model.clone(),
            clock: SimClock::new(config),
            seed: config.seed,
            models: RwLock::new(HashMap::new()),
            next_order: AtomicU64::new(0),
            models_json: RwLock::new(None),
            credits: Mutex::new(Credits {
                total: config.credits,
                usage: 0.0,
            }),
            log: Mutex::new(VecDeque::new()),
            log_capacity: config.log_capacity,
            log_seq: AtomicU64::new(0),
            generations: Mutex::new(Generations::default()),
            gen_counter: AtomicU64::new(0),
            http_requests: AtomicU64::new(0),
            chat_requests: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
        };
        for m in &config.models {
            state.set_model(m.clone());
        }
        state
    }

    pub(crate) fn model(&self, id: &str) -> Option<Arc<ModelEntry>> {
        self.models
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Inserts or replaces a model; counters and quota windows of a replaced model are kept.
    pub(crate) fn set_model(&self, config: ModelConfig) {
        let mut models = self.models.write().unwrap_or_else(PoisonError::into_inner);
        let old = models.get(&config.id);
        let (quota, counters, order) = match old {
            Some(o) => (o.quota.clone(), o.counters.clone(), o.order),
            None => (
                Arc::default(),
                Arc::default(),
                self.next_order.fetch_add(1, Ordering::Relaxed),
            ),
        };
        let seed = self.seed ^ crate::clock::fnv1a(config.id.as_bytes());
        let entry = ModelEntry {
            provider: config.provider_name(),
            filler: Filler::new(config.completion_tokens.saturating_sub(2) as usize),
            faults: Mutex::new(FaultState::new(&config, seed)),
            order,
            quota,
            counters,
            config,
        };
        models.insert(entry.config.id.clone(), Arc::new(entry));
        drop(models);
        *self
            .models_json
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    pub(crate) fn remove_model(&self, id: &str) -> bool {
        let removed = self
            .models
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id)
            .is_some();
        *self
            .models_json
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
        removed
    }

    /// Models in insertion order.
    pub(crate) fn models_sorted(&self) -> Vec<Arc<ModelEntry>> {
        let mut v: Vec<_> = self
            .models
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        v.sort_by_key(|m| m.order);
        v
    }

    /// The cached `GET /models` body, computed by `build` when missing.
    pub(crate) fn models_json(&self, build: impl FnOnce(&Self) -> Bytes) -> Bytes {
        if let Some(b) = self
            .models_json
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            return b.clone();
        }
        let body = build(self);
        *self
            .models_json
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(body.clone());
        body
    }

    pub(crate) fn push_faults(&self, id: &str, steps: Vec<ScriptStep>) -> bool {
        let Some(m) = self.model(id) else {
            return false;
        };
        lock(&m.faults).script.extend(steps);
        true
    }

    pub(crate) fn set_random_faults(&self, id: &str, random: Vec<RandomFault>) -> bool {
        let Some(m) = self.model(id) else {
            return false;
        };
        lock(&m.faults).random = random;
        true
    }

    pub(crate) fn clear_faults(&self, id: &str) -> bool {
        let Some(m) = self.model(id) else {
            return false;
        };
        let mut f = lock(&m.faults);
        f.script.clear();
        f.random.clear();
        true
    }

    pub(crate) fn pending_script(&self, id: &str) -> Option<Vec<ScriptStep>> {
        let m = self.model(id)?;
        let f = lock(&m.faults);
        Some(f.script.iter().cloned().collect())
    }

    pub(crate) fn record(&self, mut rec: RequestRecord) {
        if self.log_capacity == 0 {
            return;
        }
        rec.seq = self.log_seq.fetch_add(1, Ordering::Relaxed);
        let mut log = lock(&self.log);
        if log.len() >= self.log_capacity {
            log.pop_front();
        }
        log.push_back(rec);
    }

    pub(crate) fn log(&self) -> Vec<RequestRecord> {
        lock(&self.log).iter().cloned().collect()
    }

    pub(crate) fn new_generation_id(&self, created_secs: u64) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let n = self.gen_counter.fetch_add(1, Ordering::Relaxed);
        let mut rng = Rng::new(self.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut id = String::with_capacity(36);
        id.push_str("gen-");
        id.push_str(&created_secs.to_string());
        id.push('-');
        for _ in 0..20 {
            let i = (rng.next_u64() % ALPHABET.len() as u64) as usize;
            id.push(char::from(ALPHABET[i]));
        }
        id
    }

    pub(crate) fn store_generation(&self, rec: GenerationRecord) {
        if self.log_capacity == 0 {
            return;
        }
        let mut g = lock(&self.generations);
        if g.order.len() >= self.log_capacity
            && let Some(old) = g.order.pop_front()
        {
            g.map.remove(&old);
        }
        g.order.push_back(rec.id.clone());
        g.map.insert(rec.id.clone(), rec);
    }

    pub(crate) fn generation(&self, id: &str) -> Option<GenerationRecord> {
        lock(&self.generations).map.get(id).cloned()
    }

    pub(crate) fn stats(&self) -> SimStats {
        let models = self
            .models
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, m)| (id.clone(), m.counters.snapshot()))
            .collect();
        SimStats {
            http_requests: self.http_requests.load(Ordering::Relaxed),
            chat_requests: self.chat_requests.load(Ordering::Relaxed),
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
            models,
        }
    }

    /// Zeroes counters and clears the request log (quota windows and credits stay).
    pub(crate) fn reset_counters(&self) {
        for m in self
            .models
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            m.counters.reset();
        }
        self.http_requests.store(0, Ordering::Relaxed);
        self.chat_requests.store(0, Ordering::Relaxed);
        self.unauthorized.store(0, Ordering::Relaxed);
        lock(&self.log).clear();
        self.log_seq.store(0, Ordering::Relaxed);
    }

    /// Forgets all quota windows (every model starts with a full quota).
    pub(crate) fn reset_quotas(&self) {
        for m in self
            .models
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            *lock(&m.quota) = QuotaState::default();
        }
    }

    pub(crate) fn credits(&self) -> CreditsInfo {
        let c = lock(&self.credits);
        CreditsInfo {
            total: c.total,
            usage: c.usage,
        }
    }

    pub(crate) fn set_credits(&self, total: Option<f64>) {
        lock(&self.credits).total = total;
    }

    pub(crate) fn set_usage(&self, usage: f64) {
        lock(&self.credits).usage = usage;
    }
}
