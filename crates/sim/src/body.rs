//! The response body type: a whole buffer, or a stream fed by a producer task.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// Error that aborts a response body (the connection is then dropped).
#[derive(Debug, thiserror::Error)]
#[error("simulated connection abort")]
pub(crate) struct Abort;

/// Response body.
#[derive(Debug)]
pub(crate) enum SimBody {
    Full(Option<Bytes>),
    Channel(mpsc::Receiver<Result<Bytes, Abort>>),
}

impl SimBody {
    pub(crate) fn full(b: impl Into<Bytes>) -> Self {
        Self::Full(Some(b.into()))
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = Abort;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Abort>>> {
        match self.get_mut() {
            Self::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Self::Channel(rx) => rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
            Self::Channel(_) => SizeHint::default(),
        }
    }
}
