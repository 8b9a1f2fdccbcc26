//! Time as the layers see it: an injectable clock, so tests run on virtual time.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use futures_util::future::Either;
use governor::nanos::Nanos;
use tokio::sync::watch;

/// A boxed, sendable future, as returned by [`Clock`] methods.
pub type ClockFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The time source of every resilience layer.
///
/// Two kinds of waiting are distinguished, because a virtual clock treats them differently:
///
/// - [`wait`](Self::wait) is a pause the layer *chooses* (backoff, a quota refill): a
///   virtual clock may satisfy it at once by moving time forward.
/// - [`timer`](Self::timer) bounds work in flight (the call deadline): it must fire only
///   when time really reaches the instant, never by itself on a virtual clock.
///
/// Layers stacked together must share one clock, since deadlines travel between them as
/// instants of that clock.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Now, as time since the Unix epoch. Never goes backwards.
    fn now(&self) -> Duration;

    /// Waits for `duration`, a pause the caller chose.
    fn wait(&self, duration: Duration) -> ClockFuture;

    /// Completes once [`now`](Self::now) reaches `instant`.
    fn timer(&self, instant: Duration) -> ClockFuture;

    /// `instant` as a tokio instant, when this clock runs on tokio's timer: a caller arming
    /// a timer on every call can then keep a `tokio::time::Sleep` in its own future
    /// instead of allocating [`timer`](Self::timer)'s. `None` (the default) otherwise.
    fn tokio_instant(&self, instant: Duration) -> Option<tokio::time::Instant> {
        let _ = instant;
        None
    }
}

/// A timer for `instant` of `clock`, as [`Clock::timer`] but without its allocation on
/// tokio's clock (a `tokio::time::Sleep` kept in the caller's future). For deadlines armed
/// on every call.
pub fn timer_at(clock: &dyn Clock, instant: Duration) -> Timer {
    match clock.tokio_instant(instant) {
        Some(at) => Either::Left(tokio::time::sleep_until(at)),
        None => Either::Right(clock.timer(instant)),
    }
}

/// What [`timer_at`] returns.
pub type Timer = Either<tokio::time::Sleep, ClockFuture>;

/// The production clock: tokio's timer, so `tokio::time::pause()` also pauses it.
///
/// [`now`](Clock::now) is the wall-clock time at creation plus tokio's monotonic time since:
/// it never jumps when the system clock is set, and stays close enough to UTC to count
/// daily quotas by UTC day.
#[derive(Clone, Debug)]
pub struct TokioClock {
    wall_at_start: Duration,
    started: tokio::time::Instant,
}

impl TokioClock {
    /// A clock starting at the current wall-clock time.
    pub fn new() -> Self {
        Self {
            wall_at_start: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            started: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Duration {
        self.wall_at_start + self.started.elapsed()
    }

    fn wait(&self, duration: Duration) -> ClockFuture {
        Box::pin(tokio::time::sleep(duration))
    }

    fn timer(&self, instant: Duration) -> ClockFuture {
        let remaining = instant.saturating_sub(self.now());
        Box::pin(tokio::time::sleep(remaining))
    }

    fn tokio_instant(&self, instant: Duration) -> Option<tokio::time::Instant> {
        // `None` past what an `Instant` can hold (a deadline of centuries): the boxed timer
        // copes with those.
        self.started
            .checked_add(instant.saturating_sub(self.wall_at_start))
    }
}

/// A clock running `scale` times faster than real time (tokio's), for simulations: with a
/// simulator serving one simulated minute per real second (`time_scale = 60`), a client on
/// `ScaledClock::new(60.0)` sees the same per-minute quotas, `Retry-After` and cooldowns.
///
/// ```
/// use std::time::Duration;
/// use orchestra_resilience::{Clock, ScaledClock};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let clock = ScaledClock::new(60.0);
/// let before = clock.now();
/// clock.wait(Duration::from_secs(60)).await; // one real second
/// assert!(clock.now() - before >= Duration::from_secs(60));
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct ScaledClock {
    wall_at_start: Duration,
    started: tokio::time::Instant,
    scale: f64,
}

impl ScaledClock {
    /// A clock starting at the current wall-clock time, running `scale` times faster than
    /// real time. A scale that is not finite and positive is taken as 1.
    pub fn new(scale: f64) -> Self {
        Self {
            wall_at_start: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            started: tokio::time::Instant::now(),
            scale: if scale.is_finite() && scale > 0.0 {
                scale
            } else {
                1.0
            },
        }
    }

    /// Simulated seconds per real second.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    fn to_real(&self, simulated: Duration) -> Duration {
        // `div_f64` panics on overflow; a far-off instant just means "never".
        Duration::try_from_secs_f64(simulated.as_secs_f64() / self.scale).unwrap_or(Duration::MAX)
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Duration {
        let simulated =
            Duration::try_from_secs_f64(self.started.elapsed().as_secs_f64() * self.scale)
                .unwrap_or(Duration::MAX);
        self.wall_at_start.saturating_add(simulated)
    }

    fn wait(&self, duration: Duration) -> ClockFuture {
        Box::pin(tokio::time::sleep(self.to_real(duration)))
    }

    fn timer(&self, instant: Duration) -> ClockFuture {
        let remaining = instant.saturating_sub(self.now());
        Box::pin(tokio::time::sleep(self.to_real(remaining)))
    }
}

type AdvanceHook = Box<dyn Fn(Duration) + Send + Sync>;

/// A virtual clock for tests: time moves only when someone waits or calls
/// [`advance`](Self::advance).
///
/// [`wait(d)`](Clock::wait) moves time to at least *(time of the call + d)* and returns at
/// once, so a test of a 30-second backoff takes microseconds, yet every layer sees 30
/// seconds pass. Concurrent waiters starting together move time to the same instant, not
/// to the sum of their waits. [`timer`](Clock::timer) fires only once time reaches its
/// instant. [`on_advance`](Self::on_advance) lets a test move another clock along (for
/// example a simulator's manual clock).
///
/// ```
/// use std::time::Duration;
/// use orchestra_resilience::{Clock, ManualClock};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let clock = ManualClock::starting_at(Duration::from_secs(1_000));
/// clock.wait(Duration::from_secs(30)).await;
/// assert_eq!(clock.now(), Duration::from_secs(1_030));
/// # });
/// ```
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    now: watch::Sender<Duration>,
    hooks: Mutex<Vec<AdvanceHook>>,
}

impl ManualClock {
    /// 2025-01-01T00:00:00Z: the start of the simulator's manual clock, so quota windows of
    /// both line up.
    pub const DEFAULT_START: Duration = Duration::from_secs(1_735_689_600);

