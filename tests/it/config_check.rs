//! `orchestra config check` in-process: the report users read, the exit codes, and secrets.

use clap::Parser;
use orchestra_cli::{Cli, ExitStatus, run};
use orchestra_config::MapEnv;

const OPENROUTER_KEY: &str = "sk-or-v1-CONFIGCHECKSECRET";
const PORTKEY_KEY: &str = "pk-CONFIGCHECKSECRET";
const TARGET_KEY: &str = "gsk-CONFIGCHECKSECRET";
const VIRTUAL_KEY: &str = "vk-CONFIGCHECKSECRET";

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn check(args: &[&str], vars: &[(&str, &str)]) -> Run {
    let cli = Cli::try_parse_from(["orchestra", "config", "check"].iter().chain(args)).unwrap();
    let env = MapEnv::from_iter(vars.iter().copied());
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let status = run(&cli, &env, &mut stdout, &mut stderr);
    let run = Run {
        status,
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    };
    for secret in [OPENROUTER_KEY, PORTKEY_KEY, TARGET_KEY, VIRTUAL_KEY] {
        assert!(
            !run.stdout.contains(secret),
            "{secret} leaked to stdout:\n{}",
            run.stdout
        );
        assert!(
            !run.stderr.contains(secret),
            "{secret} leaked to stderr:\n{}",
            run.stderr
        );
    }
    run
}

/// The origin documents' Option 1 plus agent routing, in full.
fn origin_documents_openrouter() -> Vec<(&'static str, &'static str)> {
    vec![
        ("OPENROUTER_API_KEY", OPENROUTER_KEY),
        ("PREFERRED_LLM_PROVIDER", "openrouter"),
        ("OPENROUTER_DEFAULT_MODEL", "anthropic/claude-3-opus-20k"),
        (
            "OPENROUTER_FREE_FALLBACKS",
            "google/gemini-2.5-flash:free,mistralai/mixtral-8x7b:free",
        ),
        (
            "OPENROUTER_HEADERS",
            r#"{"HTTP-Referer":"https://yourdomain.com","X-Title":"Your Project Name"}"#,
        ),
        (
            "AGENT_MODEL_MAP",
            r#"{"researcher":"anthropic/claude-3-opus-20k","executor":"openai/gpt-4o","validator":"mistralai/mistral-large-2"}"#,
        ),
        ("LLM_REQUEST_TIMEOUT", "30"),
        ("LLM_MAX_RETRIES", "3"),
        ("LLM_RETRY_DELAY", "1.0"),
        ("LLM_RETRY_MAX_DELAY", "60.0"),
        (
            "LLM_RETRYABLE_ERRORS",
            "connection_error,timeout_error,rate_limit_error,service_error",
        ),
    ]
}

/// The origin documents' Option 2 (Portkey), with every Portkey variable set.
fn origin_documents_portkey() -> Vec<(&'static str, &'static str)> {
    vec![
        ("PORTKEY_API_KEY", PORTKEY_KEY),
        ("PREFERRED_LLM_PROVIDER", "portkey"),
        (
            "PORTKEY_FALLBACKS",
            r#"[
  {"provider":"openrouter", "model":"anthropic/claude-3-opus-20k", "weight": 70},
  {"provider":"openrouter", "model":"google/gemini-2.5-flash:free", "weight": 20},
  {"provider":"groq", "model":"mixtral-8x7b-32768", "weight": 10, "api_key": "gsk-CONFIGCHECKSECRET"}
]"#,
        ),
        ("PORTKEY_STRATEGY", "fallback"),
        ("PORTKEY_CACHE_ENABLED", "true"),
        ("TRACE_ID", "your-trace-id"),
        ("VIRTUAL_KEY", VIRTUAL_KEY),
        (
            "AGENT_MODEL_MAP",
            r#"{"researcher":"anthropic/claude-3-opus-20k"}"#,
        ),
    ]
}

