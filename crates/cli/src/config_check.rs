//! `orchestra config check`.

use std::io::{self, Write};

use orchestra_config::{ConfigErrors, EnvSource, Loaded, Settings};
use serde_json::json;

use crate::{ExitStatus, Output, cli::ConfigCheckArgs};

pub(crate) fn run(
    args: &ConfigCheckArgs,
    source: &dyn EnvSource,
    output: &mut Output<'_>,
) -> io::Result<ExitStatus> {
    match Settings::load(source) {
        Ok(loaded) if args.json => {
            let report = json!({
                "valid": true,
                "settings": loaded.settings,
                "sources": sources(source),
                "default_route": loaded.settings.route(None),
                "agent_routes": loaded
                    .settings
                    .agent_model_map
                    .keys()
                    .map(|agent| (agent.clone(), json!(loaded.settings.route(Some(agent)))))
                    .collect::<serde_json::Map<_, _>>(),
                "warnings": loaded.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
            });
            writeln!(output.out, "{}", serde_json::to_string_pretty(&report)?)?;
            Ok(ExitStatus::Success)
        }
        Ok(loaded) => {
            print_text(&loaded, source, output.out)?;
            for warning in &loaded.warnings {
                writeln!(output.err, "warning: {warning}")?;
            }
            Ok(ExitStatus::Success)
        }
        Err(errors) => {
            if args.json {
                let report = json!({ "valid": false, "errors": error_list(&errors) });
                writeln!(output.out, "{}", serde_json::to_string_pretty(&report)?)?;
            }
            crate::print_config_errors(&errors, output.err)?;
            Ok(ExitStatus::InvalidUsage)
        }
    }
}

fn print_text(loaded: &Loaded, source: &dyn EnvSource, out: &mut dyn Write) -> io::Result<()> {
    let settings = &loaded.settings;
    writeln!(out, "Configuration is valid.\n")?;
    let described = settings.describe();
    let width = described
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    for (name, value) in &described {
        let origin = source
            .get(name)
            .filter(|value| !value.value.trim().is_empty())
            .map_or_else(|| "default".to_owned(), |value| value.origin.to_string());
        writeln!(out, "  {name:<width$}  {value}  ({origin})")?;
    }
    writeln!(out, "\nRoutes ({}):", settings.preferred_provider)?;
    let agents = std::iter::once(None).chain(
        settings
            .agent_model_map
            .keys()
            .map(|agent| Some(agent.as_str())),
    );
    for agent in agents {
        writeln!(
            out,
            "  {:<14} {}",
            agent.unwrap_or("(default)"),
            settings.route(agent)
        )?;
    }
    Ok(())
}

fn sources(source: &dyn EnvSource) -> serde_json::Map<String, serde_json::Value> {
    orchestra_config::VARIABLES
        .iter()
        .filter_map(|variable| {
            let value = source.get(variable.name)?;
            (!value.value.trim().is_empty())
                .then(|| (variable.name.to_owned(), json!(value.origin.to_string())))
        })
        .collect()
}

fn error_list(errors: &ConfigErrors) -> Vec<serde_json::Value> {
    errors
        .errors()
        .iter()
        .map(|error| {
            json!({
                "variable": error.variable(),
                "path": error.path(),
                "message": error.problem().to_string(),
            })
        })
        .collect()
}
