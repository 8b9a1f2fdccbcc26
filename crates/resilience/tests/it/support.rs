//! Test doubles: scripted providers, a fixed random source, a stepping virtual clock, the
//! simulator behind the real OpenRouter provider, and a throw-away Redis server.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use orchestra_core::{
    ChatRequest, ChatResponse, ChatStream, Choice, Error, FinishReason, Message, Provider, Secret,
    StreamEvent, StreamStart, Usage,
};
use orchestra_provider_openrouter::OpenRouter;
use orchestra_resilience::{Clock, ClockFuture, RandomSource};
use orchestra_sim::{ModelConfig, SimConfig, Simulator};
use tokio::sync::{Notify, oneshot, watch};

/// Always draws the same number, so backoff is exact.
#[derive(Debug)]
pub(crate) struct FixedRandom(pub(crate) f64);

impl RandomSource for FixedRandom {
    fn unit(&self) -> f64 {
        self.0
    }
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    Ok,
    Fail(Error),
    /// Wait for `Scripted::release` before answering Ok.
    Held,
}

/// A provider answering from a script (Ok once the script is used up), counting calls.
#[derive(Debug)]
pub(crate) struct Scripted {
    steps: Mutex<VecDeque<Step>>,
    calls: AtomicUsize,
    release: Notify,
    usage: Option<Usage>,
}

impl Scripted {
    pub(crate) fn new(steps: impl IntoIterator<Item = Step>) -> Arc<Self> {
        Arc::new(Self {
            steps: Mutex::new(steps.into_iter().collect()),
            calls: AtomicUsize::new(0),
            release: Notify::new(),
            usage: None,
        })
    }

    pub(crate) fn with_usage(steps: impl IntoIterator<Item = Step>, usage: Usage) -> Arc<Self> {
        Arc::new(Self {
            steps: Mutex::new(steps.into_iter().collect()),
            calls: AtomicUsize::new(0),
            release: Notify::new(),
            usage: Some(usage),
        })
    }

    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Lets one held call answer.
    pub(crate) fn release(&self) {
        self.release.notify_one();
    }

    async fn next(&self, request: &ChatRequest) -> Result<String, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let step = self.steps.lock().unwrap().pop_front().unwrap_or(Step::Ok);
        match step {
            Step::Ok => {}
            Step::Fail(error) => return Err(error),
            Step::Held => self.release.notified().await,
        }
        Ok(request.model.clone().unwrap_or_else(|| "test/model".into()))
    }
}

#[async_trait]
impl Provider for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
        let model = self.next(request).await?;
        let choice = Choice::new(0, Message::assistant("ok"), Some(FinishReason::Stop));
        let mut response = ChatResponse::new("gen-1", model, "scripted", vec![choice]);
        response.usage = self.usage;
        Ok(response)
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
        let model = self.next(request).await?;
        let events = vec![
            Ok(StreamEvent::Start(StreamStart::new(
                "gen-1", model, "scripted",
            ))),
            Ok(StreamEvent::ContentDelta {
                choice: 0,
                text: "ok".into(),
            }),
            Ok(StreamEvent::Finish {
                choice: 0,
                reason: FinishReason::Stop,
            }),
        ];
        Ok(Box::pin(futures_util::stream::iter(events)))
    }
}

pub(crate) fn request(model: &str) -> ChatRequest {
    ChatRequest::new(vec![Message::user("Hello")]).model(model)
}

/// The simulator on a manual clock with `models`.
pub(crate) async fn simulator(models: impl IntoIterator<Item = ModelConfig>) -> Simulator {
    let mut builder = SimConfig::builder().manual_clock();
    for model in models {
        builder = builder.model(model);
    }
    Simulator::start(builder.build().unwrap()).await.unwrap()
}

/// The real OpenRouter provider pointed at `sim`.
pub(crate) fn openrouter(sim: &Simulator, model: &str) -> OpenRouter {
    OpenRouter::builder()
        .api_key(Secret::new("sk-or-v1-test"))
        .base_url(sim.base_url())
        .default_model(model)
        .build()
        .unwrap()
}

