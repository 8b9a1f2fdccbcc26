//! Swapping the routing strategy in an application: a strategy that tries free models first
//! and paid ones only after, plugged into the client built from the settings.
//!
//! ```text
//! cargo run -p orchestra-llm --example custom_strategy      # offline, on the simulator
//! ```

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use orchestra_llm::{
    LlmClient, Message,
    config::{MapEnv, Settings},
    routing::{Candidate, Health, RoutingContext, Strategy},
};
use orchestra_sim::{ModelConfig, SimConfig, Simulator};

/// Free models first (healthy ones before resting ones), then the rest in configured order.
#[derive(Debug)]
struct FreeFirst;

impl Strategy for FreeFirst {
    fn name(&self) -> &str {
        "free_first"
    }

    fn plan(&self, _context: &RoutingContext<'_>, candidates: &[Candidate<'_>]) -> Vec<usize> {
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by_key(|&index| {
            let candidate = &candidates[index];
            (
                !candidate.target.model().ends_with(":free"),
                !matches!(candidate.health, Health::Ready),
            )
        });
        order
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulator::start(
        SimConfig::builder()
            .model(ModelConfig::new("openai/gpt-4o"))
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
    ]);
    let client = LlmClient::builder(Settings::load(&env)?.settings)
        .strategy(Arc::new(FreeFirst))
        .build()?;
    let response = client
        .generate_chat_completion([Message::user("Hello")])
        .await?;
    println!(
        "{} answered (strategy {})",
        response.model,
        FreeFirst.name()
    );
    assert_eq!(response.model, "google/gemini-2.5-flash:free");
    Ok(())
}
