//! `orchestra sim`: the simulated OpenRouter, from the command line.

use std::{
    io,
    net::{Ipv4Addr, SocketAddr},
};

use orchestra_sim::{SimConfig, Simulator};

use crate::{ExitStatus, Output, cli::SimArgs};

pub(crate) fn run(args: &SimArgs, output: &mut Output<'_>) -> io::Result<ExitStatus> {
    let mut config = match &args.scenario {
        Some(path) => match SimConfig::from_path(path) {
            Ok(config) => config,
            Err(error) => {
                writeln!(output.err, "error: scenario {}: {error}", path.display())?;
                return Ok(ExitStatus::InvalidUsage);
            }
        },
        None => SimConfig::default(),
    };
    config.bind = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    if let Some(key) = &args.api_key {
        config.api_key = Some(key.clone());
    }
    if let Some(scale) = args.time_scale {
        if !(scale.is_finite() && scale > 0.0) {
            writeln!(
                output.err,
                "error: --time-scale must be a number > 0, found {scale}"
            )?;
            return Ok(ExitStatus::InvalidUsage);
        }
        config.time_scale = scale;
    }

    let models: Vec<String> = config.models.iter().map(|model| model.id.clone()).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let simulator = match Simulator::start(config).await {
            Ok(simulator) => simulator,
            Err(error) => {
                writeln!(output.err, "error: cannot start the simulator: {error}")?;
                return Ok(ExitStatus::InvalidUsage);
            }
        };
        // The first stdout line is the contract for scripts: the base URL alone.
        writeln!(output.out, "{}", simulator.base_url())?;
        output.out.flush()?;
        writeln!(
            output.err,
            "orchestra sim: serving {} model(s): {}",
            models.len(),
            models.join(", ")
        )?;
        writeln!(
            output.err,
            "  OpenAI-compatible base: {}",
            simulator.openai_base_url()
        )?;
        writeln!(
            output.err,
            "  control API:            {}",
            simulator.control_url()
        )?;
        writeln!(
            output.err,
            "  try: OPENROUTER_BASE_URL={} orchestra config check",
            simulator.base_url()
        )?;
        writeln!(output.err, "Press Ctrl-C to stop.")?;
        match simulator.serve_until_ctrl_c().await {
            Ok(()) => Ok(ExitStatus::Success),
            Err(error) => {
                writeln!(output.err, "error: {error}")?;
                Ok(ExitStatus::InvalidUsage)
            }
        }
    })
}
