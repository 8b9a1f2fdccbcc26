//! Latency samples and their summaries.

use std::time::Duration;

use serde::Serialize;

/// Latencies in nanoseconds, sorted on [`Samples::summary`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Samples(pub(crate) Vec<u64>);

impl Samples {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub(crate) fn push(&mut self, elapsed: Duration) {
        self.0
            .push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
    }

    pub(crate) fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn sorted(&self) -> Vec<u64> {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        sorted
    }

    pub(crate) fn summary(&self) -> Summary {
        Summary::of(&self.sorted())
    }
}

/// Mean and percentiles, in microseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(crate) struct Summary {
    pub(crate) n: usize,
    pub(crate) mean_us: f64,
    pub(crate) p50_us: f64,
    pub(crate) p90_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) max_us: f64,
}

impl Summary {
    pub(crate) fn of(sorted: &[u64]) -> Self {
        if sorted.is_empty() {
            return Self::default();
        }
        #[allow(clippy::cast_precision_loss)]
        let mean = sorted.iter().map(|&ns| ns as f64).sum::<f64>() / sorted.len() as f64;
        Self {
            n: sorted.len(),
            mean_us: mean / 1e3,
            p50_us: percentile(sorted, 0.50),
            p90_us: percentile(sorted, 0.90),
            p99_us: percentile(sorted, 0.99),
            max_us: percentile(sorted, 1.0),
        }
    }

    /// `self − baseline`, statistic by statistic.
    pub(crate) fn minus(&self, baseline: &Summary) -> Summary {
        Summary {
            n: self.n,
            mean_us: self.mean_us - baseline.mean_us,
            p50_us: self.p50_us - baseline.p50_us,
            p90_us: self.p90_us - baseline.p90_us,
            p99_us: self.p99_us - baseline.p99_us,
            max_us: self.max_us - baseline.max_us,
        }
    }
}

/// The `p` quantile (nearest rank) of sorted nanoseconds, in microseconds.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    #[allow(clippy::cast_precision_loss)]
    let us = sorted[index.min(sorted.len() - 1)] as f64 / 1e3;
    us
}

/// Formats microseconds for tables: `42 µs`, `1.23 ms`, `2.5 s`.
pub(crate) fn us(value: f64) -> String {
    let abs = value.abs();
    if !value.is_finite() {
        "–".to_owned()
    } else if abs >= 1e6 {
        format!("{:.2} s", value / 1e6)
    } else if abs >= 1e4 {
        format!("{:.1} ms", value / 1e3)
    } else if abs >= 1e3 {
        format!("{:.2} ms", value / 1e3)
    } else if abs >= 10.0 {
        format!("{value:.0} µs")
    } else {
        format!("{value:.1} µs")
    }
}
