//! Streams an answer token by token; a failure before the first token moves to the next
//! target unseen, a failure after it ends the stream with the partial text.
//!
//! ```text
//! cargo run -p orchestra-llm --example streaming            # offline, on the simulator
//! ```

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use futures_util::StreamExt;
use orchestra_llm::{
    LlmClient, Message, StreamEvent,
    config::{MapEnv, Settings},
};
use orchestra_sim::{Fault, ModelConfig, SimConfig, Simulator};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The primary fails before its first token: the stream comes from the fallback.
    let sim = Simulator::start(
        SimConfig::builder()
            .model(ModelConfig::new("openai/gpt-4o").then_fault(Fault::status(503), 1))
            .model(ModelConfig::new("google/gemini-2.5-flash:free"))
            .build()?,
    )
    .await?;
    let env = MapEnv::from_iter([
        ("OPENROUTER_API_KEY", "sk-or-v1-example".to_owned()),
        ("OPENROUTER_BASE_URL", sim.base_url()),
        ("OPENROUTER_DEFAULT_MODEL", "openai/gpt-4o".to_owned()),
        (
            "OPENROUTER_FREE_FALLBACKS",
            "google/gemini-2.5-flash:free".to_owned(),
        ),
        ("LLM_MAX_RETRIES", "0".to_owned()),
    ]);
    let client = LlmClient::from_settings(Settings::load(&env)?.settings)?;

    let mut stream = client
        .generate_chat_completion([Message::user("Tell me a short story.")])
        .stream()
        .await?;
    let mut stdout = std::io::stdout();
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::Start(start) => println!("[{} answering]", start.model),
            StreamEvent::ContentDelta { text, .. } => {
                write!(stdout, "{text}")?;
                stdout.flush()?;
            }
            StreamEvent::Finish { reason, .. } => println!("\n[finished: {}]", reason.as_str()),
            _ => {}
        }
    }
    Ok(())
}
