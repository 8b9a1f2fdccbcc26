//! The near-miss guard: similar questions with different answers must miss.

use std::{collections::HashMap, fmt};

use crate::text::{is_determiner, is_light, is_negation, is_possessive, is_stopword, tokens};

/// Checks that run after the similarity threshold, on the two question texts.
///
/// Embeddings score "What is the capital of France?" and "…of Germany?" as near-identical
/// (0.76 with the lexical embedder, 0.67 with MiniLM), yet the answers differ. A semantic hit
/// is served only when every enabled check passes:
///
/// - **numbers**: the same numbers, in any order (`Rs. 50000` ≠ `Rs. 240000`, `2019` ≠ `2020`,
///   `3rd` ≠ `4th`);
/// - **names**: every capitalised word inside a sentence (a name: `France`, `PAN`, `Kathmandu`)
///   appears on the other side too;
/// - **negation**: both or neither negated (`Can I …` ≠ `Can't I …`, `with` ≠ `without`);
/// - **wording**: aligned word by word, the two texts differ only in *light* words
///   (articles, present-tense auxiliaries, `I`/`you`/`my`/`your`, fillers such as `really`)
///   and in word forms (`learn`/`learning`); any other word added, dropped, swapped or moved
///   means a different question ("learn python" ≠ "learn java", "Does the moon…" ≠ "Why
///   does the moon…", "X beat Y" ≠ "Y beat X");
/// - **possessives**: a `my` or `your` dropped without another determiner in its place
///   (`the`, `a`, …) is another question ("…expect *my* confirmation mail?" ≠ "…expect
///   confirmation mail?"); `my` ↔ `your` ↔ `the` is fine.
///
/// The wording check is what makes the cache trustworthy on adversarial pairs, and what
/// limits its recall: measured figures are in docs/caching.md.
///
/// ```
/// use orchestra_cache::{Guard, Verdict};
///
/// let guard = Guard::default();
/// assert_eq!(
///     guard.check("What is the capital of France?", "What is the capital of Germany?"),
///     Verdict::DifferentNames
/// );
/// assert_eq!(guard.check("Is 7 prime?", "Is 9 prime?"), Verdict::DifferentNumbers);
/// assert_eq!(guard.check("Can I use it?", "Can't I use it?"), Verdict::Negation);
/// assert_eq!(guard.check("How do I learn python?", "How do I learn java?"), Verdict::Wording);
/// assert_eq!(guard.check("What is Rust?", "what is rust"), Verdict::Same);
/// assert_eq!(guard.check("How can I learn Python?", "How do you learn python"), Verdict::Same);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Guard {
    /// Require the same numbers.
    pub numbers: bool,
    /// Require the same names.
    pub names: bool,
    /// Require the same polarity.
    pub negation: bool,
    /// Require the same wording up to light words and word forms.
    pub wording: bool,
    /// With `wording`: how many words that matter one side may add (0, the default, allows
    /// none; 1 trades some precision for recall, see docs/caching.md).
    pub extra_words: usize,
    /// Require the words that matter which both sides share to come in the same order
    /// ("Bob beat Alice" ≠ "Alice beat Bob"). Implied by `wording`; useful without it.
    pub word_order: bool,
    /// At most this many words that matter may differ between the two sides (added,
    /// dropped or replaced, in any place; a replaced word counts twice: once per side).
    /// `None`: no limit. For an embedder that knows synonyms, instead of `wording`.
    pub changed_words: Option<usize>,
    /// Require the same question words (`how`, `why`, `when`, `where`, `who`, and
    /// `what`/`which` as one): "When did the Vikings reach America?" ≠ "Did the Vikings
    /// reach America?". Implied by `wording` except for `what`/`which`, which it treats as
    /// light.
    pub question: bool,
    /// Refuse a possessive (`my`, `your`) dropped without another determiner in its place.
    pub possessives: bool,
    /// When the words that matter differ at all (a reworded question), the similarity must
    /// also reach this: synonyms only when the model agrees strongly, while questions with
    /// the same words need only the cache's threshold. `None`: no extra bar.
    pub reworded_similarity: Option<f32>,
}

impl Default for Guard {
    fn default() -> Self {
        Self {
            numbers: true,
            names: true,
            negation: true,
            wording: true,
            extra_words: 0,
            word_order: true,
            changed_words: None,
            question: false,
            possessives: true,
            reworded_similarity: None,
        }
    }
}

