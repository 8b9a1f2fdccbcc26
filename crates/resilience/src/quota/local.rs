//! Quotas in this process: governor's GCRA behind a two-phase state store, plus UTC-day
//! counters.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use governor::{
    NotUntil, Quota as GovernorQuota, RateLimiter,
    middleware::NoOpMiddleware,
    nanos::Nanos,
    state::{NotKeyed, StateStore},
};

use super::{Bucket, BucketShape, Charge, Decision};
use crate::clock::{Clock, GovernorClock};

/// The GCRA state of one bucket (its theoretical arrival time), which governor reads and
/// updates through [`StateStore`].
///
/// governor's limiters update their state as soon as a check passes and never give a cell
/// back. A request under several quotas must not spend capacity in one when another
/// refuses, so every check first runs with `commit` off (governor computes the decision,
/// the state is left alone) and only when every quota agreed does it run again with
/// `commit` on. Both passes run under [`LocalBackend`]'s lock, and a GCRA decision that
/// passes at one instant still passes later, so the second pass always agrees.
#[derive(Debug, Default)]
struct TwoPhaseState {
    theoretical_arrival: Mutex<Option<Nanos>>,
    commit: AtomicBool,
}

#[derive(Clone, Debug)]
struct TwoPhaseStore(Arc<TwoPhaseState>);

impl StateStore for TwoPhaseStore {
    type Key = NotKeyed;

    fn measure_and_replace<T, F, E>(&self, _key: &NotKeyed, decide: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut arrival = self
            .0
            .theoretical_arrival
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (outcome, next) = decide(*arrival)?;
        if self.0.commit.load(Ordering::Relaxed) {
            *arrival = Some(next);
        }
        Ok(outcome)
    }
}

struct GcraBucket {
    limiter: RateLimiter<NotKeyed, TwoPhaseStore, GovernorClock, NoOpMiddleware<Nanos>>,
    state: Arc<TwoPhaseState>,
    interval: Duration,
    started: Duration,
}

impl GcraBucket {
    fn new(interval: Duration, burst: u32, clock: &Arc<dyn Clock>) -> Self {
        let quota = GovernorQuota::with_period(interval.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| GovernorQuota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        let state = Arc::new(TwoPhaseState::default());
        let started = clock.now();
        let limiter = RateLimiter::new(
            quota,
            TwoPhaseStore(Arc::clone(&state)),
            GovernorClock(Arc::clone(clock)),
        );
        Self {
            limiter,
            state,
            interval,
            started,
        }
    }

    /// How long until `cost` cells fit; zero when they fit now.
    fn wait_for(&self, cost: u32, now: Duration) -> Duration {
        let cost = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
        match self.limiter.check_n(cost) {
            Ok(Ok(())) => Duration::ZERO,
            Ok(Err(not_until)) => wait_time(&not_until, now),
            // Costs are clamped to the burst before they get here.
            Err(_) => Duration::MAX,
        }
    }

    /// Checks `cost` cells and charges them when they fit: [`LocalBackend::acquire`] for a
    /// request under this one quota only.
    fn admit(&self, cost: u32, clock: &Arc<dyn Clock>, bucket: &Arc<Bucket>) -> Decision {
        let cost = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
        self.state.commit.store(true, Ordering::Relaxed);
        let checked = self.limiter.check_n(cost);
        self.state.commit.store(false, Ordering::Relaxed);
        let wait = match checked {
            Ok(Ok(())) => return Decision::Admitted,
            Ok(Err(not_until)) => wait_time(&not_until, clock.now()),
            // Costs are clamped to the burst before they get here.
            Err(_) => Duration::MAX,
        };
        Decision::Wait {
            wait,
            bucket: Arc::clone(bucket),
        }
    }

    fn adjust(&self, delta: i64, now: Duration) {
        let mut arrival = self
            .state
            .theoretical_arrival
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(current) = *arrival else {
            return;
        };
        let shift = Nanos::from(
            self.interval
                .saturating_mul(u32::try_from(delta.unsigned_abs()).unwrap_or(u32::MAX)),
        );
        *arrival = Some(if delta >= 0 {
            let elapsed = Nanos::from(now.saturating_sub(self.started));
            current.max(elapsed) + shift
        } else {
            current.saturating_sub(shift)
        });
    }
}

fn wait_time(not_until: &NotUntil<Nanos>, now: Duration) -> Duration {
    not_until.wait_time_from(Nanos::from(now))
}

#[derive(Debug)]
struct WindowBucket {
    length: Duration,
    index: u128,
    count: u64,
}

enum BucketState {
    Gcra(GcraBucket),
    Window(WindowBucket),
}

/// The buckets by key (shared with the [`Bucket`], so an entry costs no copy of it).
type Buckets = HashMap<Arc<str>, Entry, foldhash::fast::RandomState>;

struct Entry {
    shape: BucketShape,
    state: BucketState,
}

/// Every bucket of one [`Quotas`](super::Quotas), behind one lock: admission is a few
/// arithmetic steps per quota, never held across an `.await`.
pub(crate) struct LocalBackend {
    clock: Arc<dyn Clock>,
    /// By bucket key; every admitted request looks its buckets up twice (check, commit).
    buckets: Mutex<Buckets>,
}

impl std::fmt::Debug for LocalBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBackend").finish_non_exhaustive()
    }
}

