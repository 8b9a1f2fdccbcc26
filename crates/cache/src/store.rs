//! The in-process store: entries with expiry and least-recently-used eviction, and the
//! semantic index over them.

#[cfg(feature = "redis")]
pub(crate) mod redis;

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::Arc,
};

use orchestra_core::ChatResponse;

use crate::index::{Candidate, IndexedMeta, SemanticIndex, WordFilter};

/// One entry. With a shared store the response lives there and `response` is `None`: the
/// local entry then only feeds the semantic index.
#[derive(Debug)]
struct Slot {
    response: Option<Arc<ChatResponse>>,
    expires_ms: u64,
    tick: u64,
}

/// A semantic record to index with an entry.
#[derive(Debug)]
pub(crate) struct SemanticRecord {
    pub(crate) scope: u64,
    pub(crate) vector: Vec<f32>,
    pub(crate) meta: Arc<IndexedMeta>,
}

/// Entries, their recency and expiry order, and the vector index, under one lock.
#[derive(Debug)]
pub(crate) struct MemoryState {
    entries: HashMap<u128, Slot>,
    /// tick → key, oldest first.
    recency: BTreeMap<u64, u128>,
    tick: u64,
    /// (expiry, key) in insertion order; with one TTL that is expiry order. Stale pairs (the
    /// key was replaced or removed) are skipped.
    expiry: VecDeque<(u64, u128)>,
    index: Option<SemanticIndex>,
    max_entries: usize,
}

impl MemoryState {
    pub(crate) fn new(max_entries: usize, dims: Option<usize>) -> Self {
        Self {
            entries: HashMap::new(),
            recency: BTreeMap::new(),
            tick: 0,
            expiry: VecDeque::new(),
            index: dims.map(SemanticIndex::new),
            max_entries: max_entries.max(1),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The live entry under `key`, marked as just used.
    pub(crate) fn get(&mut self, key: u128, now_ms: u64) -> Option<Option<Arc<ChatResponse>>> {
        let expired = self.entries.get(&key)?.expires_ms <= now_ms;
        if expired {
            self.remove(key);
            return None;
        }
        self.tick += 1;
        let tick = self.tick;
        let slot = self.entries.get_mut(&key)?;
        self.recency.remove(&slot.tick);
        slot.tick = tick;
        self.recency.insert(tick, key);
        Some(slot.response.clone())
    }

    /// Stores an entry (replacing any under `key`); returns how many entries were evicted.
    pub(crate) fn insert(
        &mut self,
        key: u128,
        response: Option<Arc<ChatResponse>>,
        expires_ms: u64,
        now_ms: u64,
        semantic: Option<SemanticRecord>,
    ) -> u64 {
        if expires_ms <= now_ms {
            return 0;
        }
        self.remove(key);
        self.sweep(now_ms);
        let mut evicted = 0;
        while self.entries.len() >= self.max_entries {
            let Some((_, oldest)) = self.recency.pop_first() else {
                break;
            };
            self.remove(oldest);
            evicted += 1;
        }
        self.tick += 1;
        self.entries.insert(
            key,
            Slot {
                response,
                expires_ms,
                tick: self.tick,
            },
        );
        self.recency.insert(self.tick, key);
        self.expiry.push_back((expires_ms, key));
        if let (Some(index), Some(record)) = (self.index.as_mut(), semantic) {
            index.insert(record.scope, key, &record.vector, record.meta);
        }
        evicted
    }

    pub(crate) fn remove(&mut self, key: u128) {
        if let Some(slot) = self.entries.remove(&key) {
            self.recency.remove(&slot.tick);
        }
        if let Some(index) = self.index.as_mut() {
            index.remove(key);
        }
    }

    /// Drops every expired entry.
    pub(crate) fn sweep(&mut self, now_ms: u64) {
        while let Some(&(expires_ms, key)) = self.expiry.front() {
            if expires_ms > now_ms {
                break;
            }
            self.expiry.pop_front();
            if self
                .entries
                .get(&key)
                .is_some_and(|slot| slot.expires_ms <= now_ms)
            {
                self.remove(key);
            }
        }
        // Replaced keys leave stale pairs behind; keep the queue from growing without bound.
        if self.expiry.len() > 2 * self.entries.len() + 1024 {
            let entries = &self.entries;
            self.expiry.retain(|(expires_ms, key)| {
                entries
                    .get(key)
                    .is_some_and(|slot| slot.expires_ms == *expires_ms)
            });
        }
    }

    /// Live semantic candidates of `scope`, best first (see [`SemanticIndex::search`]).
    pub(crate) fn search(
        &self,
        scope: u64,
        query: &[f32],
        threshold: f32,
        limit: usize,
        now_ms: u64,
        filter: Option<WordFilter<'_>>,
    ) -> Vec<Candidate> {
        let Some(index) = self.index.as_ref() else {
            return Vec::new();
        };
        let mut found = index.search(scope, query, threshold, limit.saturating_mul(2), filter);
        found.retain(|candidate| {
            self.entries
                .get(&candidate.key)
                .is_some_and(|slot| slot.expires_ms > now_ms)
        });
        found.truncate(limit);
        found
    }

    /// Whether large scopes use the sketch filter (measurements compare both).
    pub(crate) fn set_sketch_filter(&mut self, on: bool) {
        if let Some(index) = self.index.as_mut() {
            index.use_sketches = on;
        }
    }
}

#[cfg(test)]
mod tests {
    use orchestra_core::{Choice, Message};

    use super::*;

    fn response(text: &str) -> Option<Arc<ChatResponse>> {
        Some(Arc::new(ChatResponse::new(
            "id",
            "m",
            "p",
            vec![Choice::new(0, Message::assistant(text), None)],
        )))
    }

    #[test]
    fn least_recently_used_is_evicted_first() {
        let mut state = MemoryState::new(2, None);
        assert_eq!(state.insert(1, response("a"), 100, 0, None), 0);
        assert_eq!(state.insert(2, response("b"), 100, 0, None), 0);
        assert!(state.get(1, 1).is_some()); // 2 is now the oldest
        assert_eq!(state.insert(3, response("c"), 100, 1, None), 1);
        assert!(state.get(2, 2).is_none());
        assert!(state.get(1, 2).is_some());
        assert!(state.get(3, 2).is_some());
    }

    #[test]
    fn expired_entries_are_gone_and_swept() {
        let mut state = MemoryState::new(10, None);
        state.insert(1, response("a"), 100, 0, None);
        state.insert(2, response("b"), 200, 50, None);
        assert!(state.get(1, 99).is_some());
        assert!(state.get(1, 100).is_none());
        state.sweep(200);
        assert_eq!(state.len(), 0);
    }

    #[test]
    fn replacing_a_key_does_not_grow_the_queues_without_bound() {
        let mut state = MemoryState::new(10, None);
        for now in 0..10_000 {
            state.insert(1, response("a"), now + 1_000_000, now, None);
        }
        assert_eq!(state.len(), 1);
        assert!(state.expiry.len() <= 2 + 1024 + 1);
        assert_eq!(state.recency.len(), 1);
    }
}