impl Guard {
    /// No checks: the threshold alone decides (for measurements).
    pub const OFF: Guard = Guard {
        numbers: false,
        names: false,
        negation: false,
        wording: false,
        extra_words: 0,
        word_order: false,
        changed_words: None,
        question: false,
        possessives: false,
        reworded_similarity: None,
    };

    /// The checks that do not depend on exact wording: numbers, names, negation, question
    /// words and word order, with at most `changed_words` words that matter changed. For an
    /// embedder with real semantics, whose similarity already tells synonyms from other
    /// words.
    pub const fn semantic(changed_words: Option<usize>) -> Guard {
        Guard {
            numbers: true,
            names: true,
            negation: true,
            wording: false,
            extra_words: 0,
            word_order: true,
            changed_words,
            question: true,
            possessives: true,
            reworded_similarity: None,
        }
    }

    /// This guard with rewordings (any word that matters changed) served only at
    /// `similarity` or above; see [`reworded_similarity`](Self::reworded_similarity).
    pub const fn reworded_at(mut self, similarity: f32) -> Guard {
        self.reworded_similarity = Some(similarity);
        self
    }

    /// The most words that matter a candidate may differ by (multiset difference of the
    /// stemmed non-light words) for this guard to accept it, if it has such a limit: the
    /// index uses it to skip candidates the guard would refuse.
    pub(crate) fn word_budget(&self) -> Option<usize> {
        // `wording` accepts only insertions, at most `extra_words` of them.
        let wording = self.wording.then_some(self.extra_words);
        match (wording, self.changed_words) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Compares two questions (without [`reworded_similarity`](Self::reworded_similarity);
    /// see [`check_at`](Self::check_at)).
    pub fn check(&self, a: &str, b: &str) -> Verdict {
        self.compare(&Signature::of(a), &Signature::of(b))
    }

    /// Compares two questions whose embeddings have `similarity`.
    ///
    /// ```
    /// use orchestra_cache::{Guard, Verdict};
    ///
    /// let guard = Guard::semantic(Some(2)).reworded_at(0.95);
    /// let (a, b) = ("How do I learn Python?", "How do I study Python?");
    /// assert_eq!(guard.check_at(a, b, 0.9), Verdict::Reworded);
    /// assert_eq!(guard.check_at(a, b, 0.96), Verdict::Same);
    /// assert_eq!(guard.check_at(a, "how can I learn python", 0.9), Verdict::Same);
    /// ```
    pub fn check_at(&self, a: &str, b: &str, similarity: f32) -> Verdict {
        self.judge(&Signature::of(a), &Signature::of(b), similarity)
    }

    /// [`compare`](Self::compare), then the bar for rewordings.
    pub(crate) fn judge(&self, a: &Signature, b: &Signature, similarity: f32) -> Verdict {
        match self.compare(a, b) {
            Verdict::Same
                if self
                    .reworded_similarity
                    .is_some_and(|bar| similarity < bar && a.heavy != b.heavy) =>
            {
                Verdict::Reworded
            }
            verdict => verdict,
        }
    }

    /// Compares two precomputed signatures.
    pub(crate) fn compare(&self, a: &Signature, b: &Signature) -> Verdict {
        if self.numbers && a.numbers != b.numbers {
            return Verdict::DifferentNumbers;
        }
        if self.negation && a.negated != b.negated {
            return Verdict::Negation;
        }
        if self.question && a.asks != b.asks {
            return Verdict::Wording;
        }
        if self.names
            && (a.names.iter().any(|name| !b.mentions(name))
                || b.names.iter().any(|name| !a.mentions(name)))
        {
            return Verdict::DifferentNames;
        }
        if self.wording && !within_additions(&a.heavy, &b.heavy, self.extra_words) {
            return Verdict::Wording;
        }
        if self.word_order && !shared_in_order(&a.heavy, &b.heavy) {
            return Verdict::Wording;
        }
        if let Some(limit) = self.changed_words
            && changed(&a.heavy, &b.heavy) > limit
        {
            return Verdict::Wording;
        }
        if self.possessives && (a.drops_possessive(b) || b.drops_possessive(a)) {
            return Verdict::Wording;
        }
        Verdict::Same
    }
}

/// The guard's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// No check objected.
    Same,
    /// The numbers differ.
    DifferentNumbers,
    /// A name appears on one side only.
    DifferentNames,
    /// One side is negated.
    Negation,
    /// A word that matters was added, dropped, swapped or moved.
    Wording,
    /// Reworded, and the similarity is below the guard's bar for rewordings.
    Reworded,
}

impl Verdict {
    /// `same`, `different_numbers`, `different_names`, `negation`, `wording` or `reworded`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Same => "same",
            Verdict::DifferentNumbers => "different_numbers",
            Verdict::DifferentNames => "different_names",
            Verdict::Negation => "negation",
            Verdict::Wording => "wording",
            Verdict::Reworded => "reworded",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the guard looks at in one text, computed once per cached entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Signature {
    /// Numbers, sorted.
    numbers: Vec<String>,
    /// An odd number of negations.
    negated: bool,
    /// The question words, one per kind (`which` counts as `what`), sorted.
    asks: Vec<&'static str>,
    /// Capitalised words inside a sentence, lowercased.
    names: Vec<String>,
    /// Every token (words, numbers, symbols), lowercased, in order.
    words: Vec<String>,
    /// The words that are not light, stemmed, in order: the wording check.
    heavy: Vec<String>,
    /// Hashes of `heavy`, sorted (repeats kept): the index's word pre-filter.
    pub(crate) heavy_hashes: Vec<u64>,
    /// How many possessive determiners (`my`, `your`).
    possessives: usize,
    /// How many light determiners (possessives included).
    determiners: usize,
}

impl Signature {
    pub(crate) fn of(text: &str) -> Self {
        let tokens = tokens(text);
        let mut signature = Signature::default();
        let mut negations = 0usize;
        for token in &tokens {
            if token.number {
                signature.numbers.push(token.text.clone());
            } else if is_negation(&token.text) {
                negations += 1;
            } else if !token.symbol
                && !is_stopword(&token.text)
                && token.capitalised
                && !token.sentence_start
            {
                signature.names.push(token.text.clone());
            }
            if let Some(kind) = question_kind(&token.text) {
                signature.asks.push(kind);
            }
            if !is_light(&token.text) {
                signature.heavy.push(stem(&token.text));
            }
            signature.possessives += usize::from(is_possessive(&token.text));
            signature.determiners += usize::from(is_determiner(&token.text));
            signature.words.push(token.text.clone());
        }
        signature.numbers.sort();
        signature.negated = negations % 2 == 1;
        signature.asks.sort_unstable();
        signature.asks.dedup();
        signature.names.sort();
        signature.names.dedup();
        signature.heavy_hashes = signature.heavy.iter().map(|word| word_hash(word)).collect();
        signature.heavy_hashes.sort_unstable();
        signature
    }

