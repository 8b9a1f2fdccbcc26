//! Single flight: concurrent identical requests share one lookup and one upstream call.
//!
//! The first request for a key leads: it looks the cache up, asks upstream on a miss, stores
//! the answer and then publishes its outcome. Requests for the same key that arrive meanwhile
//! follow: they wait for that outcome instead of calling upstream themselves. A leader that is
//! dropped before publishing (its caller gave up) closes the flight, and its followers start
//! over on their own: one of them leads the next flight.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use orchestra_core::{CacheStatus, ChatResponse, Error};
use tokio::sync::watch;

use crate::control::CacheControl;

/// What a leader hands its followers: its answer and how it got it, or its error.
pub(super) type Outcome = Result<(Arc<ChatResponse>, CacheStatus), Error>;

/// Requests coalesce when their exact key and their control are equal (an exact-only request
/// must not receive the semantic answer a default request found).
type FlightKey = (u128, CacheControl);

type Slot = watch::Receiver<Option<Outcome>>;

/// The flights in progress.
#[derive(Debug, Default)]
pub(super) struct Flights {
    inner: Mutex<FlightMap>,
}

#[derive(Debug, Default)]
struct FlightMap {
    next_id: u64,
    flights: HashMap<FlightKey, (u64, Slot)>,
}

/// The part a request plays in its flight.
pub(super) enum Role<'a> {
    /// No identical request is in flight: this one does the work and publishes the outcome.
    Leader(Leader<'a>),
    /// An identical request is in flight: wait for its outcome with [`follow`].
    Follower(Slot),
}

impl Flights {
    /// Joins the flight for `key`, leading it when there is none.
    pub(super) fn join(&self, exact: u128, control: CacheControl) -> Role<'_> {
        let key = (exact, control);
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, slot)) = map.flights.get(&key) {
            return Role::Follower(slot.clone());
        }
        let (sender, receiver) = watch::channel(None);
        map.next_id += 1;
        let id = map.next_id;
        map.flights.insert(key, (id, receiver));
        Role::Leader(Leader {
            flights: self,
            key,
            id,
            sender,
        })
    }

    /// Flights in progress (for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flights
            .len()
    }
}

/// Waits for the leader's outcome; `None` when the leader was dropped without one (the
/// follower should then start over).
pub(super) async fn follow(mut slot: Slot) -> Option<Outcome> {
    slot.wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|outcome| outcome.clone())
}

/// The leader of a flight. Dropping it, published or not, ends the flight.
pub(super) struct Leader<'a> {
    flights: &'a Flights,
    key: FlightKey,
    id: u64,
    sender: watch::Sender<Option<Outcome>>,
}

impl Leader<'_> {
    /// Hands `outcome` to every follower and ends the flight.
    pub(super) fn publish(self, outcome: Outcome) {
        self.sender.send_replace(Some(outcome));
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let mut map = self
            .flights
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map
            .flights
            .get(&self.key)
            .is_some_and(|(id, _)| *id == self.id)
        {
            map.flights.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use orchestra_core::{Choice, ErrorKind, FinishReason, Message};

    use super::*;

    fn answer(text: &str) -> Arc<ChatResponse> {
        Arc::new(ChatResponse::new(
            "id",
            "m",
            "p",
            vec![Choice::new(
                0,
                Message::assistant(text),
                Some(FinishReason::Stop),
            )],
        ))
    }

    #[tokio::test]
    async fn followers_get_the_published_outcome_and_the_flight_ends() {
        let flights = Flights::default();
        let Role::Leader(leader) = flights.join(1, CacheControl::Default) else {
            panic!("the first request leads");
        };
        let Role::Follower(slot) = flights.join(1, CacheControl::Default) else {
            panic!("the second request follows");
        };
        // Another key or another control is another flight.
        assert!(matches!(
            flights.join(2, CacheControl::Default),
            Role::Leader(_)
        ));
        assert!(matches!(
            flights.join(1, CacheControl::ExactOnly),
            Role::Leader(_)
        ));
        leader.publish(Ok((answer("Paris."), CacheStatus::Miss)));
        let (response, status) = follow(slot).await.unwrap().unwrap();
        assert_eq!(response.content(), Some("Paris."));
        assert_eq!(status, CacheStatus::Miss);
        assert_eq!(flights.len(), 0);
        assert!(matches!(
            flights.join(1, CacheControl::Default),
            Role::Leader(_)
        ));
    }

    #[tokio::test]
    async fn errors_are_shared_and_a_dropped_leader_releases_its_followers() {
        let flights = Flights::default();
        let Role::Leader(leader) = flights.join(1, CacheControl::Default) else {
            panic!("leads");
        };
        let Role::Follower(slot) = flights.join(1, CacheControl::Default) else {
            panic!("follows");
        };
        leader.publish(Err(Error::new(ErrorKind::Server, "upstream 500")));
        let error = follow(slot).await.unwrap().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Server);

        let Role::Leader(leader) = flights.join(1, CacheControl::Default) else {
            panic!("a new flight");
        };
        let Role::Follower(slot) = flights.join(1, CacheControl::Default) else {
            panic!("follows");
        };
        drop(leader);
        assert!(follow(slot).await.is_none(), "released without an outcome");
        assert_eq!(flights.len(), 0);
    }

    #[test]
    fn a_stale_leader_does_not_end_a_newer_flight() {
        let flights = Flights::default();
        let Role::Leader(first) = flights.join(1, CacheControl::Default) else {
            panic!("leads");
        };
        // Simulate the entry being replaced (the first flight already ended in the map).
        flights.inner.lock().unwrap().flights.clear();
        let Role::Leader(second) = flights.join(1, CacheControl::Default) else {
            panic!("leads");
        };
        drop(first);
        assert_eq!(flights.len(), 1, "the newer flight stays");
        drop(second);
        assert_eq!(flights.len(), 0);
    }
}
