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