#[test]
fn valid_openrouter_configuration_prints_redacted_settings_and_routes() {
    let run = check(&[], &origin_documents_openrouter());
    assert_eq!(run.status, ExitStatus::Success);
    assert_eq!(run.stderr, "");
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn valid_portkey_configuration_prints_redacted_settings_and_routes() {
    let run = check(&[], &origin_documents_portkey());
    assert_eq!(run.status, ExitStatus::Success);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn json_report_is_machine_readable() {
    let run = check(&["--json"], &origin_documents_openrouter());
    assert_eq!(run.status, ExitStatus::Success);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["settings"]["openrouter"]["api_key"], "[redacted]");
    assert_eq!(
        report["agent_routes"]["executor"]["models"][0],
        "openai/gpt-4o"
    );
    assert_eq!(report["default_route"]["strategy"], "fallback");
    assert_eq!(report["sources"]["OPENROUTER_API_KEY"], "settings map");
}

#[test]
fn each_class_of_bad_value_exits_2_naming_the_variable() {
    let cases: &[(&str, &str)] = &[
        (
            "PORTKEY_FALLBACKS",
            r#"[{"provider":"openrouter","model":"a/b","weight":70} {"provider":"groq"}]"#,
        ),
        (
            "PORTKEY_FALLBACKS",
            r#"[{"provider":"openrouter","model":"a/b","wieght":70}]"#,
        ),
        (
            "PORTKEY_FALLBACKS",
            r#"[{"provider":"openrouter","model":"a/b","weight":-1}]"#,
        ),
        (
            "PORTKEY_FALLBACKS",
            r#"[{"provider":"openrouter","model":"a/b","weight":0}]"#,
        ),
        (
            "PORTKEY_FALLBACKS",
            r#"[{"provider":"grok","model":"a/b"}]"#,
        ),
        ("AGENT_MODEL_MAP", r#"{"researcher": 42}"#),
        ("OPENROUTER_HEADERS", "not json"),
        ("PORTKEY_STRATEGY", "cheapest"),
        ("PREFERRED_LLM_PROVIDER", "litellm"),
        ("LLM_REQUEST_TIMEOUT", "0"),
        ("LLM_MAX_RETRIES", "three"),
        ("LLM_RETRY_DELAY", "-1"),
        ("LLM_RETRYABLE_ERRORS", "timeout"),
        ("PORTKEY_CACHE_ENABLED", "sometimes"),
        ("OPENROUTER_BASE_URL", "localhost"),
    ];
    let mut report = String::new();
    for (variable, value) in cases {
        let run = check(
            &[],
            &[(variable, value), ("OPENROUTER_API_KEY", OPENROUTER_KEY)],
        );
        assert_eq!(run.status, ExitStatus::InvalidUsage, "{variable}={value}");
        assert_eq!(run.stdout, "", "{variable}={value}");
        let first = run.stderr.lines().next().unwrap();
        assert!(first.starts_with(&format!("error: {variable}")), "{first}");
        report.push_str(&format!("$ {variable}='{value}'\n{}\n", run.stderr));
    }
    let run = check(
        &[],
        &[("LLM_RETRY_DELAY", "9"), ("LLM_RETRY_MAX_DELAY", "3")],
    );
    assert_eq!(run.status, ExitStatus::InvalidUsage);
    report.push_str(&format!(
        "$ LLM_RETRY_DELAY='9' LLM_RETRY_MAX_DELAY='3'\n{}",
        run.stderr
    ));
    insta::assert_snapshot!(report);
}

#[test]
fn invalid_json_report_lists_errors_on_stdout_too() {
    let run = check(
        &["--json"],
        &[("PORTKEY_STRATEGY", "x"), ("LLM_MAX_RETRIES", "y")],
    );
    assert_eq!(run.status, ExitStatus::InvalidUsage);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["valid"], false);
    let variables: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["variable"].as_str().unwrap())
        .collect();
    assert_eq!(variables, ["PORTKEY_STRATEGY", "LLM_MAX_RETRIES"]);
}
