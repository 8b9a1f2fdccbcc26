//! Router decisions with scripted in-process providers on tokio's paused clock: cooldown
//! waits, deadlines and failover rules, where time matters and no network is involved.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use orchestra_core::{
    Attempt, AttemptOutcome, ChatRequest, ChatResponse, ChatStream, Choice, Error, ErrorKind,
    FinishReason, Message, Provider, RateLimitScope,
};
use orchestra_routing::{Router, Target};
use tokio::time::Instant;

/// Answers each call with the next scripted reply (success once the script is used up) and
/// records the models it was asked for.
struct Scripted {
    name: &'static str,
    replies: Mutex<VecDeque<Error>>,
    asked: Mutex<Vec<String>>,
}

impl Scripted {
    fn new(name: &'static str, failures: impl IntoIterator<Item = Error>) -> Arc<Self> {
        Arc::new(Self {
            name,
            replies: Mutex::new(failures.into_iter().collect()),
            asked: Mutex::new(Vec::new()),
        })
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

#[async_trait]
impl Provider for Scripted {
    fn name(&self) -> &str {
        self.name
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
        let model = request.model.clone().unwrap_or_default();
        self.asked.lock().unwrap().push(model.clone());
        if let Some(error) = self.replies.lock().unwrap().pop_front() {
            return Err(error);
        }
        let choice = Choice::new(0, Message::assistant("ok"), Some(FinishReason::Stop));
        Ok(ChatResponse::new("id", model, self.name, vec![choice]))
    }

    async fn chat_stream(&self, _: &ChatRequest) -> Result<ChatStream, Error> {
        Err(Error::unsupported("scripted streams"))
    }
}

/// A `tracing` writer into memory.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn rate_limited(retry_after: u64) -> Error {
    Error::rate_limited(RateLimitScope::Upstream, "Rate limit exceeded")
        .with_status(429)
        .with_retry_after(Duration::from_secs(retry_after))
}

/// "model outcome" for each attempt of `response`.
fn outcomes(response: &ChatResponse) -> Vec<String> {
    response
        .metadata
        .attempts
        .iter()
        .map(|attempt| format!("{} {}", attempt.model, attempt.outcome))
        .collect()
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![Message::user("hi")])
}

#[tokio::test(start_paused = true)]
async fn when_every_target_cools_down_the_router_waits_for_the_earliest_recovery() {
    let a = Scripted::new("a", [rate_limited(20)]);
    let b = Scripted::new("b", [rate_limited(5)]);
    let router = Router::builder()
        .target(Target::new(a.clone(), "m-a"))
        .target(Target::new(b.clone(), "m-b"))
        .deadline(Duration::from_secs(30))
        .build()
        .unwrap();

    let started = Instant::now();
    let response = router.chat(&request()).await.unwrap();
    assert_eq!(response.model, "m-b", "b recovers first (5 s < 20 s)");
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    let outcomes = outcomes(&response);
    assert_eq!(
        outcomes,
        [
            "m-a rate_limited",
            "m-b rate_limited",
            "m-a skipped:rate_limited",
            "m-b success"
        ]
    );
    assert_eq!(a.asked().len(), 1, "a was never asked while cooling");
}

