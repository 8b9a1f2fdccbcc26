//! Scenario files: parsing, defaults and precise errors.

use orchestra_sim::{Fault, RandomFault, ScriptStep, SimConfig, SimError};

#[test]
fn example_scenario_parses() {
    let c = SimConfig::from_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/openrouter-free-fallback.toml"
    ))
    .unwrap();
    assert_eq!(c.models.len(), 3);
    let opus = c.model("anthropic/claude-3-opus-20k").unwrap();
    assert_eq!(opus.pricing.prompt, 0.000_015);
    assert_eq!(opus.requests_per_minute, Some(5));
    let gem = c.model("google/gemini-2.5-flash:free").unwrap();
    assert_eq!(
        (gem.requests_per_minute, gem.requests_per_day),
        (Some(20), Some(50))
    );
    assert_eq!(
        gem.random,
        vec![RandomFault::new(0.02, Fault::status_retry_after(429, 2))]
    );
    assert_eq!(c.time_scale, 60.0);
}

#[test]
fn default_config_is_sensible() {
    let c = SimConfig::default();
    assert!(c.models.len() >= 4);
    assert!(
        c.models
            .iter()
            .any(|m| m.id.ends_with(":free") && m.pricing.is_free())
    );
    assert!(
        c.models
            .iter()
            .all(|m| m.requests_per_minute.is_none() && m.latency == orchestra_sim::Latency::ZERO)
    );
    assert!(c.credits.is_none() && c.api_key.is_none());
}

#[test]
fn json_scenarios_work_too() {
    let c = SimConfig::from_json_str(
        r#"{"manual_clock": true, "models": [{"id": "a/b", "rpm": 2, "script": ["hang", {"fault": "ok", "times": 2}]}]}"#,
    )
    .unwrap();
    let m = c.model("a/b").unwrap();
    assert_eq!(m.requests_per_minute, Some(2));
    assert_eq!(
        m.script,
        vec![ScriptStep::fault(Fault::Hang, 1), ScriptStep::ok(2)]
    );
}

fn toml_err(text: &str) -> String {
    let e = SimConfig::from_toml_str(text).unwrap_err();
    e.to_string()
}

#[test]
fn bad_scenarios_name_the_line_or_field() {
    let e = toml_err("[[models]]\nid = \"a/b\"\nrequests_per_minute = \"lots\"\n");
    assert!(e.contains("line 3"), "{e}");
    let e = toml_err("[[models]]\nid = \"a/b\"\nscript = [\"429\", \"teapot\"]\n");
    assert!(
        e.contains("line 3") && e.contains("unknown fault `teapot`"),
        "{e}"
    );
    let e = toml_err("[[models]]\nid = \"a/b\"\nbogus = 1\n");
    assert!(e.contains("bogus"), "{e}");
    let e = toml_err("[[models]]\nid = \"a/b:free\"\npricing = { prompt = \"0.1\" }\n");
    assert!(e.contains("models[0].pricing"), "{e}");
    let e = toml_err("[[models]]\nid = \"a/b\"\n[[models]]\nid = \"a/b\"\n");
    assert!(e.contains("models[1].id") && e.contains("duplicate"), "{e}");
    let e = toml_err("time_scale = 0\n");
    assert!(e.contains("time_scale"), "{e}");
    let e =
        toml_err("[[models]]\nid = \"a/b\"\nrandom = [{ probability = 1.5, fault = \"500\" }]\n");
    assert!(e.contains("models[0].random[0].probability"), "{e}");
    let e = toml_err("[[models]]\nid = \"a/b\"\npricing = { prompt = \"abc\" }\n");
    assert!(
        e.contains("line 3") && e.contains("not a decimal number"),
        "{e}"
    );
    let e = toml_err(
        "[[models]]\nid = \"a/b\"\nscript = [{ fault = { kind = \"status\", status = 200 } }]\n",
    );
    assert!(e.contains("not an error status"), "{e}");
    let e = toml_err("default_model = \"x/y\"\n");
    assert!(e.contains("default_model"), "{e}");

    let e = SimConfig::from_json_str("{\n\"models\": [\n{\"id\": 3}]}").unwrap_err();
    assert!(
        matches!(e, SimError::Json { .. }) && e.to_string().contains("line 3"),
        "{e}"
    );
    let e = SimConfig::from_path("/nonexistent/scenario.toml").unwrap_err();
    assert!(matches!(e, SimError::Read { .. }), "{e}");
}

#[test]
fn builder_validates() {
    assert!(SimConfig::builder().time_scale(-1.0).build().is_err());
    let c = SimConfig::builder()
        .port(0)
        .api_key("k")
        .credits(3.0)
        .build()
        .unwrap();
    assert_eq!(c.api_key.as_deref(), Some("k"));
    assert!(c.models.is_empty());
}
