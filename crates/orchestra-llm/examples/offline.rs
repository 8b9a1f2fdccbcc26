//! The whole stack against the built-in simulator: a rate-limited primary, a free fallback,
//! an agent with its own model, the cache and the usage ledger. Runs offline.
//!
//! ```text
//! cargo run -p orchestra-llm --example offline
//! ```

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use orchestra_llm::{
    LlmClient, Message,
    config::{MapEnv, Settings},
};
use orchestra_sim::{Fault, ModelConfig, SimConfig, Simulator};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulator::start(
        SimConfig::builder()
            .api_key("sk-or-v1-example")
            .model(
                ModelConfig::new("openai/gpt-4o").then_fault(Fault::status_retry_after(429, 30), 1),
            )
            .model(ModelConfig::new("anthropic/claude-3-opus-20k"))
            .model(ModelConfig::new("google/gemini-2.5-flash:free"))
            .build()?,
    )
    .await?;

    // The variables an application would set in its environment or .env.
    let env = MapEnv::from_iter([
        ("OPENROUTER_API_KEY", "sk-or-v1-example".to_owned()),
        ("OPENROUTER_BASE_URL", sim.base_url()),
        ("OPENROUTER_DEFAULT_MODEL", "openai/gpt-4o".to_owned()),
        (
            "OPENROUTER_FREE_FALLBACKS",
            "google/gemini-2.5-flash:free".to_owned(),
        ),
        (
            "AGENT_MODEL_MAP",
            r#"{"researcher":"anthropic/claude-3-opus-20k"}"#.to_owned(),
        ),
        ("LLM_CACHE", "exact".to_owned()),
    ]);
    let client = LlmClient::from_settings(Settings::load(&env)?.settings)?;

    for (agent, question) in [
        (None, "What is the capital of France?"),
        (Some("researcher"), "Find sources on tidal energy."),
        (None, "What is the capital of France?"),
    ] {
        let mut call = client.generate_chat_completion([Message::user(question)]);
        if let Some(agent) = agent {
            call = call.agent_type(agent);
        }
        let response = call.await?;
        println!(
            "{:<12} → {} (cache: {})",
            agent.unwrap_or("default"),
            response.model,
            response.metadata.cache.as_str()
        );
        for attempt in &response.metadata.attempts {
            println!("             {attempt}");
        }
    }
    println!("\n{}", serde_json::to_string_pretty(&client.usage())?);
    Ok(())
}