/// Server errors and refused connections were already retried below the router
/// (`LLM_MAX_RETRIES`): the router waits for rate limits to lift, never for such a target
/// to come back, so a wrong base URL fails in seconds instead of at the deadline.
#[tokio::test(start_paused = true)]
async fn the_router_waits_for_rate_limits_not_for_targets_that_already_failed() {
    let unavailable = || {
        Error::new(ErrorKind::Server, "temporarily unavailable")
            .with_status(503)
            .with_retry_after(Duration::from_secs(5))
    };
    let a = Scripted::new("a", [unavailable()]);
    let b = Scripted::new("b", [rate_limited(10)]);
    let router = Router::builder()
        .target(Target::new(a.clone(), "m-a"))
        .target(Target::new(b.clone(), "m-b"))
        .deadline(Duration::from_secs(60))
        .build()
        .unwrap();
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let started = Instant::now();
    let response = {
        let _guard = tracing::subscriber::set_default(subscriber);
        router.chat(&request()).await.unwrap()
    };
    assert_eq!(response.model, "m-b", "a recovers first but already failed");
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(a.asked().len(), 1);
    let logs = logs.text();
    let fallbacks: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("falling back to the next target"))
        .collect();
    assert_eq!(
        fallbacks.len(),
        1,
        "a → b once; b again is no fallback: {logs}"
    );
    for field in ["from=\"a:m-a\"", "to=\"b:m-b\"", "error_kind=\"server\""] {
        assert!(fallbacks[0].contains(field), "{field} in {}", fallbacks[0]);
    }

    // As the retry layer below returns it: with its own attempt list.
    let refused = || {
        Error::new(ErrorKind::Connection, "could not connect")
            .with_retry_after(Duration::from_secs(30))
            .with_attempts(vec![Attempt::new(
                "lone",
                "m",
                AttemptOutcome::Failed(ErrorKind::Connection),
                Duration::from_millis(2),
            )])
    };
    let lone = Scripted::new("lone", [refused(), refused()]);
    let router = Router::builder()
        .target(Target::new(lone.clone(), "m"))
        .deadline(Duration::from_secs(120))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = router.chat(&request()).await.unwrap_err();
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "no waiting for the cooldown"
    );
    assert_eq!(lone.asked().len(), 1);
    assert_eq!(error.kind(), ErrorKind::AllTargetsFailed);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    let text = error.to_string();
    assert_eq!(text.matches("could not connect").count(), 1, "{text}");
    assert_eq!(
        text.lines().count(),
        2,
        "the one attempt listed once: {text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_recovery_beyond_the_deadline_fails_at_once_with_every_attempt_and_the_cooldowns() {
    let a = Scripted::new("a", [rate_limited(30)]);
    let router = Router::builder()
        .target(Target::new(a.clone(), "m-a"))
        .deadline(Duration::from_secs(10))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = router.chat(&request()).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO, "no waiting");
    assert_eq!(error.kind(), ErrorKind::AllTargetsFailed);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(error.attempts().len(), 1);
    assert_eq!(error.attempts()[0].status, Some(429));
    let text = error.to_string();
    assert!(
        text.contains("cooling down: a:m-a for 30.0s (rate_limited)"),
        "{text}"
    );

    // The next call skips it without sending anything.
    let error = router.chat(&request()).await.unwrap_err();
    assert_eq!(a.asked().len(), 1);
    assert_eq!(
        error.attempts()[0].outcome.to_string(),
        "skipped:rate_limited"
    );
    assert_eq!(router.cooldowns()[0].target, "a:m-a");
}

#[tokio::test(start_paused = true)]
async fn bad_requests_do_not_fail_over_and_auth_errors_skip_only_their_provider() {
    let a = Scripted::new(
        "a",
        [Error::new(
            ErrorKind::BadRequest,
            "messages must not be empty",
        )],
    );
    let b = Scripted::new("b", []);
    let router = Router::builder()
        .target(Target::new(a.clone(), "m-a"))
        .target(Target::new(b.clone(), "m-b"))
        .build()
        .unwrap();
    let error = router.chat(&request()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadRequest);
    assert_eq!(error.attempts().len(), 1);
    assert!(
        b.asked().is_empty(),
        "every target would refuse a bad request"
    );

    let refused = Scripted::new("a", [Error::new(ErrorKind::Auth, "invalid key")]);
    let other = Scripted::new("b", []);
    let router = Router::builder()
        .target(Target::new(refused.clone(), "m-1"))
        .target(Target::new(refused.clone(), "m-2"))
        .target(Target::new(other.clone(), "m-3"))
        .build()
        .unwrap();
    let response = router.chat(&request()).await.unwrap();
    assert_eq!(response.model, "m-3");
    assert_eq!(
        refused.asked(),
        ["m-1"],
        "the same key would be refused again"
    );
    assert_eq!(
        response.metadata.attempts[1].outcome.to_string(),
        "skipped:auth"
    );
}

#[tokio::test(start_paused = true)]
async fn agent_types_lead_with_their_model_and_unknown_ones_use_the_default_route() {
    let a = Scripted::new("a", []);
    let router = Router::builder()
        .target(Target::new(a.clone(), "default-model"))
        .target(Target::new(a.clone(), "fallback-model"))
        .agent_model("researcher", "fallback-model")
        .agent_model("coder", "unlisted-model")
        .build()
        .unwrap();
    for (agent, served) in [
        ("researcher", "fallback-model"),
        ("coder", "unlisted-model"),
        ("stranger", "default-model"),
    ] {
        let response = router.chat(&request().agent_type(agent)).await.unwrap();
        assert_eq!(response.model, served, "agent {agent}");
    }
}

/// Never answers.
struct Silent;

#[async_trait]
impl Provider for Silent {
    fn name(&self) -> &str {
        "silent"
    }

    async fn chat(&self, _: &ChatRequest) -> Result<ChatResponse, Error> {
        std::future::pending().await
    }

    async fn chat_stream(&self, _: &ChatRequest) -> Result<ChatStream, Error> {
        std::future::pending().await
    }
}