/// A virtual clock for concurrent tasks that do real I/O: time advances only when every
/// participating task is waiting (never while one is inside an HTTP call), then jumps to
/// the earliest wake-up time and moves the simulator's clock by the same amount. This is
/// tokio's auto-advance, restricted to our own tasks.
#[derive(Clone)]
pub(crate) struct SteppingClock {
    inner: Arc<SteppingInner>,
}

struct SteppingInner {
    now: watch::Sender<Duration>,
    state: Mutex<SteppingState>,
    sim: Option<Simulator>,
}

struct SteppingState {
    active: usize,
    sleepers: Vec<(Duration, oneshot::Sender<()>)>,
}

impl std::fmt::Debug for SteppingClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SteppingClock")
            .field("now", &self.now())
            .finish()
    }
}

/// Marks a participating task; dropping it ends the participation.
pub(crate) struct Participant(SteppingClock);

impl Drop for Participant {
    fn drop(&mut self) {
        let mut state = self.0.inner.state.lock().unwrap();
        state.active -= 1;
        self.0.step(&mut state);
    }
}

impl SteppingClock {
    pub(crate) fn new(start: Duration, sim: Option<Simulator>) -> Self {
        Self {
            inner: Arc::new(SteppingInner {
                now: watch::Sender::new(start),
                state: Mutex::new(SteppingState {
                    active: 0,
                    sleepers: Vec::new(),
                }),
                sim,
            }),
        }
    }

    /// Registers a task; call before spawning it.
    pub(crate) fn participant(&self) -> Participant {
        self.inner.state.lock().unwrap().active += 1;
        Participant(self.clone())
    }

    /// When every active task sleeps, moves time to the earliest wake-up and wakes those due.
    fn step(&self, state: &mut SteppingState) {
        if state.active == 0 || state.sleepers.len() < state.active {
            return;
        }
        let Some(earliest) = state.sleepers.iter().map(|(at, _)| *at).min() else {
            return;
        };
        let now = self.now();
        if earliest > now {
            self.inner.now.send_replace(earliest);
            if let Some(sim) = &self.inner.sim {
                sim.advance(earliest - now);
            }
        }
        let now = self.now();
        let (due, waiting): (Vec<_>, Vec<_>) =
            state.sleepers.drain(..).partition(|(at, _)| *at <= now);
        state.sleepers = waiting;
        for (_, wake) in due {
            let _ = wake.send(());
        }
    }
}

impl Clock for SteppingClock {
    fn now(&self) -> Duration {
        *self.inner.now.borrow()
    }

    fn wait(&self, duration: Duration) -> ClockFuture {
        let clock = self.clone();
        Box::pin(async move {
            let (wake, woken) = oneshot::channel();
            {
                let mut state = clock.inner.state.lock().unwrap();
                let at = clock.now() + duration;
                state.sleepers.push((at, wake));
                clock.step(&mut state);
            }
            let _ = woken.await;
        })
    }

    fn timer(&self, instant: Duration) -> ClockFuture {
        let mut receiver = self.inner.now.subscribe();
        Box::pin(async move {
            let _ = receiver.wait_for(|now| *now >= instant).await;
        })
    }
}

/// A `redis-server` on a free loopback port, without persistence; killed on drop.
pub(crate) struct RedisServer {
    child: std::process::Child,
    pub(crate) url: String,
}

impl RedisServer {
    /// Starts one, or fails the test with how to get the binary.
    pub(crate) fn start() -> Self {
        use std::io::{BufRead, BufReader};

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap();
        let spawned = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => panic!(
                "cannot start `redis-server` ({error}). The Redis quota tests need it: \
                 `apt-get install redis-server` (Debian), or run `cargo xtask ci`, which \
                 installs it."
            ),
        };
        // Readiness is announced on stdout: read until then instead of sleeping.
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines
            .by_ref()
            .any(|line| line.is_ok_and(|line| line.contains("Ready to accept connections")));
        assert!(ready, "redis-server exited before it was ready");
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            url: format!("redis://127.0.0.1:{port}/0"),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