    /// A clock at [`DEFAULT_START`](Self::DEFAULT_START).
    pub fn new() -> Self {
        Self::starting_at(Self::DEFAULT_START)
    }

    /// A clock at `since_epoch`.
    pub fn starting_at(since_epoch: Duration) -> Self {
        Self {
            inner: Arc::new(ManualInner {
                now: watch::Sender::new(since_epoch),
                hooks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let target = self.now() + by;
        self.advance_to(target);
    }

    /// Moves time forward to `instant`; does nothing if time is already there.
    pub fn advance_to(&self, instant: Duration) {
        let mut moved = Duration::ZERO;
        self.inner.now.send_if_modified(|now| {
            if instant > *now {
                moved = instant - *now;
                *now = instant;
                true
            } else {
                false
            }
        });
        if !moved.is_zero() {
            let hooks = self
                .inner
                .hooks
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for hook in hooks.iter() {
                hook(moved);
            }
        }
    }

    /// Calls `hook` with the amount of every forward move of this clock.
    pub fn on_advance(&self, hook: impl Fn(Duration) + Send + Sync + 'static) {
        self.inner
            .hooks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(hook));
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish_non_exhaustive()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *self.inner.now.borrow()
    }

    fn wait(&self, duration: Duration) -> ClockFuture {
        let target = self.now() + duration;
        let clock = self.clone();
        Box::pin(async move {
            clock.advance_to(target);
            // Let other tasks observe the new time before this one goes on.
            tokio::task::yield_now().await;
        })
    }

    fn timer(&self, instant: Duration) -> ClockFuture {
        let mut receiver = self.inner.now.subscribe();
        Box::pin(async move {
            // `wait_for` checks the current value first; the sender lives as long as the
            // clock, and a dropped clock means the timer never fires.
            if receiver.wait_for(|now| *now >= instant).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// Adapts a [`Clock`] to governor's clock trait (nanoseconds since the Unix epoch).
#[derive(Clone, Debug)]
pub(crate) struct GovernorClock(pub(crate) Arc<dyn Clock>);

impl governor::clock::Clock for GovernorClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.0.now())
    }
}

/// `instant` (time since the epoch) as a [`SystemTime`], for people and logs.
pub(crate) fn system_time(instant: Duration) -> SystemTime {
    UNIX_EPOCH + instant
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_instants_match_the_clock_and_far_deadlines_do_not_panic() {
        let clock = TokioClock::new();
        let in_five = clock.now() + Duration::from_secs(5);
        let at = clock.tokio_instant(in_five).unwrap();
        assert_eq!(at - tokio::time::Instant::now(), Duration::from_secs(5));
        tokio::time::sleep_until(at).await;
        assert!(clock.now() >= in_five);
        // Past what an Instant holds: no instant, and the boxed timer still works.
        assert_eq!(clock.tokio_instant(Duration::MAX), None);
        let far = clock.timer(Duration::MAX);
        assert!(
            tokio::time::timeout(Duration::from_secs(3600), far)
                .await
                .is_err()
        );
        assert_eq!(ManualClock::new().tokio_instant(in_five), None);
    }
}
