//! The real `orchestra` binary: exit codes, `.env` precedence, and no secret in any output.

#![allow(clippy::unwrap_used, clippy::expect_used)] // In tests a panic is the failure report.

use std::process::{Command, Output};

const KEY: &str = "sk-or-v1-BINARYTESTSECRET";

/// Runs `orchestra` in `dir` with only the given variables in its environment.
fn orchestra(dir: &std::path::Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orchestra"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn process_environment_wins_over_dotenv() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        format!("OPENROUTER_API_KEY={KEY}\nLLM_MAX_RETRIES=7\nLLM_REQUEST_TIMEOUT=12\n"),
    )
    .unwrap();
    let output = orchestra(
        dir.path(),
        &["config", "check", "--json"],
        &[("LLM_MAX_RETRIES", "1")],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["settings"]["resilience"]["max_retries"], 1);
    assert_eq!(report["sources"]["LLM_MAX_RETRIES"], "environment");
    assert_eq!(
        report["settings"]["resilience"]["request_timeout_secs"],
        12.0
    );
    assert_eq!(report["sources"]["LLM_REQUEST_TIMEOUT"], ".env");
    assert!(!text(&output).contains(KEY));
}

#[test]
fn invalid_configuration_exits_2_with_every_error_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let output = orchestra(
        dir.path(),
        &["config", "check"],
        &[
            ("OPENROUTER_API_KEY", KEY),
            ("PORTKEY_STRATEGY", "fastest"),
            ("AGENT_MODEL_MAP", r#"{"researcher" "a/b"}"#),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: AGENT_MODEL_MAP: expected `:` at line 1, column 15"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: PORTKEY_STRATEGY: unknown strategy `fastest`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 configuration problems found"),
        "{stderr}"
    );
    assert!(!stderr.contains(KEY));
}

#[test]
fn an_explicit_env_file_that_is_missing_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = orchestra(
        dir.path(),
        &["--env-file", "nope.env", "config", "check"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nope.env: cannot read the file"));
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = orchestra(dir.path(), &["config", "frobnicate"], &[]);
    assert_eq!(output.status.code(), Some(2));
}

/// Sends one HTTP/1.1 request over a plain socket and returns the whole response text.
fn http_get(address: &str, path: &str, key: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn sim_prints_its_base_url_first_and_serves_until_killed() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(
        &scenario,
        "[[models]]\nid = \"acme/only-model:free\"\nrpm = 20\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_orchestra"))
        .args(["sim", "--port", "0", "--api-key", "sim-key", "--scenario"])
        .arg(&scenario)
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let base_url = first_line.trim();
    let address = base_url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/api/v1"))
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"));

    let models = http_get(address, "/api/v1/models", "sim-key");
    let wrong_key = http_get(address, "/api/v1/models", "other-key");
    child.kill().unwrap();
    child.wait().unwrap();

    assert!(models.starts_with("HTTP/1.1 200"), "{models}");
    assert!(models.contains("acme/only-model:free"), "{models}");
    assert!(wrong_key.starts_with("HTTP/1.1 401"), "{wrong_key}");
}

#[test]
fn sim_with_a_bad_scenario_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("bad.toml");
    std::fs::write(&scenario, "[[models]]\nid = \"a\"\nrmp = 20\n").unwrap();
    let output = orchestra(
        dir.path(),
        &["sim", "--scenario", scenario.to_str().unwrap()],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.toml"), "{stderr}");
    assert!(stderr.contains("rmp"), "{stderr}");
}

/// A simulated OpenRouter on a background runtime: the primary model answers 429 once, the
/// free fallback works.
fn simulator() -> (tokio::runtime::Runtime, orchestra_sim::Simulator) {
    use orchestra_sim::{Fault, ModelConfig, SimConfig, Simulator};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let config = SimConfig::builder()
        .api_key(KEY)
        .credits(25.0)
        .model(
            ModelConfig::new("openai/gpt-4o-mini")
                .price("0.00000015", "0.0000006")
                .then_fault(Fault::status_retry_after(429, 20), 1),
        )
        .model(ModelConfig::new("google/gemini-2.5-flash:free"))
        .model(ModelConfig::new("anthropic/claude-3-opus").price("0.000015", "0.000075"))
        .build()
        .unwrap();
    let sim = runtime.block_on(Simulator::start(config)).unwrap();
    (runtime, sim)
}

fn sim_env(sim: &orchestra_sim::Simulator) -> Vec<(&'static str, String)> {
    vec![
        ("OPENROUTER_API_KEY", KEY.to_owned()),
        ("OPENROUTER_BASE_URL", sim.base_url()),
        ("OPENROUTER_DEFAULT_MODEL", "openai/gpt-4o-mini".to_owned()),
        (
            "OPENROUTER_FREE_FALLBACKS",
            "google/gemini-2.5-flash:free".to_owned(),
        ),
        (
            "AGENT_MODEL_MAP",
            r#"{"researcher":"anthropic/claude-3-opus"}"#.to_owned(),
        ),
    ]
}

fn orchestra_with(dir: &std::path::Path, args: &[&str], vars: &[(&str, String)]) -> Output {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    orchestra(dir, args, &vars)
}

#[test]
fn chat_json_reports_the_fallback_that_served_after_the_primary_429() {
    let (_runtime, sim) = simulator();
    let dir = tempfile::tempdir().unwrap();
    let output = orchestra_with(
        dir.path(),
        &["chat", "--json", "--max-tokens", "32", "hello"],
        &sim_env(&sim),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["model"], "google/gemini-2.5-flash:free");
    assert_eq!(report["provider"], "openrouter");
    assert_eq!(report["finish_reason"], "stop");
    assert_eq!(report["cache"], "off");
    assert!(
        report["content"]
            .as_str()
            .unwrap()
            .starts_with("google/gemini-2.5-flash:free")
    );
    assert!(report["usage"]["total_tokens"].as_u64().unwrap() > 0);
    // The client-side router fell back: both attempts are in the report.
    assert_eq!(report["attempts"][0]["model"], "openai/gpt-4o-mini");
    assert_eq!(report["attempts"][0]["outcome"], "rate_limited");
    assert_eq!(report["attempts"][0]["status"], 429);
    assert_eq!(
        report["attempts"][1]["model"],
        "google/gemini-2.5-flash:free"
    );
    assert_eq!(report["attempts"][1]["outcome"], "success");
    assert!(report["latency_ms"].as_f64().unwrap() > 0.0);
    // The primary really was asked first and refused.
    assert_eq!(sim.model_stats("openai/gpt-4o-mini").rate_limited, 1);
    assert!(!text(&output).contains(KEY));
}

#[test]
fn chat_routes_an_agent_to_its_model_and_streams_text() {
    let (_runtime, sim) = simulator();
    let dir = tempfile::tempdir().unwrap();
    let output = orchestra_with(
        dir.path(),
        &[
            "chat",
            "--agent",
            "researcher",
            "--stream",
            "--system",
            "be brief",
            "hi",
        ],
        &sim_env(&sim),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("anthropic/claude-3-opus"), "{stdout}");
    assert!(stdout.ends_with('\n'));
    let request = sim.chat_requests().pop().unwrap();
    assert_eq!(request.requested[0], "anthropic/claude-3-opus");
    assert!(request.stream);
}

#[test]
fn chat_failures_exit_1_with_the_reason_and_usage_errors_exit_2() {
    let (_runtime, sim) = simulator();
    sim.set_credits(Some(0.0));
    let dir = tempfile::tempdir().unwrap();
    let output = orchestra_with(dir.path(), &["chat", "hi"], &sim_env(&sim));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error: "), "{stderr}");
    assert!(stderr.contains("credits"), "{stderr}");
    assert!(output.stdout.is_empty());

    let output = orchestra(dir.path(), &["chat", "hi"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("OPENROUTER_API_KEY is not set"), "{stderr}");
    assert!(stderr.contains("orchestra demo"), "{stderr}");
    for command in [&["credits"][..], &["models", "--free"]] {
        assert_eq!(orchestra(dir.path(), command, &[]).status.code(), Some(2));
    }
}

#[test]
fn credits_and_models_print_tables_and_json() {
    let (_runtime, sim) = simulator();
    let dir = tempfile::tempdir().unwrap();
    let env = sim_env(&sim);

    let output = orchestra_with(dir.path(), &["credits", "--json"], &env);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["total_credits"], 25.0);
    assert_eq!(report["free_models"]["requests_per_day"], 1000);
    let output = orchestra_with(dir.path(), &["credits"], &env);
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.contains("Account balance"), "{table}");
    assert!(table.contains("20/minute, 1000/day"), "{table}");

    let output = orchestra_with(dir.path(), &["models", "--free", "--json"], &env);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let models: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let ids: Vec<&str> = models
        .as_array()
        .unwrap()
        .iter()
        .map(|model| model["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["google/gemini-2.5-flash:free"]);
    let output = orchestra_with(dir.path(), &["models"], &env);
    let table = String::from_utf8(output.stdout).unwrap();
    let opus = table
        .lines()
        .find(|line| line.starts_with("anthropic/claude-3-opus"))
        .unwrap();
    assert!(opus.contains(" 15 ") && opus.ends_with(" 75"), "{table}");
    assert!(table.ends_with("3 model(s)\n"), "{table}");
}

#[test]
fn chat_json_through_the_portkey_gateway_reports_the_target_that_served_after_a_429() {
    use orchestra_provider_portkey::harness::Gateway;
    use orchestra_sim::{Fault, ModelConfig, SimConfig, Simulator};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let config = SimConfig::builder()
        .model(ModelConfig::new("acme/limited").then_fault(Fault::status_retry_after(429, 9), 100))
        .model(ModelConfig::new("acme/backup").price("0.000001", "0.000002"))
        .build()
        .unwrap();
    let sim = runtime.block_on(Simulator::start(config)).unwrap();
    let gateway = Gateway::start();
    let upstream = sim.openai_base_url();
    let fallbacks = format!(
        r#"[{{"provider":"openai","model":"acme/limited","custom_host":"{upstream}","api_key":"{KEY}"}},
            {{"provider":"openai","model":"acme/backup","custom_host":"{upstream}"}}]"#
    );
    let env = vec![
        ("PREFERRED_LLM_PROVIDER", "portkey".to_owned()),
        ("PORTKEY_BASE_URL", gateway.base_url()),
        ("PORTKEY_FALLBACKS", fallbacks),
        // The second target's key comes from the provider's own variable.
        ("OPENAI_API_KEY", "sk-openai-BINARYTESTSECRET".to_owned()),
        ("LLM_MAX_RETRIES", "0".to_owned()),
    ];
    let dir = tempfile::tempdir().unwrap();

    let output = orchestra_with(dir.path(), &["chat", "--json", "hello"], &env);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["model"], "acme/backup", "{report}");
    assert_eq!(report["provider"], "portkey");
    assert_eq!(report["upstream_provider"], "openai");
    assert!(
        report["content"]
            .as_str()
            .unwrap()
            .starts_with("acme/backup")
    );
    let attempts = report["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{report}");
    assert_eq!(attempts[0]["model"], "acme/limited");
    assert_eq!(attempts[0]["outcome"], "server");
    assert!(
        attempts[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("config.targets[0] (openai)")
    );
    assert_eq!(attempts[1]["model"], "acme/backup");
    assert_eq!(attempts[1]["outcome"], "success");
    assert_eq!(attempts[1]["status"], 200);
    // The first target really was asked, and refused.
    assert_eq!(sim.model_stats("acme/limited").rate_limited, 1);
    assert_eq!(sim.model_stats("acme/backup").successes, 1);
    let all = text(&output);
    assert!(!all.contains(KEY) && !all.contains("sk-openai-BINARYTESTSECRET"));

    let output = orchestra_with(dir.path(), &["credits", "--json"], &env);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let credits: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(credits["gateway"], gateway.base_url());
    assert_eq!(credits["openrouter"], serde_json::json!([]));
    let output = orchestra_with(dir.path(), &["credits"], &env);
    assert!(String::from_utf8_lossy(&output.stdout).contains("no balance API"));

    let output = orchestra_with(dir.path(), &["models", "--json"], &env);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let models: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let ids: Vec<&str> = models
        .as_array()
        .unwrap()
        .iter()
        .map(|model| model["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acme/backup", "acme/limited"]);
}

#[test]
fn demo_runs_offline_and_its_figures_agree_with_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let output = orchestra(dir.path(), &["demo", "--json", "--requests", "240"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["requests"], 240);
    assert_eq!(
        report["answered"].as_u64().unwrap() + report["failed"].as_u64().unwrap(),
        240
    );
    let totals = &report["totals"];
    // Every call the ledger counts as sent reached the simulator, and every 429 it sent
    // was seen by the client.
    assert_eq!(totals["sent"], report["simulator"]["chat_requests"]);
    assert_eq!(totals["rate_limited"], report["simulator"]["upstream_429s"]);
    // The origin situation happened: the primary hit its limit, a free model took over,
    // and our own quota or cooldowns kept some attempts from being sent at all.
    let primary = &report["models"]["openai/gpt-4o"];
    assert!(primary["rate_limited"].as_u64().unwrap() > 0, "{primary}");
    assert!(totals["fallbacks"].as_u64().unwrap() > 0, "{totals}");
    assert!(totals["held_back"].as_u64().unwrap() > 0, "{totals}");
    let cache = &report["cache"];
    assert!(cache["hits"].as_u64().unwrap() + cache["semantic_hits"].as_u64().unwrap() > 0);
    assert_eq!(
        cache["hits"].as_u64().unwrap()
            + cache["semantic_hits"].as_u64().unwrap()
            + cache["misses"].as_u64().unwrap(),
        240
    );
    // stderr is not a terminal here: no progress bar, no banner with --json.
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn demo_prints_a_table_a_person_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let output = orchestra(dir.path(), &["demo", "--requests", "40"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let header = stdout.lines().next().unwrap();
    for column in [
        "model",
        "sent",
        "429s",
        "held back",
        "fallbacks",
        "retries",
        "cache hits",
        "tokens",
        "cost USD",
        "p50 ms",
        "p99 ms",
    ] {
        assert!(header.contains(column), "{header}");
    }
    assert!(stdout.contains("40 requests in"), "{stdout}");
    assert!(
        !stdout.contains("sk-or-v1"),
        "the demo key leaked: {stdout}"
    );
}

#[test]
fn batch_answers_every_line_in_input_order_and_reports_failed_lines() {
    let (_runtime, sim) = simulator();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("prompts.jsonl");
    std::fs::write(
        &input,
        concat!(
            "{\"id\": \"a\", \"prompt\": \"What is the capital of France?\"}\n",
            "{\"id\": \"b\", \"prompt\": \"Find sources on tides.\", \"agent\": \"researcher\"}\n",
            "\n",
            "this is not json\n",
            "{\"id\": 7, \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"model\": \"google/gemini-2.5-flash:free\"}\n",
            "{\"id\": \"dup\", \"prompt\": \"What is the capital of France?\"}\n",
        ),
    )
    .unwrap();
    let results = dir.path().join("out.jsonl");
    let mut vars = sim_env(&sim);
    vars.push(("LLM_CACHE", "exact".to_owned()));
    // No client-side quota: the free model's 20/min would space its two calls 3 s apart.
    vars.push(("LLM_RATE_LIMITS", "{}".to_owned()));
    let output = orchestra_with(
        dir.path(),
        &[
            "batch",
            input.to_str().unwrap(),
            "--concurrency",
            "1",
            "--max-tokens",
            "16",
            "--output",
            results.to_str().unwrap(),
        ],
        &vars,
    );
    // One line was not JSON: the batch goes on, and says so with exit status 1.
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&results)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let ids: Vec<String> = lines.iter().map(|line| line["id"].to_string()).collect();
    assert_eq!(ids, ["\"a\"", "\"b\"", "4", "7", "\"dup\""]);
    // The first answer came from the fallback after the primary's 429.
    assert_eq!(lines[0]["model"], "google/gemini-2.5-flash:free");
    assert_eq!(lines[0]["attempts"][0]["status"], 429);
    assert_eq!(lines[1]["model"], "anthropic/claude-3-opus");
    assert_eq!(lines[2]["error"]["kind"], "invalid_input");
    assert_eq!(lines[3]["model"], "google/gemini-2.5-flash:free");
    // One client serves the batch: the repeated question is a cache hit.
    assert_eq!(lines[4]["cache"], "hit");
    assert_eq!(lines[4]["content"], lines[0]["content"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cache hits"), "{stderr}");
    // The line that was not JSON never reached the client.
    assert!(stderr.contains("4 requests in"), "{stderr}");
    assert!(!text(&output).contains(KEY));
}

#[test]
fn batch_writes_to_stdout_and_exits_zero_when_every_line_succeeds() {
    let (_runtime, sim) = simulator();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let lines: String = (0..6)
        .map(|n| format!("{{\"prompt\": \"Question number {n}\", \"agent\": \"researcher\"}}\n"))
        .collect();
    std::fs::write(&input, lines).unwrap();
    let output = orchestra_with(
        dir.path(),
        &["batch", input.to_str().unwrap(), "--concurrency", "3"],
        &sim_env(&sim),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let ids: Vec<u64> = stdout
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    assert_eq!(sim.model_stats("anthropic/claude-3-opus").requests, 6);
}

/// A key no test output may ever contain.
const CANARY: &str = "sk-or-v1-CANARY-5ecre7-d0-n0t-l3ak-0123456789abcdef";

#[test]
fn no_command_reveals_the_key_even_with_trace_logging() {
    use orchestra_sim::{ModelConfig, SimConfig, Simulator};
    let (runtime, strict) = simulator();
    // This one accepts any key, so the canary travels on every successful call.
    let open = runtime
        .block_on(Simulator::start(
            SimConfig::builder()
                .credits(25.0)
                .model(ModelConfig::new("openai/gpt-4o-mini").price("0.00000015", "0.0000006"))
                .model(ModelConfig::new("google/gemini-2.5-flash:free"))
                .build()
                .unwrap(),
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"prompt\": \"hello\"}\nnot json\n").unwrap();
    let env_for = |base: String| -> Vec<(&'static str, String)> {
        vec![
            ("OPENROUTER_API_KEY", CANARY.to_owned()),
            ("OPENROUTER_BASE_URL", base),
            ("OPENROUTER_DEFAULT_MODEL", "openai/gpt-4o-mini".to_owned()),
            (
                "OPENROUTER_FREE_FALLBACKS",
                "google/gemini-2.5-flash:free".to_owned(),
            ),
            ("PORTKEY_API_KEY", CANARY.to_owned()),
            ("LLM_CACHE", "semantic".to_owned()),
            ("RUST_LOG", "trace".to_owned()),
        ]
    };
    let input = input.to_str().unwrap();
    let commands: [&[&str]; 11] = [
        &["config", "check"],
        &["config", "check", "--json"],
        &["chat", "hello"],
        &["chat", "--json", "hello"],
        &["chat", "--stream", "hello"],
        &["credits"],
        &["credits", "--json"],
        &["models", "--json"],
        &["batch", input],
        &["demo", "--requests", "30"],
        &["demo", "--json", "--requests", "30"],
    ];
    let check = |output: &Output, args: &[&str]| {
        let all = text(output);
        let command = args.join(" ");
        assert!(
            !all.contains(CANARY),
            "`orchestra {command}` revealed the key"
        );
        assert!(
            !all.contains("CANARY"),
            "`orchestra {command}` revealed part of the key"
        );
        assert!(
            !all.contains("sk-or-v1-demo"),
            "`orchestra {command}` revealed the demo key"
        );
        assert!(
            output.status.code().is_some(),
            "`orchestra {command}` crashed"
        );
    };
    let env = env_for(open.base_url());
    for args in commands {
        let output = orchestra_with(dir.path(), args, &env);
        check(&output, args);
        if args[0] == "chat" {
            assert_eq!(output.status.code(), Some(0), "{}", text(&output));
            // Trace logging really was on: the test would mean little otherwise.
            assert!(String::from_utf8_lossy(&output.stderr).contains("TRACE"));
        }
    }
    assert!(open.chat_requests().len() >= 3);

    // A key the upstream refuses (401): the error path must not echo it either.
    let env = env_for(strict.base_url());
    for args in [
        &["chat", "--json", "hello"][..],
        &["credits"],
        &["batch", input],
    ] {
        let output = orchestra_with(dir.path(), args, &env);
        assert_ne!(output.status.code(), Some(0), "{}", text(&output));
        check(&output, args);
    }
    // No snapshot in the repository holds it (snapshots are written by tests).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() && name != "target" && name != ".git" && name != "node_modules" {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|ext| ext == "snap" || ext == "new")
            {
                let snapshot = std::fs::read_to_string(&path).unwrap_or_default();
                assert!(
                    !snapshot.contains(CANARY),
                    "{} holds the key",
                    path.display()
                );
            }
        }
    }
}