    /// A hash of `scope` and the words that matter: questions the wording check can accept
    /// share it.
    pub(crate) fn form_hash(&self, scope: u64) -> u64 {
        let mut text = scope.to_le_bytes().to_vec();
        for word in &self.heavy {
            text.extend_from_slice(word.as_bytes());
            text.push(0);
        }
        xxhash_rust::xxh3::xxh3_64(&text)
    }

    /// Whether this text has a possessive that `other` drops without putting another
    /// determiner in its place (more possessives here, and more determiners in all).
    fn drops_possessive(&self, other: &Signature) -> bool {
        self.possessives > other.possessives && self.determiners > other.determiners
    }

    /// Whether `name` occurs as a word here, in any case.
    fn mentions(&self, name: &str) -> bool {
        self.words.iter().any(|word| same_stem(word, name))
    }
}

/// The hash of a stemmed word in [`Signature::heavy_hashes`].
pub(crate) fn word_hash(word: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(word.as_bytes())
}

/// [`changed`] on sorted hashes: how many words are in one multiset and not the other.
/// Equal words have equal hashes, so this is never more than [`changed`] of the words.
pub(crate) fn changed_hashes(a: &[u64], b: &[u64]) -> usize {
    let (mut i, mut j, mut common) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    a.len() + b.len() - 2 * common
}

/// Whether one sequence is the other with at most `extra` items inserted.
fn within_additions(a: &[String], b: &[String], extra: usize) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > extra {
        return false;
    }
    let mut rest = long.iter();
    short.iter().all(|word| rest.any(|other| other == word))
}

/// The kind of question a word asks, if it is a question word.
fn question_kind(word: &str) -> Option<&'static str> {
    match word {
        "how" => Some("how"),
        "why" => Some("why"),
        "what" | "whats" | "which" => Some("what"),
        "when" => Some("when"),
        "where" => Some("where"),
        "who" | "whom" | "whose" => Some("who"),
        _ => None,
    }
}

