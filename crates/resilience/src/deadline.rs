//! The deadline of the current call, shared by every layer of a stack.
//!
//! The outermost layer that knows the budget (normally [`Retry`](crate::Retry)) sets it;
//! layers below read it to decide whether a wait still fits. It travels as a tokio
//! task-local, since inner calls run within the outer call's task.

use std::{future::Future, time::Duration};

tokio::task_local! {
    static DEADLINE: Duration;
}

/// Runs `future` with `deadline` (an instant of the stack's [`Clock`](crate::Clock)) as the
/// deadline of the call; an earlier deadline already in force is kept.
///
/// A router that calls resilient providers can set its own deadline this way.
pub async fn with_deadline<F: Future>(deadline: Duration, future: F) -> F::Output {
    let deadline = current_deadline().map_or(deadline, |outer| outer.min(deadline));
    DEADLINE.scope(deadline, future).await
}

/// The deadline of the call in progress, if a layer above set one.
pub fn current_deadline() -> Option<Duration> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

tokio::task_local! {
    static FALLBACK_AVAILABLE: bool;
}

/// Runs `future` knowing whether a caller above (a router) has another target to try if
/// this one is rate limited.
///
/// [`Retry`](crate::Retry) reads it: waiting out a `Retry-After` on a rate-limited model
/// only makes sense when nothing else can answer. With a fallback available it returns the
/// rate limit at once (the cooldown layer remembers it) so the caller moves on.
pub async fn with_fallback_available<F: Future>(available: bool, future: F) -> F::Output {
    FALLBACK_AVAILABLE.scope(available, future).await
}

/// Whether the caller above has another target to try (`false` when nobody said).
pub fn fallback_available() -> bool {
    FALLBACK_AVAILABLE
        .try_with(|available| *available)
        .unwrap_or(false)
}
