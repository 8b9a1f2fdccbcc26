//! Simulated time: scaled wall-clock time or a manual clock, plus a manual offset.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::{MANUAL_CLOCK_START_MS, SimConfig};

/// The simulator's clock, in Unix epoch milliseconds of simulated time.
#[derive(Debug)]
pub(crate) struct SimClock {
    start: Instant,
    start_ms: u64,
    /// Simulated seconds per real second; 0 = manual clock.
    scale: f64,
    offset_ms: AtomicU64,
}

impl SimClock {
    pub(crate) fn new(config: &SimConfig) -> Self {
        let start_ms = config.start_epoch_ms.unwrap_or_else(|| {
            if config.manual_clock {
                MANUAL_CLOCK_START_MS
            } else {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                    .unwrap_or(MANUAL_CLOCK_START_MS)
            }
        });
        Self {
            start: Instant::now(),
            start_ms,
            scale: if config.manual_clock {
                0.0
            } else {
                config.time_scale
            },
            offset_ms: AtomicU64::new(0),
        }
    }

    /// Simulated now, epoch ms.
    pub(crate) fn now_ms(&self) -> u64 {
        let scaled = if self.scale > 0.0 {
            (self.start.elapsed().as_secs_f64() * 1000.0 * self.scale) as u64
        } else {
            0
        };
        self.start_ms
            .saturating_add(self.offset_ms.load(Ordering::Relaxed))
            .saturating_add(scaled)
    }

    /// Moves simulated time forward.
    pub(crate) fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Converts a simulated wait in milliseconds to whole real seconds for `Retry-After`:
    /// rounded up, at least 1 when the wait is positive. The manual clock reports simulated
    /// seconds unchanged.
    pub(crate) fn retry_after_secs(&self, sim_wait_ms: u64) -> u64 {
        if sim_wait_ms == 0 {
            return 0;
        }
        let scale = if self.scale > 0.0 { self.scale } else { 1.0 };
        let real_secs = (sim_wait_ms as f64 / 1000.0 / scale).ceil() as u64;
        real_secs.max(1)
    }
}

/// A small, fast, seedable random source (SplitMix64); not for cryptography.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..=max`.
    pub(crate) fn up_to(&mut self, max: u64) -> u64 {
        if max == 0 {
            0
        } else {
            self.next_u64() % (max + 1)
        }
    }
}

/// FNV-1a 64-bit digest (stable across runs and platforms).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
