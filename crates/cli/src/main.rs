//! The `orchestra` binary: parse arguments, load the environment, run, exit.

use std::{io, process::ExitCode};

use clap::Parser;
use orchestra_cli::{Cli, ExitStatus, print_config_errors, run};
use orchestra_config::Environment;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `RUST_LOG=orchestra=debug` (any tracing-subscriber filter) logs to stderr; nothing
    // is logged without it. Keys never appear: they are `Secret`s everywhere.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(io::stderr)
            .init();
    }
    let environment = match &cli.env_file {
        Some(path) => Environment::with_dotenv(path),
        None => Environment::with_default_dotenv(),
    };
    let status = match environment {
        Ok(environment) => run(
            &cli,
            &environment,
            &mut io::stdout().lock(),
            // Not locked for the whole run: log lines from other threads go to stderr too.
            &mut io::stderr(),
        ),
        Err(errors) => {
            let _ = print_config_errors(&errors, &mut io::stderr().lock());
            ExitStatus::InvalidUsage
        }
    };
    ExitCode::from(status.code())
}
