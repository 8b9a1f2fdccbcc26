//! The `orchestra` command-line tool, as a library so that tests run it in-process with an
//! in-memory environment.
//!
//! ```
//! use clap::Parser;
//! use orchestra_cli::{Cli, ExitStatus, run};
//! use orchestra_config::MapEnv;
//!
//! let cli = Cli::parse_from(["orchestra", "config", "check"]);
//! let env = MapEnv::from_iter([("LLM_MAX_RETRIES", "5")]);
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! let status = run(&cli, &env, &mut out, &mut err);
//! assert_eq!(status, ExitStatus::Success);
//! assert!(String::from_utf8(out).unwrap().contains("LLM_MAX_RETRIES"));
//! ```

#![forbid(unsafe_code)]

mod account;
mod batch;
mod chat;
mod cli;
mod config_check;
mod demo;
mod progress;
mod session;
mod sim;
mod summary;

use std::io::{self, Write};

pub use cli::{
    BatchArgs, ChatArgs, Cli, Command, ConfigCheckArgs, ConfigCommand, CreditsArgs, DemoArgs,
    ModelsArgs, SimArgs,
};
use orchestra_config::ConfigErrors;

/// The process exit status of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitStatus {
    /// 0: success.
    Success,
    /// 1: the request failed after every attempt.
    RequestFailed,
    /// 2: invalid configuration or usage.
    InvalidUsage,
}

impl ExitStatus {
    /// The numeric exit code.
    pub const fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::RequestFailed => 1,
            ExitStatus::InvalidUsage => 2,
        }
    }
}

pub(crate) struct Output<'a> {
    pub(crate) out: &'a mut dyn Write,
    pub(crate) err: &'a mut dyn Write,
}

/// Runs `cli` with variables from `source`, writing results to `out` and diagnostics to `err`.
///
/// Never panics on bad input: configuration problems become [`ExitStatus::InvalidUsage`] with
/// every problem on `err`.
pub fn run(
    cli: &Cli,
    source: &dyn orchestra_config::EnvSource,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitStatus {
    let mut output = Output { out, err };
    let result = match &cli.command {
        Command::Config(ConfigCommand::Check(args)) => config_check::run(args, source, &mut output),
        Command::Chat(args) => chat::run(args, source, &mut output),
        Command::Credits(args) => account::credits(args, source, &mut output),
        Command::Models(args) => account::models(args, source, &mut output),
        Command::Sim(args) => sim::run(args, &mut output),
        Command::Demo(args) => demo::run(args, &mut output),
        Command::Batch(args) => batch::run(args, source, &mut output),
    };
    match result {
        Ok(status) => status,
        // Output is gone (closed pipe and the like): nothing more can be reported.
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitStatus::Success,
        Err(error) => {
            let _ = writeln!(output.err, "error: cannot write output: {error}");
            ExitStatus::RequestFailed
        }
    }
}

/// Prints configuration problems, one `error:` line each (JSON snippets indented below).
pub fn print_config_errors(errors: &ConfigErrors, err: &mut dyn Write) -> io::Result<()> {
    for error in errors.errors() {
        writeln!(err, "error: {error}")?;
    }
    let count = errors.len();
    writeln!(
        err,
        "\n{count} configuration problem{} found; see docs/configuration.md",
        if count == 1 { "" } else { "s" }
    )
}