/// Counts of each word.
fn counts(words: &[String]) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for word in words {
        *counts.entry(word.as_str()).or_insert(0) += 1;
    }
    counts
}

/// `words` keeping only as many occurrences of each word as `other` has.
fn shared<'a>(words: &'a [String], other: &HashMap<&str, usize>) -> Vec<&'a str> {
    let mut used: HashMap<&str, usize> = HashMap::new();
    words
        .iter()
        .filter(|word| {
            let seen = used.entry(word.as_str()).or_insert(0);
            *seen += 1;
            *seen <= other.get(word.as_str()).copied().unwrap_or(0)
        })
        .map(String::as_str)
        .collect()
}

/// Whether the words both sequences share come in the same order in both.
fn shared_in_order(a: &[String], b: &[String]) -> bool {
    shared(a, &counts(b)) == shared(b, &counts(a))
}

/// How many words are in one sequence and not the other (multiset symmetric difference).
fn changed(a: &[String], b: &[String]) -> usize {
    let common = shared(a, &counts(b)).len();
    a.len() + b.len() - 2 * common
}

/// Whether two words are forms of one word (`learn`, `learning`, `learned`; `country`,
/// `countries`; `use`, `used`), by a small suffix-stripping stemmer.
fn same_stem(a: &str, b: &str) -> bool {
    a == b || stem(a) == stem(b)
}

