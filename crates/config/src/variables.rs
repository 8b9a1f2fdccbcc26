//! The one list of supported variables, from which the loader reads and the documentation
//! (`docs/configuration.md`) is generated.

/// How a variable is documented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Variable {
    /// The variable's name.
    pub name: &'static str,
    /// The documentation section it belongs to.
    pub section: &'static str,
    /// Its type, for people.
    pub kind: &'static str,
    /// Its default, for people (`-` when unset by default).
    pub default: &'static str,
    /// An example value.
    pub example: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Whether the value is a credential that must never be printed.
    pub secret: bool,
}

/// The default OpenRouter API base URL.
pub const OPENROUTER_DEFAULT_BASE_URL: &str = "https://openrouter.ai/api/v1";
/// The default Portkey API base URL.
pub const PORTKEY_DEFAULT_BASE_URL: &str = "https://api.portkey.ai/v1";

const fn var(
    name: &'static str,
    section: &'static str,
    kind: &'static str,
    default: &'static str,
    example: &'static str,
    description: &'static str,
) -> Variable {
    Variable {
        name,
        section,
        kind,
        default,
        example,
        description,
        secret: false,
    }
}

const fn secret(mut variable: Variable) -> Variable {
    variable.secret = true;
    variable
}

const GENERAL: &str = "General";
const OPENROUTER: &str = "OpenRouter";
const PORTKEY: &str = "Portkey";
const ROUTING: &str = "Routing";
const RESILIENCE: &str = "Retries and timeouts";
const RATE_LIMITS: &str = "Rate limits";
const CACHE: &str = "Response cache";

