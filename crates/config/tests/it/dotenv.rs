//! `.env` files: the origin documents' quoting, multi-line JSON, and bad lines.

use std::io::Write;

use orchestra_config::{EnvSource, Environment, Origin, Settings};

fn dotenv_file(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(contents.as_bytes()).unwrap();
    file
}

#[test]
fn reads_quoted_and_multiline_values() {
    let file = dotenv_file(
        r#"# Primary configuration
OPENROUTER_API_KEY="your-openrouter-api-key"
ORCHESTRA_TEST_ONLY_VARIABLE=1
PORTKEY_FALLBACKS='[
  {"provider":"openrouter", "model":"anthropic/claude-3-opus-20k", "weight": 70},
  {"provider":"openrouter", "model":"google/gemini-2.5-flash:free", "weight": 20},
  {"provider":"groq", "model":"mixtral-8x7b-32768", "weight": 10}
]'
PORTKEY_STRATEGY="fallback"
"#,
    );
    let environment = Environment::with_dotenv(file.path()).unwrap();
    let value = environment.get("ORCHESTRA_TEST_ONLY_VARIABLE").unwrap();
    assert_eq!(value.origin, Origin::DotEnv(file.path().to_path_buf()));
    let settings = Settings::load(&environment).unwrap().settings;
    assert_eq!(settings.portkey.fallbacks.len(), 3);
    assert_eq!(
        settings.portkey.fallbacks[2].model(),
        Some("mixtral-8x7b-32768")
    );
}

#[test]
fn errors_in_dotenv_values_say_where_they_were_set() {
    let file = dotenv_file("LLM_MAX_RETRIES=many\n");
    let environment = Environment::with_dotenv(file.path()).unwrap();
    let message = Settings::load(&environment).unwrap_err().to_string();
    let expected = format!(
        "LLM_MAX_RETRIES (set in {}): expected a whole number ≥ 0, found `many`",
        file.path().display()
    );
    assert_eq!(message, expected);
}

#[test]
fn unparsable_lines_are_reported_by_number_without_their_content() {
    let file = dotenv_file("GOOD=1\nOPENROUTER_API_KEY='sk-or-v1-unterminated\nOTHER=2\n");
    let message = Environment::with_dotenv(file.path())
        .unwrap_err()
        .to_string();
    assert!(message.contains("line 2"), "{message}");
    assert!(message.contains("OPENROUTER_API_KEY"), "{message}");
    assert!(!message.contains("sk-or-v1"), "{message}");
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let message = Environment::with_dotenv("/nonexistent/orchestra/.env")
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with(".env: /nonexistent/orchestra/.env: cannot read the file"),
        "{message}"
    );
}
