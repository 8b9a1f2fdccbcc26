//! Response decoding: `parse_completion` and the wire types never panic on any body, and an
//! answer always has a choice; an error is typed and says something.
//!
//! Input: `[status pick, body…]`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orchestra_core::ErrorKind;
use orchestra_fuzz::Mapper;
use orchestra_openai_compat::{
    ErrorMapper, Failure, parse_completion,
    wire::{Chunk, ErrorEnvelope},
};
use reqwest::header::HeaderMap;

const STATUSES: [u16; 8] = [200, 201, 400, 402, 429, 500, 503, 524];

fuzz_target!(|data: &[u8]| {
    let [pick, body @ ..] = data else {
        return;
    };
    let status = STATUSES[usize::from(*pick) % STATUSES.len()];
    let headers = HeaderMap::new();
    match parse_completion(
        body,
        status,
        &headers,
        &Mapper,
        Some("fuzz/model"),
        Some("gen-fallback".into()),
    ) {
        Ok(answer) => {
            assert!(!answer.choices.is_empty(), "an answer without choices");
            assert_eq!(answer.provider, "fuzz");
            assert!(!answer.id.is_empty());
        }
        Err(error) => {
            assert!(!error.to_string().is_empty());
            if error.kind() == ErrorKind::Decode {
                assert_eq!(error.provider(), Some("fuzz"));
            }
        }
    }
    // The other ways a body is read: a stream chunk, and an error response.
    let _ = serde_json::from_slice::<Chunk>(body);
    let _ = serde_json::from_slice::<ErrorEnvelope>(body);
    let error = Mapper.map(Failure::response(status, &headers, body, None));
    assert!(!error.to_string().is_empty());
});