/// Every variable orchestra-llm reads, in documentation order.
pub const VARIABLES: &[Variable] = &[
    var(
        "PREFERRED_LLM_PROVIDER",
        GENERAL,
        "`openrouter` \\| `portkey`",
        "`openrouter`",
        "`portkey`",
        "Which provider serves requests: OpenRouter directly, or through the Portkey gateway.",
    ),
    var(
        "AGENT_MODEL_MAP",
        GENERAL,
        "JSON object: agent type → model id",
        "`{}`",
        r#"`{"researcher":"anthropic/claude-3-opus-20k","executor":"openai/gpt-4o"}`"#,
        "Model per agent type. A request's `agent_type` picks its model here; unknown agent types use the default model.",
    ),
    secret(var(
        "OPENROUTER_API_KEY",
        OPENROUTER,
        "secret string",
        "-",
        "`sk-or-v1-…`",
        "OpenRouter API key, sent as `Authorization: Bearer`. Without it, commands that call OpenRouter fail and `orchestra demo` runs offline.",
    )),
    var(
        "OPENROUTER_BASE_URL",
        OPENROUTER,
        "URL (http or https)",
        "`https://openrouter.ai/api/v1`",
        "`http://127.0.0.1:8080/api/v1`",
        "OpenRouter API base, for self-hosted proxies and the built-in simulator.",
    ),
    var(
        "OPENROUTER_DEFAULT_MODEL",
        OPENROUTER,
        "model id",
        "- (the account's default model)",
        "`anthropic/claude-3-opus-20k`",
        "Primary model for requests that name none and whose agent type is not in `AGENT_MODEL_MAP`.",
    ),
    var(
        "OPENROUTER_FREE_FALLBACKS",
        OPENROUTER,
        "comma-separated model ids",
        "empty",
        "`google/gemini-2.5-flash:free,mistralai/mixtral-8x7b:free`",
        "Models tried in order after the primary fails. Entries without `:free` are billed (a warning says so).",
    ),
    var(
        "OPENROUTER_HEADERS",
        OPENROUTER,
        "JSON object: header → value",
        "`{}`",
        r#"`{"HTTP-Referer":"https://example.com","X-Title":"My App"}`"#,
        "Extra headers on every OpenRouter request, for app attribution. Values of credential-like headers are redacted in output.",
    ),
    secret(var(
        "PORTKEY_API_KEY",
        PORTKEY,
        "secret string",
        "-",
        "`pk-…`",
        "Portkey API key (`x-portkey-api-key`); required by the hosted gateway, ignored by the open-source one.",
    )),
    var(
        "PORTKEY_BASE_URL",
        PORTKEY,
        "URL (http or https)",
        "`https://api.portkey.ai/v1`",
        "`http://127.0.0.1:8787/v1`",
        "Portkey gateway base, for the self-hosted open-source gateway.",
    ),
    var(
        "PORTKEY_FALLBACKS",
        PORTKEY,
        "JSON array of targets",
        "`[]`",
        r#"`[{"provider":"openrouter","model":"anthropic/claude-3-opus-20k","weight":70}]`"#,
        "Gateway targets, in order. Fields: `provider`, `model`, `weight`, `custom_host`, `api_key`, `virtual_key`, `override_params`, `retry` (see below).",
    ),
    var(
        "PORTKEY_STRATEGY",
        PORTKEY,
        "`fallback` \\| `loadbalance` \\| `cost_aware`",
        "`fallback`",
        "`loadbalance`",
        "How the gateway uses the targets: in order, by weight, or cheapest first.",
    ),
    var(
        "PORTKEY_CACHE_ENABLED",
        PORTKEY,
        "boolean",
        "`false`",
        "`true`",
        "Ask the gateway for semantic caching (hosted Portkey only; the open-source gateway has no cache).",
    ),
    var(
        "TRACE_ID",
        PORTKEY,
        "string",
        "- (a fresh id per request)",
        "`checkout-agent-42`",
        "Trace id sent as `x-portkey-trace-id`.",
    ),
    secret(var(
        "<PROVIDER>_API_KEY",
        PORTKEY,
        "secret string, one variable per provider",
        "-",
        "`OPENAI_API_KEY=sk-…`",
        "Provider key for the `PORTKEY_FALLBACKS` targets that set neither `api_key` nor `virtual_key`, read for each such target's provider: the slug upper-cased with `-` as `_` (`openai` → `OPENAI_API_KEY`, `together-ai` → `TOGETHER_AI_API_KEY`, `openrouter` → `OPENROUTER_API_KEY`). Sent to the gateway inside `x-portkey-config`, never printed.",
    )),
    secret(var(
        "VIRTUAL_KEY",
        PORTKEY,
        "secret string",
        "-",
        "`vk-…`",
        "Portkey virtual key (`x-portkey-virtual-key`; hosted Portkey only).",
    )),
    var(
        "LLM_ROUTING_STRATEGY",
        ROUTING,
        "`fallback` \\| `loadbalance` \\| `cost_aware`",
        "`fallback`",
        "`cost_aware`",
        "Client-side routing over the targets, for any provider: in order, weighted random over healthy targets, or cheapest estimated cost first (context length checked, free models when the balance cannot pay). With Portkey the gateway applies `PORTKEY_STRATEGY` itself.",
    ),
    var(
        "LLM_ROUTING_TARGETS",
        ROUTING,
        "JSON list of targets (same shape as `PORTKEY_FALLBACKS`)",
        "`OPENROUTER_DEFAULT_MODEL`, then each of `OPENROUTER_FREE_FALLBACKS`, equal weights",
        r#"`[{"provider":"openrouter","model":"openai/gpt-4o-mini","weight":70},{"provider":"openrouter","model":"google/gemini-2.5-flash:free","weight":30}]`"#,
        "Where client-side routing may send a request. A request's agent model (`AGENT_MODEL_MAP`) leads, then these in the strategy's order.",
    ),
    var(
        "LLM_STREAM_IDLE_TIMEOUT",
        ROUTING,
        "seconds (number, or with `ms`/`s`/`m`)",
        "`LLM_REQUEST_TIMEOUT`",
        "`15`",
        "Longest silence between two stream events. Before the first content a stall moves the stream to the next target; after it the stream ends as interrupted, with the text so far. Must be greater than 0.",
    ),
    var(
        "LLM_REQUEST_TIMEOUT",
        RESILIENCE,
        "seconds (number, or with `ms`/`s`/`m`)",
        "`30`",
        "`45.5`",
        "Time limit of one attempt. Must be greater than 0.",
    ),
    var(
        "LLM_MAX_RETRIES",
        RESILIENCE,
        "integer ≥ 0",
        "`3`",
        "`5`",
        "Retries after the first attempt for retryable errors. 0 disables retries.",
    ),
    var(
        "LLM_RETRY_DELAY",
        RESILIENCE,
        "seconds (number, or with `ms`/`s`/`m`)",
        "`1.0`",
        "`0.5`",
        "Base delay of exponential backoff with full jitter: retry *n* waits a random time up to `min(LLM_RETRY_MAX_DELAY, LLM_RETRY_DELAY × 2^n)`.",
    ),
    var(
        "LLM_RETRY_MAX_DELAY",
        RESILIENCE,
        "seconds (number, or with `ms`/`s`/`m`)",
        "`60.0`",
        "`30`",
        "Longest backoff delay. Must be at least `LLM_RETRY_DELAY`.",
    ),
    var(
        "LLM_RETRYABLE_ERRORS",
        RESILIENCE,
        "comma-separated error classes",
        "`connection_error,timeout_error,rate_limit_error,service_error`",
        "`connection_error,timeout_error`",
        "Error classes that are retried: `connection_error` (connection failed), `timeout_error` (timeouts, HTTP 408/504/524), `rate_limit_error` (HTTP 429), `service_error` (HTTP 5xx, malformed responses, broken streams).",
    ),
    var(
        "LLM_REQUEST_DEADLINE",
        RESILIENCE,
        "seconds (number, or with `ms`/`s`/`m`)",
        "`120`",
        "`45`",
        "Time budget of one call: every attempt, backoff and quota wait together. A wait that does not fit (a long `Retry-After`, an exhausted quota) fails at once with a rate-limit error instead, so a router can try another model. Must be greater than 0.",
    ),
    var(
        "LLM_RATE_LIMITS",
        RATE_LIMITS,
        "JSON object: model pattern → `{\"rpm\", \"rpd\", \"tpm\"}`",
        r#"`{"*:free":{"rpm":20,"rpd":50}}`"#,
        r#"`{"*:free":{"rpm":20,"rpd":1000},"openai/*":{"rpm":500,"tpm":200000}}`"#,
        "Client-side quotas, checked before a request is sent: requests per minute, requests per UTC day, tokens per minute. A pattern is a model id where `*` matches any text; every pattern that matches a model applies, and a pattern's quota is shared by all the models it matches. The default is OpenRouter's limit for `:free` models (1000 a day once 10 USD of credits were bought). `{}` turns quotas off. See docs/resilience.md.",
    ),
    secret(var(
        "LLM_RATE_LIMIT_REDIS_URL",
        RATE_LIMITS,
        "secret URL (`redis://` or `rediss://`)",
        "- (quotas are per process)",
        "`redis://127.0.0.1:6379/0`",
        "Keeps the `LLM_RATE_LIMITS` quotas in Redis, so all processes sharing an API key stay under them together. Needs the `redis` feature of orchestra-resilience.",
    )),
    var(
        "LLM_CACHE",
        CACHE,
        "`off` \\| `exact` \\| `semantic`",
        "`off` (`semantic` when `PORTKEY_CACHE_ENABLED=true`)",
        "`semantic`",
        "Response cache: `exact` serves a stored answer for an identical request (same model, messages, parameters, tools, agent type); `semantic` also for a near-duplicate last question in the same conversation and parameters, guarded against different numbers, names and negation. Only complete successful answers are stored. See docs/caching.md.",
    ),
    var(
        "LLM_CACHE_TTL",
        CACHE,
        "seconds (number, or with `ms`/`s`/`m`)",
        "`3600`",
        "`10m`",
        "How long a stored answer is served. Must be greater than 0.",
    ),
    var(
        "LLM_CACHE_MAX_ENTRIES",
        CACHE,
        "integer ≥ 1",
        "`10000`",
        "`100000`",
        "Answers kept in process; beyond it the least recently used are evicted.",
    ),
    var(
        "LLM_CACHE_EMBEDDER",
        CACHE,
        "`lexical` \\| `local` \\| `local:DIR`",
        "`lexical`",
        "`local:/opt/models/all-MiniLM-L6-v2`",
        "What turns questions into vectors for `LLM_CACHE=semantic`: `lexical`, built in, matches near-duplicates (case, punctuation, word forms, light words); `local`, the bundled MiniLM-L3 sentence-embedding model run in process and offline, also matches some rewordings with other words, at a few milliseconds of CPU per lookup; `local:DIR`, the same with a BERT-family sentence-transformer folder holding `config.json`, `tokenizer.json` and `model.safetensors` (checked when the settings load). `local` needs the `cache-local-embed` feature of orchestra-llm (`local-embed` of orchestra-cache). Each comes with its own measured default `LLM_CACHE_SIMILARITY` and near-miss guard; see docs/caching.md.",
    ),
    var(
        "LLM_CACHE_SIMILARITY",
        CACHE,
        "number in (0, 1]",
        "`0.5` (`0.8` with `LLM_CACHE_EMBEDDER=local`)",
        "`0.9`",
        "Cosine similarity a semantic match needs. Each default was measured for its embedder on labelled paraphrase pairs; tune it again for another embedder (`cargo xtask cache-eval`). With `local`, a question whose words that matter differ (a synonym, a word added or dropped) also needs 0.95.",
    ),
    secret(var(
        "LLM_CACHE_REDIS_URL",
        CACHE,
        "secret URL (`redis://` or `rediss://`)",
        "- (the cache is per process)",
        "`redis://127.0.0.1:6379/1`",
        "Shares cached answers between processes through Redis (entries with `SET … EX`, the semantic index replayed from a Redis stream into each process). Needs the `redis` feature of orchestra-cache.",
    )),
];

