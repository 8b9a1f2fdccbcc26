//! Model patterns: a model id in which `*` matches any text.

/// Whether `model` matches `pattern`, where `*` matches any run of characters (including
/// `/` and the empty string) and everything else matches itself.
pub(crate) fn matches(pattern: &str, model: &str) -> bool {
    // Called several times per admitted request: no allocation.
    let Some((first, tail)) = pattern.split_once('*') else {
        // No `*`: the whole model must equal the pattern.
        return pattern == model;
    };
    let Some(mut rest) = model.strip_prefix(first) else {
        return false;
    };
    let (middle, last) = match tail.rsplit_once('*') {
        Some((middle, last)) => (Some(middle), last),
        None => (None, tail),
    };
    for part in middle.into_iter().flat_map(|middle| middle.split('*')) {
        match rest.find(part) {
            Some(index) => rest = &rest[index + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs_match_like_shell_stars() {
        assert!(matches("*:free", "google/gemini-2.5-flash:free"));
        assert!(!matches("*:free", "google/gemini-2.5-flash"));
        assert!(matches("openai/*", "openai/gpt-4o"));
        assert!(!matches("openai/*", "anthropic/claude"));
        assert!(matches("*", "anything/at:all"));
        assert!(matches("*", ""));
        assert!(matches("openai/gpt-4o", "openai/gpt-4o"));
        assert!(!matches("openai/gpt-4o", "openai/gpt-4o-mini"));
        assert!(matches("a*b*c", "a-x-b-y-c"));
        assert!(!matches("a*b*c", "a-x-c-y-b"));
        assert!(matches("*gpt*", "openai/gpt-4o"));
        assert!(!matches("ab*ba", "aba"));
        assert!(matches("", ""));
        assert!(!matches("", "a"));
        assert!(matches("a**b", "ab"));
        assert!(matches("*a*", "a"));
        assert!(!matches("*a*", "b"));
        assert!(matches("a*b*c*d", "abcd"));
        assert!(!matches("a*b*c*d", "abdc"));
    }
}
