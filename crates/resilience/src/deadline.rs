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

/// What the caller above (a router) told the layers below about the call in progress.
#[derive(Clone, Copy, Debug, Default)]
struct Caller {
    fallback_available: bool,
    /// An instant at which the caller drops the call, whatever the layers below do.
    enforced_deadline: Option<Duration>,
}

tokio::task_local! {
    static CALLER: Caller;
}

fn caller() -> Caller {
    CALLER.try_with(|caller| *caller).unwrap_or_default()
}

/// Runs `future` knowing whether a caller above (a router) has another target to try if
/// this one is rate limited.
///
/// [`Retry`](crate::Retry) reads it: waiting out a `Retry-After` on a rate-limited model
/// only makes sense when nothing else can answer. With a fallback available it returns the
/// rate limit at once (the cooldown layer remembers it) so the caller moves on.
pub async fn with_fallback_available<F: Future>(available: bool, future: F) -> F::Output {
    let caller = Caller {
        fallback_available: available,
        ..caller()
    };
    CALLER.scope(caller, future).await
}

/// Whether the caller above has another target to try (`false` when nobody said).
pub fn fallback_available() -> bool {
    caller().fallback_available
}

/// [`with_fallback_available`], from a caller that also drops `future` itself once its
/// [`Clock`](crate::Clock) reaches `deadline` (a router racing the call against its
/// deadline timer).
///
/// Layers below may then leave out a deadline timer of their own that would fire at or
/// after `deadline`: it could never end the call first. [`Retry`](crate::Retry) does, which
/// saves arming one timer per call. Unlike [`with_deadline`], this does not shorten the
/// budget the layers below plan with; an earlier enforced deadline already in force is
/// kept.
pub async fn with_enforced_deadline<F: Future>(
    deadline: Duration,
    fallback_available: bool,
    future: F,
) -> F::Output {
    let outer = caller();
    let caller = Caller {
        fallback_available,
        enforced_deadline: Some(
            outer
                .enforced_deadline
                .map_or(deadline, |outer| outer.min(deadline)),
        ),
    };
    CALLER.scope(caller, future).await
}

/// The instant at which a caller above drops the call in progress, if one said so with
/// [`with_enforced_deadline`].
pub fn enforced_deadline() -> Option<Duration> {
    caller().enforced_deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_enforced_deadline_keeps_the_earlier_one_and_survives_fallback_scopes() {
        assert_eq!(enforced_deadline(), None);
        let secs = Duration::from_secs;
        with_enforced_deadline(secs(10), true, async {
            assert_eq!(enforced_deadline(), Some(secs(10)));
            assert!(fallback_available());
            with_enforced_deadline(secs(20), false, async {
                assert_eq!(enforced_deadline(), Some(secs(10)));
                assert!(!fallback_available());
            })
            .await;
            with_fallback_available(false, async {
                assert_eq!(enforced_deadline(), Some(secs(10)));
                assert!(!fallback_available());
            })
            .await;
            // The budget the layers plan with is not touched.
            assert_eq!(current_deadline(), None);
        })
        .await;
    }
}