/// The prefixes of variables this library owns; others with these prefixes are likely typos.
pub(crate) const OWNED_PREFIXES: &[&str] = &["OPENROUTER_", "PORTKEY_", "LLM_"];

/// Provider slugs the Portkey gateway accepts (its `VALID_PROVIDERS`, gateway 1.15).
pub const PORTKEY_PROVIDERS: &[&str] = &[
    "302ai",
    "ai21",
    "anthropic",
    "anyscale",
    "azure-ai",
    "azure-openai",
    "bedrock",
    "bytez",
    "cerebras",
    "cohere",
    "cometapi",
    "cortex",
    "dashscope",
    "deepbricks",
    "deepinfra",
    "deepseek",
    "featherless-ai",
    "fireworks-ai",
    "github",
    "google",
    "groq",
    "huggingface",
    "hyperbolic",
    "inference-net",
    "jina",
    "kluster-ai",
    "krutrim",
    "lambda",
    "lemonfox-ai",
    "lepton",
    "lingyi",
    "matterai",
    "meshy",
    "milvus",
    "mistral-ai",
    "modal",
    "monsterapi",
    "moonshot",
    "ncompass",
    "nebius",
    "nextbit",
    "nomic",
    "novita-ai",
    "nscale",
    "ollama",
    "openai",
    "openrouter",
    "palm",
    "perplexity-ai",
    "predibase",
    "qdrant",
    "recraft-ai",
    "reka-ai",
    "replicate",
    "sagemaker",
    "sambanova",
    "segmind",
    "siliconflow",
    "stability-ai",
    "together-ai",
    "tripo3d",
    "triton",
    "upstage",
    "vertex-ai",
    "voyage",
    "workers-ai",
    "x-ai",
    "z-ai",
    "zhipu",
];

