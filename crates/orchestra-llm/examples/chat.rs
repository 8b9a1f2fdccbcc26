//! One chat completion through the full client, configured from the environment.
//!
//! ```text
//! OPENROUTER_API_KEY=sk-or-... cargo run -p orchestra-llm --example chat -- "Your question"
//! ```
//!
//! Without a key it stops with the configuration error (and points to `orchestra demo`).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use orchestra_llm::{LlmClient, Message};

#[tokio::main]
async fn main() -> Result<(), orchestra_llm::Error> {
    let question = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Summarise the causes of the 2008 financial crisis.".to_owned());
    let client = LlmClient::from_env()?;
    let response = client
        .generate_chat_completion([Message::user(question)])
        .agent_type("researcher")
        .max_tokens(512)
        .await?;
    println!("{}", response.content().unwrap_or_default());
    eprintln!("-- {} via {}", response.model, response.provider);
    for attempt in &response.metadata.attempts {
        eprintln!("   {attempt}");
    }
    Ok(())
}
