//! A progress bar on stderr for long commands, hidden when stderr is not a terminal.

use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(crate) struct Progress {
    bar: ProgressBar,
    failed: AtomicU64,
}

impl Progress {
    /// A bar for `total` requests, labelled `label`; indicatif draws nothing when stderr is
    /// not a terminal (CI logs, pipes), so scripts see only the results.
    pub(crate) fn new(total: u64, label: &'static str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix} [{bar:40.cyan/blue}] {pos}/{len} {msg} {elapsed_precise}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label);
        Self {
            bar,
            failed: AtomicU64::new(0),
        }
    }

    /// One request done.
    pub(crate) fn advance(&self, answered: bool) {
        if !answered {
            let failed = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
            self.bar.set_message(format!("({failed} failed)"));
        }
        self.bar.inc(1);
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