/// The variable holding the API key of a Portkey provider: the slug upper-cased, `-` as `_`,
/// then `_API_KEY`.
///
/// ```
/// assert_eq!(orchestra_config::provider_key_variable("together-ai"), "TOGETHER_AI_API_KEY");
/// assert_eq!(orchestra_config::provider_key_variable("openrouter"), "OPENROUTER_API_KEY");
/// ```
pub fn provider_key_variable(provider: &str) -> String {
    let mut name: String = provider
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    name.push_str("_API_KEY");
    name
}

/// Looks up a variable by name.
pub fn variable(name: &str) -> Option<&'static Variable> {
    VARIABLES.iter().find(|variable| variable.name == name)
}

/// Renders the generated part of `docs/configuration.md`.
pub fn render_markdown() -> String {
    let mut out = String::new();
    let mut section = "";
    for variable in VARIABLES {
        if variable.section != section {
            section = variable.section;
            out.push_str(&format!(
                "\n### {section}\n\n| Variable | Type | Default | Example | Description |\n| --- | --- | --- | --- | --- |\n"
            ));
        }
        let name = if variable.secret {
            format!("`{}` 🔒", variable.name)
        } else {
            format!("`{}`", variable.name)
        };
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} |\n",
            variable.kind, variable.default, variable.example, variable.description
        ));
    }
    out.push_str("\n🔒 secret: never printed, logged or shown in error messages.\n");
    out.push_str(
        "\n#### Portkey provider slugs\n\n`provider` in `PORTKEY_FALLBACKS` must be one of: ",
    );
    let providers: Vec<String> = PORTKEY_PROVIDERS.iter().map(|p| format!("`{p}`")).collect();
    out.push_str(&providers.join(", "));
    out.push_str(".\n");
    out
}
