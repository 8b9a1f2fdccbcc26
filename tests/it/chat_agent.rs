//! `orchestra chat --json --agent …` in-process against the simulator: the agent's model is
//! the one asked first, and it shows in `attempts`.

use clap::Parser;
use orchestra_cli::{Cli, ExitStatus, run};
use orchestra_config::MapEnv;
use orchestra_sim::{ModelConfig, SimConfig, Simulator};

const KEY: &str = "sk-or-v1-AGENTROUTINGSECRET";

#[test]
fn chat_json_with_an_agent_reports_the_agents_model_in_attempts() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let config = SimConfig::builder()
        .api_key(KEY)
        .model(ModelConfig::new("openai/gpt-4o-mini"))
        .model(ModelConfig::new("anthropic/claude-3-opus"))
        .build()
        .unwrap();
    let sim = runtime.block_on(Simulator::start(config)).unwrap();
    let base_url = sim.base_url();
    let env = MapEnv::from_iter([
        ("OPENROUTER_API_KEY", KEY),
        ("OPENROUTER_BASE_URL", base_url.as_str()),
        ("OPENROUTER_DEFAULT_MODEL", "openai/gpt-4o-mini"),
        (
            "AGENT_MODEL_MAP",
            r#"{"researcher":"anthropic/claude-3-opus"}"#,
        ),
    ]);
    let cli = Cli::try_parse_from(["orchestra", "chat", "--json", "--agent", "researcher", "hi"])
        .unwrap();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let status = run(&cli, &env, &mut stdout, &mut stderr);
    let stderr = String::from_utf8(stderr).unwrap();
    assert_eq!(status, ExitStatus::Success, "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(report["model"], "anthropic/claude-3-opus");
    assert_eq!(report["attempts"][0]["model"], "anthropic/claude-3-opus");
    assert_eq!(report["attempts"][0]["outcome"], "success");
    assert_eq!(sim.model_stats("openai/gpt-4o-mini").requests, 0);
    assert!(!stderr.contains(KEY));
}
