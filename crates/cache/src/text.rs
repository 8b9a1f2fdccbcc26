//! Tokenising for the offline embedder and the near-miss guard.

/// One token of a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    /// Lowercased; apostrophes dropped (`don't` → `dont`); numbers without group separators.
    pub(crate) text: String,
    /// Whether the original started with an upper-case letter.
    pub(crate) capitalised: bool,
    /// Whether it is a number (`42`, `3.5`, `50,000`).
    pub(crate) number: bool,
    /// Whether it starts a sentence (first token, or after `.`, `?`, `!`, `:`).
    pub(crate) sentence_start: bool,
    /// Whether it is a run of symbols (`++`, `#`, `/=`) rather than a word.
    pub(crate) symbol: bool,
}

/// Characters that carry meaning in questions about code, maths and money. Sentence
/// punctuation (`.,?!:;'"()-`) is not among them.
fn is_symbol(c: char) -> bool {
    matches!(
        c,
        '+' | '#'
            | '/'
            | '='
            | '['
            | ']'
            | '{'
            | '}'
            | '<'
            | '>'
            | '*'
            | '&'
            | '%'
            | '$'
            | '@'
            | '^'
            | '|'
            | '~'
            | '€'
            | '£'
            | '¥'
    )
}

/// Splits `text` into word and number tokens.
///
/// ```text
/// "Can I deposit Rs. 50,000 without a PAN card?" → can i deposit rs 50000 without a pan card
/// ```
pub(crate) fn tokens(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut sentence_start = true;
    while i < chars.len() {
        let c = chars[i];
        if !c.is_alphanumeric() {
            if matches!(c, '.' | '?' | '!' | ':' | ';') {
                sentence_start = true;
            }
            if is_symbol(c) {
                // `C++`, `C#`, `/=`, `[]`: symbols that change what is asked.
                let mut symbol = String::new();
                while i < chars.len() && is_symbol(chars[i]) {
                    symbol.push(chars[i]);
                    i += 1;
                }
                tokens.push(Token {
                    text: symbol,
                    capitalised: false,
                    number: false,
                    sentence_start: false,
                    symbol: true,
                });
                continue;
            }
            i += 1;
            continue;
        }
        let start = i;
        let mut word = String::new();
        let mut digits_only = true;
        while i < chars.len() {
            let c = chars[i];
            if c.is_alphanumeric() {
                digits_only &= c.is_ascii_digit();
                word.extend(c.to_lowercase());
                i += 1;
            } else if (c == '\'' || c == '’')
                && i + 1 < chars.len()
                && chars[i + 1].is_alphabetic()
                && !digits_only
            {
                // don't → dont, what's → whats
                i += 1;
            } else if (c == '.' || c == ',')
                && digits_only
                && i + 1 < chars.len()
                && chars[i + 1].is_ascii_digit()
            {
                // 3.5 stays 3.5; 50,000 → 50000
                if c == '.' {
                    word.push('.');
                }
                i += 1;
            } else {
                break;
            }
        }
        let capitalised = chars[start].is_uppercase();
        tokens.push(Token {
            number: digits_only || is_number_word(&word),
            text: word,
            capitalised,
            sentence_start,
            symbol: false,
        });
        sentence_start = false;
    }
    tokens
}

/// Number words that change an answer as much as digits do.
fn is_number_word(word: &str) -> bool {
    matches!(
        word,
        "zero"
            | "one"
            | "two"
            | "three"
            | "four"
            | "five"
            | "six"
            | "seven"
            | "eight"
            | "nine"
            | "ten"
            | "eleven"
            | "twelve"
            | "twenty"
            | "hundred"
            | "thousand"
            | "million"
            | "billion"
            | "first"
            | "second"
            | "third"
            | "fourth"
            | "fifth"
    ) || (word.len() > 2
        && word.as_bytes()[0].is_ascii_digit()
        && (word.ends_with("st")
            || word.ends_with("nd")
            || word.ends_with("rd")
            || word.ends_with("th")))
}