fn stem(word: &str) -> String {
    let mut stem = word.to_owned();
    if stem.chars().count() <= 3 {
        if stem.len() == 3 && stem.ends_with('e') {
            stem.pop(); // use → us, like used → us
        }
        return stem;
    }
    for (suffix, replacement) in [
        ("ations", "ate"),
        ("ation", "ate"),
        ("ings", ""),
        ("ing", ""),
        ("ies", "y"),
        ("ied", "y"),
        ("edly", ""),
        ("ed", ""),
        ("ly", ""),
        ("ers", ""),
        ("er", ""),
    ] {
        if let Some(base) = stem.strip_suffix(suffix)
            && base.chars().count() >= 2
        {
            stem = format!("{base}{replacement}");
            break;
        }
    }
    if let Some(base) = stem.strip_suffix("es")
        && ["x", "ch", "sh", "ss", "z"]
            .iter()
            .any(|end| base.ends_with(end))
    {
        stem = base.to_owned();
    } else if stem.ends_with('s') && !stem.ends_with("ss") && stem.chars().count() > 3 {
        stem.pop();
    }
    // running → runn → run
    let bytes = stem.as_bytes();
    if bytes.len() >= 4
        && bytes[bytes.len() - 1] == bytes[bytes.len() - 2]
        && !b"aeiouls".contains(&bytes[bytes.len() - 1])
    {
        stem.pop();
    }
    // use / used / using → us
    if stem.len() > 3 && stem.ends_with('e') {
        stem.pop();
    }
    stem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_forms_are_the_same_stem() {
        assert!(same_stem("learn", "learning"));
        assert!(same_stem("country", "countries"));
        assert!(same_stem("use", "used"));
        assert!(same_stem("run", "running"));
        assert!(same_stem("box", "boxes"));
        assert!(!same_stem("france", "french"));
        assert!(!same_stem("java", "javascript"));
    }

    #[test]
    fn the_semantic_guard_allows_rewording_but_not_swaps_or_many_changes() {
        let guard = Guard::semantic(Some(2));
        // One word replaced (2 changes): allowed, unlike with the default guard.
        assert_eq!(
            guard.check("How do I learn Python?", "How do I study Python?"),
            Verdict::Same
        );
        assert_eq!(
            Guard::default().check("How do I learn Python?", "How do I study Python?"),
            Verdict::Wording
        );
        // Shared words in another order: refused whatever the budget.
        assert_eq!(
            Guard::semantic(None).check("Bob beat Alice in 2019 .", "Alice beat Bob in 2019 ."),
            Verdict::Wording
        );
        // Two words replaced (4 changes) exceed 2.
        assert_eq!(
            guard.check(
                "How do I learn Python quickly?",
                "How do I study Python fast?"
            ),
            Verdict::Wording
        );
        // A question word added or changed is another question.
        assert_eq!(
            guard.check(
                "When did the Vikings discover America?",
                "Did the Vikings discover America?"
            ),
            Verdict::Wording
        );
        assert_eq!(
            guard.check("What is the best phone?", "Which is the best phone?"),
            Verdict::Same
        );
        // Numbers, names and negation still count.
        assert_eq!(
            Guard::semantic(None).check("Is 7 prime?", "Is 9 prime?"),
            Verdict::DifferentNumbers
        );
        assert_eq!(
            Guard::semantic(None).check("Can I use it?", "Can't I use it?"),
            Verdict::Negation
        );
        assert_eq!(changed(&words("a b c"), &words("a x c")), 2);
        assert_eq!(changed(&words("a b b"), &words("b a")), 1);
        assert!(shared_in_order(&words("a x b c"), &words("a b y c")));
        assert!(!shared_in_order(&words("a b c"), &words("a c b")));
    }

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn near_misses_are_caught() {
        let guard = Guard::default();
        assert_eq!(
            guard.check(
                "Can I deposit Rs. 50000 without a PAN card?",
                "Can I deposit rs. 240000 without a PAN card?"
            ),
            Verdict::DifferentNumbers
        );
        assert_eq!(
            guard.check(
                "How long does allergy season last in North America?",
                "How long does allergy season last in South America?"
            ),
            Verdict::DifferentNames
        );
        assert_eq!(
            guard.check("How do I learn python?", "How do I learn java?"),
            Verdict::Wording
        );
        assert_eq!(
            guard.check(
                "Does the moon revolve around the sun?",
                "Why does the moon revolve around the sun?"
            ),
            Verdict::Wording
        );
        assert_eq!(
            guard.check(
                "What is the difference between C and C++?",
                "What is the difference between C and C#?"
            ),
            Verdict::Wording
        );
        assert_eq!(
            guard.check("Bob beat Alice in 2019 .", "Alice beat Bob in 2019 ."),
            Verdict::Wording
        );
        assert_eq!(
            guard.check("How do I learn Python?", "How can I learn python?"),
            Verdict::Same
        );
        assert_eq!(
            guard.check("How do I learn Python?", "How can I learn python quickly?"),
            Verdict::Wording
        );
    }

    #[test]
    fn a_possessive_may_be_replaced_but_not_dropped() {
        for guard in [Guard::default(), Guard::semantic(Some(2))] {
            assert_eq!(
                guard.check(
                    "When can I expect my Cognizant confirmation mail?",
                    "When can I expect Cognizant confirmation mail?"
                ),
                Verdict::Wording
            );
            assert_eq!(
                guard.check(
                    "How can I find my lost phone?",
                    "How do I find a lost phone?"
                ),
                Verdict::Same
            );
            assert_eq!(
                guard.check(
                    "How do you recover your Gmail password?",
                    "How do I recover my Gmail password?"
                ),
                Verdict::Same
            );
        }
        let off = Guard {
            possessives: false,
            ..Guard::default()
        };
        assert_eq!(
            off.check("Where is my car?", "Where is car?"),
            Verdict::Same
        );
    }

    #[test]
    fn rewordings_need_the_higher_bar_and_same_words_do_not() {
        let guard = Guard::semantic(Some(2)).reworded_at(0.95);
        let (a, b) = ("How do I learn Python?", "How do I study Python?");
        assert_eq!(guard.check_at(a, b, 0.94), Verdict::Reworded);
        assert_eq!(guard.check_at(a, b, 0.95), Verdict::Same);
        assert_eq!(
            guard.check_at("How do I learn Python?", "How can I learn python", 0.5),
            Verdict::Same
        );
        // The other checks come first.
        assert_eq!(
            guard.check_at("Is 7 prime?", "Is 9 prime?", 0.99),
            Verdict::DifferentNumbers
        );
        assert_eq!(Guard::default().check_at(a, b, 0.99), Verdict::Wording);
    }
}
