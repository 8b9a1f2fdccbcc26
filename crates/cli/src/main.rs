//! The `orchestra` binary: parse arguments, load the environment, run, exit.

use std::{io, process::ExitCode};

use clap::Parser;
use orchestra_cli::{Cli, ExitStatus, print_config_errors, run};
use orchestra_config::Environment;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let environment = match &cli.env_file {
        Some(path) => Environment::with_dotenv(path),
        None => Environment::with_default_dotenv(),
    };
    let status = match environment {
        Ok(environment) => run(
            &cli,
            &environment,
            &mut io::stdout().lock(),
            &mut io::stderr().lock(),
        ),
        Err(errors) => {
            let _ = print_config_errors(&errors, &mut io::stderr().lock());
            ExitStatus::InvalidUsage
        }
    };
    ExitCode::from(status.code())
}