/// The router itself ends a call at its deadline, whatever the target does.
#[tokio::test(start_paused = true)]
async fn a_target_that_never_answers_fails_at_the_routers_deadline() {
    let router = Router::builder()
        .target(Target::new(Arc::new(Silent), "m-silent"))
        .deadline(Duration::from_secs(7))
        .build()
        .unwrap();
    for owned in [false, true] {
        let started = Instant::now();
        let result = if owned {
            router.chat_owned(request()).await
        } else {
            router.chat(&request()).await
        };
        let error = result.unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(7), "owned: {owned}");
        assert_eq!(error.kind(), ErrorKind::AllTargetsFailed, "{error}");
        assert!(
            error.to_string().contains("deadline (7.0s) passed"),
            "{error}"
        );
        assert_eq!(error.attempts().len(), 1, "{error}");
    }
}

async fn route(router: &Router, request: ChatRequest, owned: bool) -> ChatResponse {
    let result = if owned {
        router.chat_owned(request).await
    } else {
        router.chat(&request).await
    };
    result.unwrap()
}

/// `chat_owned` (what `LlmClient` calls) sets each target's model in the request itself
/// instead of copying it: it must route exactly as `chat` does.
#[tokio::test(start_paused = true)]
async fn an_owned_request_is_routed_as_a_borrowed_one() {
    for owned in [false, true] {
        let a = Scripted::new("a", [rate_limited(20)]);
        let b = Scripted::new("b", []);
        let router = Router::builder()
            .target(Target::new(a.clone(), "m-a"))
            .target(Target::new(b.clone(), "m-b"))
            .agent_model("writer", "m-b")
            .build()
            .unwrap();

        // The default route: `a` is rate limited, so `b` answers, asked for its own model.
        let response = route(&router, request(), owned).await;
        assert_eq!(response.model, "m-b", "owned: {owned}");
        let outcomes = outcomes(&response);
        assert_eq!(
            outcomes,
            ["m-a rate_limited", "m-b success"],
            "owned: {owned}"
        );

        // `a` rests; a request naming `m-a` goes to `b`, renamed.
        let response = route(&router, request().model("m-a"), owned).await;
        assert_eq!(response.model, "m-b", "owned: {owned}");
        // An agent's model leads.
        let response = route(&router, request().agent_type("writer"), owned).await;
        assert_eq!(response.model, "m-b", "owned: {owned}");

        assert_eq!(a.asked(), ["m-a"], "owned: {owned}");
        assert_eq!(b.asked(), ["m-b", "m-b", "m-b"], "owned: {owned}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_resilience_cooldown_table_steers_the_router() {
    use orchestra_resilience::{CooldownPolicy, CooldownReason, CooldownTarget, Cooldowns};

    let cooldowns = Arc::new(Cooldowns::new(CooldownPolicy::default()));
    cooldowns.start(
        CooldownTarget::Model {
            provider: "a".into(),
            model: "m-a".into(),
        },
        CooldownReason::RateLimited,
        Duration::from_secs(10),
    );
    let a = Scripted::new("a", []);
    let router = Router::builder()
        .target(Target::new(a.clone(), "m-a"))
        .target(Target::new(a.clone(), "m-b"))
        .health(cooldowns.clone())
        .build()
        .unwrap();
    let response = router.chat(&request()).await.unwrap();
    assert_eq!(response.model, "m-b");
    assert_eq!(a.asked(), ["m-b"]);
    let skipped = &response.metadata.attempts[0];
    assert_eq!(skipped.outcome.to_string(), "skipped:rate_limited");
    assert!(
        skipped.detail.as_deref().unwrap().contains("10.0s"),
        "{skipped:?}"
    );

    // Once the table's cooldown ends the preferred order returns.
    tokio::time::advance(Duration::from_secs(11)).await;
    let response = router.chat(&request()).await.unwrap();
    assert_eq!(response.model, "m-a");
}

#[tokio::test]
async fn cooldowns_and_deadlines_run_on_the_routers_clock() {
    // A virtual clock that never moves by itself: only `advance` ends the cooldown, however
    // much real time passes.
    let clock = orchestra_resilience::ManualClock::new();
    let a = Scripted::new("a", [rate_limited(30)]);
    let router = Router::builder()
        .target(Target::new(a.clone(), "m-a"))
        .deadline(Duration::from_secs(10))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    router.chat(&request()).await.unwrap_err();
    assert_eq!(router.cooldowns()[0].remaining, Duration::from_secs(30));
    // 15 s left, beyond the 10 s deadline: refused at once, nothing sent.
    clock.advance(Duration::from_secs(15));
    router.chat(&request()).await.unwrap_err();
    assert_eq!(a.asked().len(), 1);
    // 5 s left fits the deadline: the router waits them out on its clock, then sends.
    clock.advance(Duration::from_secs(10));
    let before = orchestra_resilience::Clock::now(&clock);
    router.chat(&request()).await.unwrap();
    assert_eq!(
        orchestra_resilience::Clock::now(&clock) - before,
        Duration::from_secs(5)
    );
    assert_eq!(a.asked().len(), 2);
    assert!(router.cooldowns().is_empty());
}
