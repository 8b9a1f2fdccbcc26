//! A minimal provider's side of the shared code: an error mapper, an observer that counts,
//! and a scripted HTTP/1.1 server.

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use orchestra_core::{ChatStream, Error, ErrorKind, StreamEvent};
use orchestra_openai_compat::{
    ErrorMapper, Failure, StreamObserver, StreamOutcome, StreamSetup, body_message, stream_response,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::oneshot,
};

/// Maps by status only; enough to see the shared code's own errors.
pub(crate) struct TestMapper;

impl ErrorMapper for TestMapper {
    fn provider(&self) -> &str {
        "test"
    }

    fn service(&self) -> &str {
        "the test server"
    }

    fn map(&self, failure: Failure<'_>) -> Error {
        let status = failure.http_status.unwrap_or(500);
        let message = failure
            .error
            .and_then(|error| error.message.clone())
            .unwrap_or_else(|| body_message(failure.body, failure.http_status));
        Error::new(ErrorKind::from_status(status), message).with_provider("test")
    }
}

/// How the stream ended, as its observer heard it.
#[derive(Clone, Default)]
pub(crate) struct Heard(Arc<Mutex<Vec<Result<(), ErrorKind>>>>);

impl Heard {
    pub(crate) fn endings(&self) -> Vec<Result<(), ErrorKind>> {
        self.0.lock().unwrap().clone()
    }
}

impl StreamObserver for Heard {
    fn succeeded(&mut self, _outcome: &StreamOutcome<'_>) {
        self.0.lock().unwrap().push(Ok(()));
    }

    fn failed(&mut self, error: &Error) {
        self.0.lock().unwrap().push(Err(error.kind()));
    }
}

/// Every item of a stream, until its end.
pub(crate) async fn drain(mut stream: ChatStream) -> Vec<Result<StreamEvent, Error>> {
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item);
    }
    items
}

/// Opens a stream on `response` with `setup`; the observer's record comes back too.
pub(crate) async fn open_stream(
    response: reqwest::Response,
    setup: StreamSetup,
) -> (Result<ChatStream, Error>, Heard) {
    let heard = Heard::default();
    let stream = stream_response(
        response,
        Arc::new(TestMapper),
        Box::new(heard.clone()),
        setup,
    )
    .await;
    (stream, heard)
}

/// A one-connection HTTP/1.1 server that answers any request with `head` (status line and
/// headers, without the blank line) and `body`, then keeps the connection open until the
/// returned sender is dropped: a client that still waits for more would wait, not end.
pub(crate) async fn scripted(head: &str, body: Vec<u8>) -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (hold, held) = oneshot::channel::<()>();
    let head = format!("{head}\r\n\r\n");
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        while !request.windows(4).any(|window| window == b"\r\n\r\n") {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => request.extend_from_slice(&buffer[..read]),
            }
        }
        // The client may stop reading (and close) before everything is written.
        if socket.write_all(head.as_bytes()).await.is_ok() {
            let _ = socket.write_all(&body).await;
            let _ = socket.flush().await;
        }
        let _ = held.await;
    });
    (format!("http://{address}"), hold)
}

/// `POST {url}` with a JSON body.
pub(crate) async fn post(url: &str, body: &serde_json::Value) -> reqwest::Response {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(url)
        .bearer_auth("sk-or-v1-test")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}
