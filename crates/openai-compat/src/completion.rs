//! Non-streaming answers: a bounded body read, and `chat.completion` JSON → [`ChatResponse`].

use bytes::Bytes;
use orchestra_core::{ChatResponse, Choice, Error, FinishReason};
use reqwest::header::HeaderMap;

use crate::{
    errors::{ErrorMapper, Failure},
    limits::describe,
    wire::{Completion, WireError, WireUsage},
};

/// Reads a response body up to `limit` bytes (providers pass
/// [`MAX_RESPONSE_BODY_BYTES`](crate::MAX_RESPONSE_BODY_BYTES) for answers and
/// [`MAX_ERROR_BODY_BYTES`](crate::MAX_ERROR_BODY_BYTES) for errors). With `truncate` (error
/// bodies) the rest is dropped; otherwise a larger body is a
/// [`Decode`](orchestra_core::ErrorKind::Decode) error naming the limit, raised before
/// reading when `Content-Length` already says so. Never holds more than `limit` bytes.
///
/// # Errors
///
/// A transport failure while reading, or a body over the limit.
pub async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
    truncate: bool,
    mapper: &dyn ErrorMapper,
    model: Option<&str>,
) -> Result<Bytes, Error> {
    let too_large = |announced: Option<u64>| {
        let size = announced.map_or_else(String::new, |bytes| format!(" ({bytes} bytes)"));
        mapper.decode(
            &format!(
                "the response body{size} exceeds the limit of {} for one response",
                describe(limit)
            ),
            None,
            model,
        )
    };
    let announced = response.content_length();
    if !truncate
        && let Some(length) = announced
        && usize::try_from(length).map_or(true, |length| length > limit)
    {
        return Err(too_large(Some(length)));
    }
    // Trust the announced length for the first MiB only: it is the server's word.
    let capacity = announced
        .and_then(|length| usize::try_from(length).ok())
        .unwrap_or(0)
        .min(limit)
        .min(1 << 20);
    let mut body = Vec::with_capacity(capacity);
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - body.len();
                if chunk.len() > room {
                    if truncate {
                        body.extend_from_slice(&chunk[..room]);
                        break;
                    }
                    return Err(too_large(None));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(error) => return Err(mapper.transport(error, model)),
        }
    }
    Ok(Bytes::from(body))
}

/// Maps a non-2xx response to an error, reading at most `limit` bytes of its body.
pub async fn error_from_response(
    response: reqwest::Response,
    limit: usize,
    mapper: &dyn ErrorMapper,
    model: Option<&str>,
) -> Error {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    match read_body(response, limit, true, mapper, model).await {
        Ok(body) => mapper.map(Failure::response(status, &headers, &body, model)),
        Err(error) => error,
    }
}

/// Turns a 2xx `chat.completion` body into a [`ChatResponse`] of `mapper.provider()`.
///
/// An `error` in the body, a choice that failed (`error` or `finish_reason: "error"`) and a
/// body without choices are errors, never an empty answer. The id is the body's, else
/// `fallback_id`; the model is the body's (the one that served), else `model`. The caller adds
/// attempts and latency.
///
/// # Errors
///
/// [`Decode`](orchestra_core::ErrorKind::Decode) for invalid JSON or no choices; the mapped
/// in-band error otherwise.
pub fn parse_completion(
    body: &[u8],
    status: u16,
    headers: &HeaderMap,
    mapper: &dyn ErrorMapper,
    model: Option<&str>,
    fallback_id: Option<String>,
) -> Result<ChatResponse, Error> {
    let completion: Completion = serde_json::from_slice(body).map_err(|error| {
        mapper.decode("the chat completion is not valid JSON", Some(error), model)
    })?;
    let in_body_failure =
        |error: &WireError| mapper.map(Failure::in_band(error, Some(status), Some(headers), model));
    if let Some(error) = &completion.error {
        return Err(in_body_failure(error));
    }
    let wire_choices = completion.choices.unwrap_or_default();
    if wire_choices.is_empty() {
        return Err(mapper.decode(
            "the chat completion has no choices and no error",
            None,
            model,
        ));
    }
    let mut choices = Vec::with_capacity(wire_choices.len());
    for (position, choice) in (0u32..).zip(wire_choices) {
        if choice.error.is_some() || choice.finish_reason.as_deref() == Some("error") {
            let error = choice.error.unwrap_or_else(|| WireError {
                message: Some(
                    "the provider failed mid-generation (finish_reason \"error\")".into(),
                ),
                ..WireError::default()
            });
            return Err(in_body_failure(&error));
        }
        let finish_reason = choice
            .finish_reason
            .filter(|reason| !reason.is_empty())
            .map(|reason| FinishReason::from(reason.as_str()));
        choices.push(Choice::new(
            choice.index.unwrap_or(position),
            choice.message.unwrap_or_default().into_message(),
            finish_reason,
        ));
    }
    let id = completion
        .id
        .filter(|id| !id.is_empty())
        .or(fallback_id)
        .unwrap_or_default();
    let served = completion
        .model
        .filter(|served| !served.is_empty())
        .or_else(|| model.map(str::to_owned))
        .unwrap_or_default();
    let mut response = ChatResponse::new(id, served, mapper.provider(), choices);
    response.upstream_provider = completion.provider;
    response.usage = completion.usage.map(WireUsage::into_usage);
    Ok(response)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use orchestra_core::{Error, ErrorKind};

    use super::*;

    struct Mapper;

    impl ErrorMapper for Mapper {
        fn provider(&self) -> &str {
            "test"
        }

        fn service(&self) -> &str {
            "the test server"
        }

        fn map(&self, _failure: Failure<'_>) -> Error {
            Error::new(ErrorKind::Server, "mapped")
        }
    }

    /// Found writing the `completion` fuzz target's properties: an empty `id` in the body
    /// hid the generation id of the response headers.
    #[test]
    fn an_empty_body_id_gives_way_to_the_header_id() {
        let body = br#"{"id":"","choices":[{}]}"#;
        let answer = parse_completion(
            body,
            200,
            &HeaderMap::new(),
            &Mapper,
            Some("m"),
            Some("gen-from-header".into()),
        )
        .unwrap();
        assert_eq!(answer.id, "gen-from-header");
        assert_eq!(answer.model, "m");
    }
}
