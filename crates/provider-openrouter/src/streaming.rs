//! Streaming chat: the request goes out here; the shared OpenAI-compatible driver turns the
//! SSE bytes into core events.

use std::sync::Arc;

use orchestra_core::{ChatRequest, ChatStream, Error};
use orchestra_openai_compat::{ErrorMapper, StreamSetup, stream_response};
use tracing::Instrument;

use crate::{OpenRouter, client::generation_id_header, telemetry::RequestSpan};

/// Sends a streaming request; errors before the first byte of the stream are returned here.
pub(crate) async fn start(client: &OpenRouter, request: &ChatRequest) -> Result<ChatStream, Error> {
    let chain = client.model_chain(request);
    let model = chain.model.clone();
    let telemetry = RequestSpan::start(&chain, true);
    let response = match client
        .send_chat(request, &chain, true)
        .instrument(telemetry.span().clone())
        .await
    {
        Ok(response) => response,
        Err(error) => {
            telemetry.failed(&error);
            return Err(error);
        }
    };
    if !response.status().is_success() {
        let error = client.error_from_response(response, model.as_deref()).await;
        telemetry.failed(&error);
        return Err(error);
    }
    let mut setup = StreamSetup::new(model);
    setup.generation_id = generation_id_header(response.headers());
    setup.idle_timeout = Some(client.request_timeout());
    let errors: Arc<dyn ErrorMapper> = client.errors().clone();
    stream_response(response, errors, Box::new(telemetry), setup).await
}
