//! The bounds on everything an upstream sends us, in one place (see docs/reliability.md).
//!
//! An upstream that misbehaves (a broken proxy, a runaway model, a hostile server) must not
//! make us buffer without bound: each bound below turns "too much" into a typed
//! [`Decode`](orchestra_core::ErrorKind::Decode) error that names the limit.

/// Largest non-streaming response body a provider should read (64 MiB).
///
/// A long text answer is far smaller (128k tokens are about 0.5 MiB of JSON), but image
/// output models answer with base64 images inline, a few MiB each; 64 MiB keeps room for
/// those while capping what one request can hold. A larger body is a
/// [`Decode`](orchestra_core::ErrorKind::Decode) error from [`read_body`](crate::read_body).
pub const MAX_RESPONSE_BODY_BYTES: usize = 64 << 20;

/// Largest error body read (1 MiB); the rest is ignored (an error message is short).
pub const MAX_ERROR_BODY_BYTES: usize = 1 << 20;

/// Longest SSE line accepted (1 MiB); longer is a [`Decode`](orchestra_core::ErrorKind::Decode)
/// error. A chat chunk is a few hundred bytes, one whole tool call rarely more than some KiB.
pub const MAX_SSE_LINE_BYTES: usize = 1 << 20;

/// Largest SSE event accepted (1 MiB of `data`); larger is a
/// [`Decode`](orchestra_core::ErrorKind::Decode) error.
pub const MAX_SSE_EVENT_BYTES: usize = 1 << 20;

/// Most text one streamed answer may carry (content, reasoning and tool-call arguments of
/// every choice together): the same 64 MiB as a whole body, so streaming is no way around
/// [`MAX_RESPONSE_BODY_BYTES`]. The stream's own text so far is kept for
/// [`Error::partial_content`](orchestra_core::Error::partial_content), so this also bounds
/// what we hold.
pub const MAX_STREAM_TEXT_BYTES: usize = MAX_RESPONSE_BODY_BYTES;

/// Most distinct choices a stream may name (OpenAI's upper bound for `n`).
pub const MAX_STREAM_CHOICES: usize = 128;

/// `64 MiB (67108864 bytes)`: a limit as people read it, with the exact figure.
pub(crate) fn describe(bytes: usize) -> String {
    const MIB: usize = 1 << 20;
    const KIB: usize = 1 << 10;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB ({bytes} bytes)", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB ({bytes} bytes)", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_people_say_them() {
        assert_eq!(describe(MAX_RESPONSE_BODY_BYTES), "64 MiB (67108864 bytes)");
        assert_eq!(describe(1536), "1536 bytes");
        assert_eq!(describe(2048), "2 KiB (2048 bytes)");
        assert_eq!(describe(7), "7 bytes");
    }
}
