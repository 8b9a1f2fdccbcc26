//! Cache keys: what makes two requests the same.

use orchestra_core::{ChatRequest, Content, Message, Role};
use serde_json::{Map, Value};
use xxhash_rust::xxh3::xxh3_128;

/// Bumped whenever the key layout changes, so old shared entries are never misread.
const KEY_VERSION: &str = "orchestra-cache/v1";

/// The keys of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RequestKeys {
    /// Hash of the whole normalised request: the exact tier.
    pub(crate) exact: u128,
    /// Hash of everything but the last user turn's text: the semantic tier's scope.
    pub(crate) scope: u64,
    /// The last user turn's text, when it is plain text (else no semantic tier).
    pub(crate) query: Option<String>,
}

impl RequestKeys {
    /// Computes the keys of `request` as sent to the provider named `provider`.
    ///
    /// Whitespace at the ends of every text is ignored, and runs of whitespace count as one
    /// space; everything else (case, parameters, tools, `extra` fields, the agent type, the
    /// end-user id) is part of the key.
    pub(crate) fn of(provider: &str, request: &ChatRequest) -> Self {
        let last_user = request
            .messages
            .iter()
            .rposition(|message| message.role == Role::User);
        let query = last_user.and_then(|index| {
            let message = &request.messages[index];
            let text_only = match &message.content {
                Some(Content::Text(_)) => true,
                Some(Content::Parts(parts)) => parts
                    .iter()
                    .all(|part| matches!(part, orchestra_core::ContentPart::Text { .. })),
                _ => false,
            };
            text_only.then(|| normalise_text(&message.text().unwrap_or_default()))
        });
        let query = query.filter(|text| !text.is_empty());

        let exact_value = canonical(provider, request, None);
        let exact = xxh3_128(canonical_json(&exact_value).as_bytes());
        let scope_value = canonical(provider, request, last_user.filter(|_| query.is_some()));
        #[allow(clippy::cast_possible_truncation)] // the low 64 bits are the scope
        let scope = xxh3_128(canonical_json(&scope_value).as_bytes()) as u64;
        Self {
            exact,
            scope,
            query,
        }
    }
}

/// The request as a JSON value with normalised texts and sorted object keys
/// (`serde_json::Map` is a `BTreeMap` here), optionally with one message's content blanked.
fn canonical(provider: &str, request: &ChatRequest, blank: Option<usize>) -> Value {
    let messages: Vec<Value> = request
        .messages
        .iter()
        .enumerate()
        .map(|(index, message)| message_value(message, Some(index) == blank))
        .collect();
    let mut body = serde_json::to_value(request).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut body {
        map.insert("messages".to_owned(), Value::Array(messages));
        map.remove(crate::control::CONTROL_KEY);
    }
    let mut key = Map::new();
    key.insert("v".to_owned(), Value::from(KEY_VERSION));
    key.insert("provider".to_owned(), Value::from(provider));
    key.insert(
        "agent_type".to_owned(),
        request.agent_type.clone().map_or(Value::Null, Value::from),
    );
    key.insert("request".to_owned(), body);
    Value::Object(key)
}

fn message_value(message: &Message, blank: bool) -> Value {
    let mut value = serde_json::to_value(message).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        if blank {
            map.insert("content".to_owned(), Value::from("<query>"));
        } else if let Some(content) = map.get_mut("content") {
            normalise_content(content);
        }
    }
    value
}

fn normalise_content(content: &mut Value) {
    match content {
        Value::String(text) => *text = normalise_text(text),
        Value::Array(parts) => {
            for part in parts {
                if let Some(Value::String(text)) = part.get_mut("text") {
                    *text = normalise_text(text);
                }
            }
        }
        _ => {}
    }
}

/// JSON text with object keys sorted at every level, whatever order the map keeps.
fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (index, (key, value)) in entries.into_iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::from(key.as_str()).to_string());
                    out.push(':');
                    write(value, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// Trims and collapses whitespace runs to one space.
pub(crate) fn normalise_text(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use orchestra_core::{ResponseFormat, Tool};
    use serde_json::json;

    use super::*;

    fn base() -> ChatRequest {
        ChatRequest::new(vec![
            Message::system("Be brief."),
            Message::user("What is the capital of France?"),
        ])
        .model("openai/gpt-4o")
        .temperature(0.0)
    }

    #[test]
    fn whitespace_does_not_change_the_key_but_case_does() {
        let spaced = ChatRequest::new(vec![
            Message::system("  Be   brief. "),
            Message::user("What is the capital\nof France?  "),
        ])
        .model("openai/gpt-4o")
        .temperature(0.0);
        assert_eq!(RequestKeys::of("p", &base()), RequestKeys::of("p", &spaced));
        let upper = ChatRequest::new(vec![
            Message::system("Be brief."),
            Message::user("WHAT is the capital of France?"),
        ])
        .model("openai/gpt-4o")
        .temperature(0.0);
        let (a, b) = (RequestKeys::of("p", &base()), RequestKeys::of("p", &upper));
        assert_ne!(a.exact, b.exact);
        assert_eq!(a.scope, b.scope);
    }

    #[test]
    fn every_answer_changing_field_changes_exact_key_and_scope() {
        let keys = RequestKeys::of("p", &base());
        let variants = [
            base().model("openai/gpt-4o-mini"),
            base().temperature(0.7),
            base().max_tokens(10),
            base().top_p(0.5),
            base().seed(1),
            base().stop("\n"),
            base().agent_type("researcher"),
            base().user("alice"),
            base().response_format(ResponseFormat::JsonObject),
            base().tools(vec![Tool::function("f", "does f", json!({}))]),
            base().extra("reasoning", json!({"effort": "high"})),
            {
                let mut request = base();
                request.messages[0] = Message::system("Be verbose.");
                request
            },
            {
                let mut request = base();
                request.messages.insert(1, Message::user("Hi"));
                request.messages.insert(2, Message::assistant("Hello"));
                request
            },
        ];
        for variant in variants {
            let other = RequestKeys::of("p", &variant);
            assert_ne!(keys.exact, other.exact, "{variant:?}");
            assert_ne!(keys.scope, other.scope, "{variant:?}");
        }
        let other_provider = RequestKeys::of("q", &base());
        assert_ne!(keys.scope, other_provider.scope);
    }

    #[test]
    fn the_query_is_the_last_user_turn() {
        let keys = RequestKeys::of("p", &base());
        assert_eq!(
            keys.query.as_deref(),
            Some("What is the capital of France?")
        );
        let image = ChatRequest::new(vec![Message::user_parts(vec![
            orchestra_core::ContentPart::ImageUrl {
                image_url: orchestra_core::ImageUrl::new("https://example.com/a.png"),
            },
        ])]);
        assert_eq!(RequestKeys::of("p", &image).query, None);
    }
}
