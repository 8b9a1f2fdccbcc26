//! Checking that the index's word lists find what the scan finds.

use std::sync::Arc;

use orchestra_core::Error;
use serde::Serialize;

use crate::{
    embed::Embedder,
    guard::{Guard, Signature, Verdict},
    index::{Candidate, IndexedMeta, SemanticIndex, WordFilter},
};

/// What [`check_word_lists`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WordListCheck {
    /// Questions looked up.
    pub queries: usize,
    /// Lookups that read word lists (the others scanned the scope).
    pub filtered: usize,
    /// Candidates the guard accepted, summed over the lookups (the same for both paths
    /// when `mismatches` is 0).
    pub accepted: usize,
    /// Entries scored through the word lists, summed (the scan scores every entry).
    pub scored: usize,
    /// Lookups whose guard-accepted candidates differed between the scan and the lists.
    pub mismatches: usize,
}

/// Indexes `texts` in one scope and looks each one up twice, by a full scan and through the
/// word lists that `guard`'s word budget allows, at `threshold`; counts the lookups whose
/// candidates accepted by `guard` differ. 0 mismatches: the lists are exact on these texts.
///
/// # Errors
///
/// The embedder's error, or [`ErrorKind::Config`](orchestra_core::ErrorKind::Config) when
/// `guard` has no word budget (nothing to check).
pub async fn check_word_lists(
    embedder: &dyn Embedder,
    guard: Guard,
    texts: &[&str],
    threshold: f32,
) -> Result<WordListCheck, Error> {
    let Some(budget) = guard.word_budget() else {
        return Err(Error::config("this guard has no word budget to filter by"));
    };
    let mut index = SemanticIndex::new(embedder.dims());
    index.use_sketches = false;
    let mut vectors = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(256) {
        vectors.extend(embedder.embed(chunk).await?);
    }
    let signatures: Vec<Signature> = texts.iter().map(|text| Signature::of(text)).collect();
    for (key, ((text, vector), signature)) in
        texts.iter().zip(&vectors).zip(&signatures).enumerate()
    {
        let meta = Arc::new(IndexedMeta {
            text: (*text).into(),
            signature: signature.clone(),
        });
        index.insert(0, key as u128, vector, meta);
    }
    let accepted = |signature: &Signature, found: &[Candidate]| {
        let mut keys: Vec<u128> = found
            .iter()
            .filter(|candidate| {
                guard.compare(signature, &candidate.meta.signature) == Verdict::Same
            })
            .map(|candidate| candidate.key)
            .collect();
        keys.sort_unstable();
        keys
    };
    let mut check = WordListCheck::default();
    for (vector, signature) in vectors.iter().zip(&signatures) {
        let filter = WordFilter { signature, budget };
        let scan = index.search(0, vector, threshold, usize::MAX, None);
        let (listed, scored) = index.search_counted(0, vector, threshold, usize::MAX, Some(filter));
        let expected = accepted(signature, &scan);
        check.queries += 1;
        check.accepted += expected.len();
        if let Some(scored) = scored {
            check.filtered += 1;
            check.scored += scored;
        }
        if expected != accepted(signature, &listed) {
            check.mismatches += 1;
        }
    }
    Ok(check)
}
