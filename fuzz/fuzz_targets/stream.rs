//! The stream driver (`stream_response`): whatever the body, a stream ends exactly once,
//! in success or one typed error that is its last item; the observer hears the same; the
//! partial text on the error is the text delivered; and a body read in arbitrary pieces
//! gives the same items as read whole.
//!
//! Input: `[flags, split seed, body…]`; flag bit 0 sends the body as `application/json`.

#![no_main]

use std::{convert::Infallible, sync::Arc};

use futures_util::StreamExt;
use libfuzzer_sys::fuzz_target;
use orchestra_core::{Error, StreamEvent};
use orchestra_fuzz::{Endings, Mapper, runtime, split};
use orchestra_openai_compat::{StreamSetup, stream_response};

fn run(pieces: Vec<Vec<u8>>, json: bool) -> (Vec<Result<StreamEvent, Error>>, Endings) {
    let chunks = futures_util::stream::iter(pieces.into_iter().map(Ok::<_, Infallible>));
    let content_type = if json {
        "application/json"
    } else {
        "text/event-stream"
    };
    let response = http::Response::builder()
        .status(200)
        .header("content-type", content_type)
        .body(reqwest::Body::wrap_stream(chunks))
        .expect("a valid response");
    let response = reqwest::Response::from(response);
    let endings = Endings::default();
    let items = runtime().block_on(async {
        let stream = stream_response(
            response,
            Arc::new(Mapper),
            Box::new(endings.clone()),
            StreamSetup::new(Some("fuzz/model".into())),
        )
        .await;
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(error) => return vec![Err(error)],
        };
        let mut items = Vec::new();
        while let Some(item) = stream.next().await {
            let failed = item.is_err();
            items.push(item);
            if failed {
                assert!(stream.next().await.is_none(), "an item after the error");
                break;
            }
        }
        assert!(
            stream.next().await.is_none(),
            "the stream went on after its end"
        );
        items
    });
    (items, endings)
}

/// Items as comparable text.
fn summary(items: &[Result<StreamEvent, Error>]) -> Vec<String> {
    items
        .iter()
        .map(|item| match item {
            Ok(event) => format!("{event:?}"),
            Err(error) => format!(
                "error {:?}: {error} / {:?}",
                error.kind(),
                error.partial_content()
            ),
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let [flags, seed, body @ ..] = data else {
        return;
    };
    let json = flags & 1 == 1;
    let (items, endings) = run(vec![body.to_vec()], json);
    let pieces = split(*seed, body).into_iter().map(<[u8]>::to_vec).collect();
    let (items_in_pieces, _) = run(pieces, json);
    assert_eq!(
        summary(&items),
        summary(&items_in_pieces),
        "pieces disagree with the whole body"
    );

    let heard = endings.heard();
    assert_eq!(heard.len(), 1, "the observer heard {heard:?}");
    let text: String = items
        .iter()
        .filter_map(|item| match item {
            Ok(StreamEvent::ContentDelta { choice: 0, text }) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    match items.last() {
        Some(Err(error)) => {
            assert_eq!(heard[0], Err(error.kind()));
            assert!(items[..items.len() - 1].iter().all(Result::is_ok));
            assert!(!error.to_string().is_empty());
            if !text.is_empty() {
                assert_eq!(error.partial_content(), Some(text.as_str()), "{error}");
            }
        }
        _ => {
            assert_eq!(heard[0], Ok(()), "a clean end heard as {:?}", heard[0]);
            assert!(
                items
                    .iter()
                    .any(|item| matches!(item, Ok(StreamEvent::Finish { .. }))),
                "a clean end without a finish"
            );
        }
    }
});
