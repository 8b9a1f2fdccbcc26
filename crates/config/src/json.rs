//! JSON-valued variables: parse with serde_json, report the position and a masked snippet.

use serde::de::DeserializeOwned;

use crate::error::Problem;

/// Widest snippet line shown, in characters.
const SNIPPET_WIDTH: usize = 72;

/// Parses `text` as `T`, or explains where and why it is not.
///
/// `known_secrets` are masked in the snippet wherever they appear, on top of the string
/// values of keys that look secret (`api_key`, `virtual_key`, `Authorization`, …).
pub(crate) fn parse<T: DeserializeOwned>(text: &str, known_secrets: &[&str]) -> Result<T, Problem> {
    serde_json::from_str(text).map_err(|error| {
        let line = error.line();
        let column = error.column();
        let mut message = error.to_string();
        if let Some(position) = message.rfind(" at line ") {
            message.truncate(position);
        }
        Problem::InvalidJson {
            snippet: snippet(text, line, column, known_secrets),
            message,
            line,
            column,
        }
    })
}

/// The line `line` of `text` (secrets masked), cut to a window around `column`, with a caret.
fn snippet(text: &str, line: usize, column: usize, known_secrets: &[&str]) -> String {
    if line == 0 {
        return String::new();
    }
    let masked = mask_secrets(text, known_secrets);
    let Some(source_line) = masked.lines().nth(line - 1) else {
        return String::new();
    };
    let chars: Vec<char> = source_line.chars().collect();
    // serde_json counts columns in bytes; masking keeps characters in place, so convert the
    // byte column of the original line into a character index.
    let original_line = text.lines().nth(line - 1).unwrap_or_default();
    let byte_column = column.saturating_sub(1).min(original_line.len());
    let mut boundary = byte_column;
    while !original_line.is_char_boundary(boundary) {
        boundary -= 1;
    }
    let caret = original_line[..boundary].chars().count();

    let start = caret.saturating_sub(SNIPPET_WIDTH / 2);
    let end = (start + SNIPPET_WIDTH).min(chars.len());
    let start = end.saturating_sub(SNIPPET_WIDTH).min(start);
    let mut shown: String = chars[start..end].iter().collect();
    let mut caret_offset = caret - start;
    if start > 0 {
        shown.insert(0, '…');
        caret_offset += 1;
    }
    if end < chars.len() {
        shown.push('…');
    }
    let shown = shown.replace('\t', " ");
    format!("{shown}\n{}^", " ".repeat(caret_offset))
}

/// Replaces the characters of secret-looking string values with `*`, keeping every other
/// character where it was so positions stay valid.
pub(crate) fn mask_secrets(text: &str, known_secrets: &[&str]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let mut index = 0;
    while index < chars.len() {
        if chars[index] != '"' {
            index += 1;
            continue;
        }
        let (key, after_key) = read_string(&chars, index);
        index = after_key;
        if !is_secret_key(&key) {
            continue;
        }
        let mut cursor = after_key;
        while cursor < chars.len() && chars[cursor].is_whitespace() {
            cursor += 1;
        }
        if chars.get(cursor) != Some(&':') {
            continue;
        }
        cursor += 1;
        while cursor < chars.len() && chars[cursor].is_whitespace() {
            cursor += 1;
        }
        if chars.get(cursor) != Some(&'"') {
            continue;
        }
        let (_, after_value) = read_string(&chars, cursor);
        let value_end = if chars.get(after_value - 1) == Some(&'"') && after_value - 1 > cursor {
            after_value - 1
        } else {
            after_value
        };
        for c in &mut chars[cursor + 1..value_end] {
            if *c != '\n' {
                *c = '*';
            }
        }
        index = after_value;
    }
    let mut masked: String = chars.into_iter().collect();
    for secret in known_secrets.iter().filter(|secret| secret.len() >= 4) {
        masked = masked.replace(secret, &"*".repeat(secret.chars().count()));
    }
    masked
}

/// Reads the JSON string starting at `start` (a quote); returns its text and the index just
/// past its closing quote (or the end of input when unterminated).
fn read_string(chars: &[char], start: usize) -> (String, usize) {
    let mut text = String::new();
    let mut index = start + 1;
    while index < chars.len() {
        match chars[index] {
            '\\' => {
                if let Some(next) = chars.get(index + 1) {
                    text.push(*next);
                }
                index += 2;
            }
            '"' => return (text, index + 1),
            '\n' => return (text, index),
            c => {
                text.push(c);
                index += 1;
            }
        }
    }
    (text, chars.len())
}

/// Key names whose values are credentials.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["key", "token", "secret", "auth", "password", "cookie"]
        .iter()
        .any(|marker| key.contains(marker))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn problem(text: &str) -> Problem {
        parse::<Value>(text, &[]).unwrap_err()
    }

    #[test]
    fn reports_line_column_and_caret() {
        let text = r#"[{"provider":"openrouter","model":"a/b","weight":70} {"provider":"groq"}]"#;
        let Problem::InvalidJson {
            message,
            line,
            column,
            snippet,
        } = problem(text)
        else {
            panic!("expected a JSON problem");
        };
        assert_eq!(message, "expected `,` or `]`");
        assert_eq!((line, column), (1, 54));
        let caret_line = snippet.lines().nth(1).unwrap();
        let shown_line = snippet.lines().next().unwrap();
        let caret_at = caret_line.len() - 1;
        assert_eq!(shown_line.chars().nth(caret_at), Some('{'));
    }

    #[test]
    fn secrets_are_masked_in_snippets() {
        let text = r#"[{"provider":"openai","api_key":"sk-live-123456" "model":"gpt-4o"}]"#;
        let Problem::InvalidJson { snippet, .. } = problem(text) else {
            panic!("expected a JSON problem");
        };
        assert!(!snippet.contains("sk-live"), "{snippet}");
        assert!(
            snippet.contains(r#""api_key":"**************""#),
            "{snippet}"
        );
    }

    #[test]
    fn known_secrets_are_masked_anywhere() {
        let masked = mask_secrets(r#"{"x": "abc sk-or-v1-zzz"}"#, &["sk-or-v1-zzz"]);
        assert_eq!(masked, r#"{"x": "abc ************"}"#);
    }

    #[test]
    fn long_lines_are_windowed_around_the_error() {
        let text = format!("[{} nope]", "\"a\",".repeat(60));
        let Problem::InvalidJson { snippet, .. } = problem(&text) else {
            panic!("expected a JSON problem");
        };
        let shown = snippet.lines().next().unwrap();
        assert!(shown.starts_with('…'), "{shown}");
        assert!(shown.chars().count() <= SNIPPET_WIDTH + 2);
        let caret_at = snippet.lines().nth(1).unwrap().chars().count() - 1;
        // serde_json stops at the second letter of the bad literal `nope`.
        assert_eq!(shown.chars().nth(caret_at), Some('o'));
    }

    #[test]
    fn multi_byte_text_keeps_the_caret_aligned() {
        let text = r#"{"é": "ü" "x": 1}"#;
        let Problem::InvalidJson { snippet, .. } = problem(text) else {
            panic!("expected a JSON problem");
        };
        let shown = snippet.lines().next().unwrap();
        let caret_at = snippet.lines().nth(1).unwrap().chars().count() - 1;
        assert_eq!(shown.chars().nth(caret_at), Some('"'));
    }
}