/// Words that carry little meaning on their own: weighted down by the embedder and ignored
/// by the guard's content-word check.
pub(crate) fn is_stopword(word: &str) -> bool {
    STOPWORDS.binary_search(&word).is_ok()
}

/// Words that reverse a statement.
pub(crate) fn is_negation(word: &str) -> bool {
    matches!(
        word,
        "not"
            | "no"
            | "never"
            | "nothing"
            | "nobody"
            | "non"
            | "none"
            | "neither"
            | "nor"
            | "without"
            | "cannot"
            | "cant"
            | "dont"
            | "doesnt"
            | "didnt"
            | "isnt"
            | "arent"
            | "wasnt"
            | "werent"
            | "wont"
            | "wouldnt"
            | "shouldnt"
            | "couldnt"
            | "hasnt"
            | "havent"
            | "hadnt"
            | "mustnt"
    )
}

/// Possessive determiners among the light words: `my` and `your` may replace each other or
/// another determiner, but not disappear ("When can I expect *my* confirmation mail?" asks
/// about one mail; "When can I expect confirmation mail?" about any).
pub(crate) fn is_possessive(word: &str) -> bool {
    matches!(word, "my" | "your")
}

/// The light words that open a noun phrase: articles, possessives, `some`, `any`.
pub(crate) fn is_determiner(word: &str) -> bool {
    matches!(word, "a" | "an" | "the" | "my" | "your" | "some" | "any")
}

/// Words whose presence, absence or exchange for another light word rarely changes what a
/// question asks: articles, present-tense auxiliaries, first/second person singular
/// pronouns, fillers. Chosen by grammar, not fitted to the evaluation data. Sorted.
const LIGHT: &[&str] = &[
    "a",
    "actually",
    "am",
    "an",
    "any",
    "are",
    "basically",
    "be",
    "can",
    "could",
    "do",
    "does",
    "ever",
    "exactly",
    "i",
    "is",
    "just",
    "me",
    "my",
    "of",
    "please",
    "possibly",
    "really",
    "so",
    "some",
    "that",
    "the",
    "to",
    "very",
    "what",
    "whats",
    "which",
    "would",
    "you",
    "your",
];

/// Whether `word` is light (see [`LIGHT`]).
pub(crate) fn is_light(word: &str) -> bool {
    LIGHT.binary_search(&word).is_ok()
}

/// Sorted, for binary search.
const STOPWORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as",
    "at", "be", "because", "been", "before", "being", "between", "both", "but", "by", "can",
    "could", "did", "do", "does", "doing", "during", "each", "for", "from", "further", "get",
    "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "i", "if",
    "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "of", "off",
    "on", "once", "only", "or", "other", "our", "ours", "out", "over", "own", "s", "same", "she",
    "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "then",
    "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up",
    "very", "was", "we", "were", "what", "whats", "when", "where", "which", "while", "who", "whom",
    "why", "will", "with", "would", "you", "your", "yours",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<String> {
        tokens(text).into_iter().map(|token| token.text).collect()
    }

    #[test]
    fn word_lists_are_sorted() {
        assert!(STOPWORDS.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(LIGHT.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn splits_words_and_numbers() {
        assert_eq!(
            texts("Can I deposit Rs. 50,000 without a PAN card? Don't!"),
            [
                "can", "i", "deposit", "rs", "50000", "without", "a", "pan", "card", "dont"
            ]
        );
        assert_eq!(texts("Version 3.5, or 2?"), ["version", "3.5", "or", "2"]);
        let tokens = tokens("Is Paris big? Berlin is.");
        assert!(tokens[0].sentence_start && tokens[0].capitalised);
        assert!(!tokens[1].sentence_start && tokens[1].capitalised);
        assert!(tokens[3].sentence_start);
        assert!(super::tokens("the 21st century")[1].number);
        assert_eq!(
            texts("C++ or C#, a /= b?"),
            ["c", "++", "or", "c", "#", "a", "/=", "b"]
        );
    }
}