impl LocalBackend {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            buckets: Mutex::new(Buckets::default()),
        }
    }

    fn entry<'a>(
        buckets: &'a mut Buckets,
        bucket: &Bucket,
        clock: &Arc<dyn Clock>,
    ) -> &'a mut Entry {
        let entry = buckets
            .entry(Arc::clone(&bucket.key))
            .or_insert_with(|| Entry {
                shape: bucket.shape,
                state: new_state(bucket.shape, clock),
            });
        if entry.shape != bucket.shape {
            // The limit changed: a window keeps its count, a GCRA bucket starts afresh.
            let keep_window = matches!(
                (&entry.state, bucket.shape),
                (BucketState::Window(window), BucketShape::Window { length, .. }) if window.length == length
            );
            if !keep_window {
                entry.state = new_state(bucket.shape, clock);
            }
            entry.shape = bucket.shape;
        }
        entry
    }

    /// Admits `charges` all together, or none of them.
    pub(crate) fn acquire(&self, charges: &[Charge]) -> Decision {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if let [charge] = charges {
            let entry = Self::entry(&mut buckets, &charge.bucket, &self.clock);
            if let BucketState::Gcra(gcra) = &mut entry.state {
                // A single quota (the usual case): nothing else can refuse, so one check
                // that charges when it passes does what the two passes below would.
                return gcra.admit(charge.cost, &self.clock, &charge.bucket);
            }
        }
        let now = self.clock.now();
        let mut refusal: Option<(Duration, usize)> = None;
        for (index, charge) in charges.iter().enumerate() {
            let entry = Self::entry(&mut buckets, &charge.bucket, &self.clock);
            let wait = match (&mut entry.state, entry.shape) {
                (BucketState::Gcra(gcra), _) => {
                    gcra.state.commit.store(false, Ordering::Relaxed);
                    gcra.wait_for(charge.cost, now)
                }
                (BucketState::Window(window), BucketShape::Window { limit, .. }) => {
                    let index = now.as_nanos() / window.length.as_nanos().max(1);
                    if index != window.index {
                        window.index = index;
                        window.count = 0;
                    }
                    if window.count + u64::from(charge.cost) > u64::from(limit) {
                        let next = window.length.as_nanos().max(1) * (index + 1);
                        Duration::from_nanos(
                            u64::try_from(next - now.as_nanos()).unwrap_or(u64::MAX),
                        )
                    } else {
                        Duration::ZERO
                    }
                }
                (BucketState::Window(_), BucketShape::Gcra { .. }) => Duration::ZERO,
            };
            if !wait.is_zero() && refusal.is_none_or(|(longest, _)| wait > longest) {
                refusal = Some((wait, index));
            }
        }
        if let Some((wait, index)) = refusal {
            return Decision::Wait {
                wait,
                bucket: Arc::clone(&charges[index].bucket),
            };
        }
        for charge in charges {
            let entry = Self::entry(&mut buckets, &charge.bucket, &self.clock);
            match &mut entry.state {
                BucketState::Gcra(gcra) => {
                    gcra.state.commit.store(true, Ordering::Relaxed);
                    let cost = NonZeroU32::new(charge.cost).unwrap_or(NonZeroU32::MIN);
                    let committed = matches!(gcra.limiter.check_n(cost), Ok(Ok(())));
                    gcra.state.commit.store(false, Ordering::Relaxed);
                    debug_assert!(committed, "a GCRA check that passed must pass again");
                }
                BucketState::Window(window) => window.count += u64::from(charge.cost),
            }
        }
        Decision::Admitted
    }

    /// Charges (`delta > 0`) or refunds (`delta < 0`) cells of a GCRA bucket after the fact.
    pub(crate) fn adjust(&self, charge: &Charge, delta: i64) {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.now();
        if let Some(Entry {
            state: BucketState::Gcra(gcra),
            ..
        }) = buckets.get_mut(&charge.bucket.key)
        {
            gcra.adjust(delta, now);
        }
    }
}

fn new_state(shape: BucketShape, clock: &Arc<dyn Clock>) -> BucketState {
    match shape {
        BucketShape::Gcra { interval, burst } => {
            BucketState::Gcra(GcraBucket::new(interval, burst, clock))
        }
        BucketShape::Window { length, .. } => BucketState::Window(WindowBucket {
            length,
            index: 0,
            count: 0,
        }),
    }
}
