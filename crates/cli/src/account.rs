//! `orchestra credits` and `orchestra models`.

use std::io::{self, Write};

use orchestra_config::EnvSource;
use orchestra_core::{Decimal, ModelInfo};
use orchestra_llm::CreditStatus;
use orchestra_provider_openrouter::{CreditReport, QuotaBasis};
use orchestra_provider_portkey::PortkeyCreditReport;

use crate::{
    ExitStatus, Output,
    cli::{CreditsArgs, ModelsArgs},
    session::{Session, report_failure},
};

pub(crate) fn credits(
    args: &CreditsArgs,
    source: &dyn EnvSource,
    output: &mut Output<'_>,
) -> io::Result<ExitStatus> {
    let session = match Session::open(source, output)? {
        Ok(session) => session,
        Err(status) => return Ok(status),
    };
    let status = match session.runtime.block_on(session.client.monitor_credits()) {
        Ok(status) => status,
        Err(error) => return report_failure(&error, output.err),
    };
    match &status {
        CreditStatus::OpenRouter(report) if args.json => {
            writeln!(output.out, "{}", serde_json::to_string_pretty(report)?)?;
        }
        CreditStatus::OpenRouter(report) => print_credits(report, output.out)?,
        CreditStatus::Portkey(report) if args.json => {
            writeln!(output.out, "{}", serde_json::to_string_pretty(report)?)?;
        }
        CreditStatus::Portkey(report) => print_portkey_credits(report, output.out)?,
        _ => {
            writeln!(output.err, "error: this provider reports no credits")?;
            return Ok(ExitStatus::RequestFailed);
        }
    }
    Ok(ExitStatus::Success)
}

fn usd(amount: f64) -> String {
    format!("{amount:.2} USD")
}

fn print_credits(report: &CreditReport, out: &mut dyn Write) -> io::Result<()> {
    let mut rows: Vec<(&str, String)> = Vec::new();
    match (report.balance(), &report.account_unavailable) {
        (Some(balance), _) => rows.push((
            "Account balance",
            format!(
                "{} ({} bought, {} used)",
                usd(balance),
                report.total_credits.map_or_else(String::new, usd),
                report.total_usage.map_or_else(String::new, usd),
            ),
        )),
        (None, Some(why)) => rows.push(("Account balance", format!("unknown: {why}"))),
        (None, None) => rows.push(("Account balance", "unknown".to_owned())),
    }
    if let Some(key) = &report.key {
        let limit = match (key.limit, key.limit_remaining) {
            (Some(limit), Some(remaining)) => format!(
                "{}, {} remaining{}",
                usd(limit),
                usd(remaining),
                key.limit_reset
                    .as_deref()
                    .map_or_else(String::new, |reset| format!(" (resets {reset})"))
            ),
            (Some(limit), None) => usd(limit),
            _ => "none".to_owned(),
        };
        rows.push(("Key limit", limit));
        let windows = [
            ("today", key.usage_daily),
            ("this week", key.usage_weekly),
            ("this month", key.usage_monthly),
            ("all time", key.usage),
        ];
        let spent: Vec<String> = windows
            .iter()
            .filter_map(|(label, amount)| amount.map(|amount| format!("{} {label}", usd(amount))))
            .collect();
        if !spent.is_empty() {
            rows.push(("Key spend", spent.join(", ")));
        }
        if let Some(free) = key.is_free_tier {
            rows.push((
                "Free tier",
                if free {
                    "yes (never bought credits)"
                } else {
                    "no"
                }
                .to_owned(),
            ));
        }
    } else if let Some(why) = &report.key_unavailable {
        rows.push(("Key", format!("unknown: {why}")));
    }
    if let Some(spendable) = report.spendable() {
        rows.push(("Spendable now", usd(spendable)));
    }
    let quota = &report.free_models;
    let basis = match quota.basis {
        QuotaBasis::PurchasedCredits { total_credits } => {
            format!("{} bought", usd(total_credits))
        }
        QuotaBasis::FreeTier => "free tier".to_owned(),
        _ => "amount bought unknown; the lower quota is assumed".to_owned(),
    };
    rows.push((
        "Free-model quota",
        format!(
            "{}/minute, {}/day ({basis})",
            quota.requests_per_minute, quota.requests_per_day
        ),
    ));
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    for (label, value) in rows {
        writeln!(out, "{label:<width$}  {value}")?;
    }
    Ok(())
}

/// The Portkey report: this process's usage ledger (the gateway has no balance API), then
/// each OpenRouter account behind a target.
fn print_portkey_credits(report: &PortkeyCreditReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "Gateway          {} (no balance API: usage below is what this client received)",
        report.gateway
    )?;
    writeln!(
        out,
        "Responses        {} ({} failed), {} prompt + {} completion tokens, {} reported",
        report.responses,
        report.failures,
        report.prompt_tokens,
        report.completion_tokens,
        usd(report.cost_usd)
    )?;
    for target in &report.targets {
        writeln!(
            out,
            "  {} via {}: {} responses, {} failed, fallen back past {} times, {} tokens, {}",
            target.model,
            target.provider,
            target.responses,
            target.failures,
            target.fallen_back,
            target.prompt_tokens + target.completion_tokens,
            usd(target.cost_usd)
        )?;
    }
    if report.openrouter.is_empty() {
        writeln!(out, "OpenRouter       no target carries an OpenRouter key")?;
    }
    for account in &report.openrouter {
        writeln!(
            out,
            "OpenRouter       {} (for {})",
            account.base_url,
            account.models.join(", ")
        )?;
        match (&account.report, &account.unavailable) {
            (Some(report), _) => {
                let mut table = Vec::new();
                print_credits(report, &mut table)?;
                for line in String::from_utf8_lossy(&table).lines() {
                    writeln!(out, "  {line}")?;
                }
            }
            (None, Some(why)) => writeln!(out, "  unknown: {why}")?,
            (None, None) => writeln!(out, "  unknown")?,
        }
    }
    Ok(())
}

pub(crate) fn models(
    args: &ModelsArgs,
    source: &dyn EnvSource,
    output: &mut Output<'_>,
) -> io::Result<ExitStatus> {
    let session = match Session::open(source, output)? {
        Ok(session) => session,
        Err(status) => return Ok(status),
    };
    let mut models = match session
        .runtime
        .block_on(session.backend.as_provider().models())
    {
        Ok(models) => models,
        Err(error) => return report_failure(&error, output.err),
    };
    if args.free {
        models.retain(ModelInfo::is_free);
    }
    models.sort_by(|a, b| a.id.cmp(&b.id));
    if args.json {
        writeln!(output.out, "{}", serde_json::to_string_pretty(&models)?)?;
    } else {
        print_models(&models, output.out)?;
    }
    Ok(ExitStatus::Success)
}

fn print_models(models: &[ModelInfo], out: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<[String; 4]> = models
        .iter()
        .map(|model| {
            let (prompt, completion) = match model.pricing {
                Some(pricing) => (per_million(pricing.prompt), per_million(pricing.completion)),
                None => ("variable".to_owned(), "variable".to_owned()),
            };
            [
                model.id.clone(),
                model
                    .context_length
                    .map_or_else(|| "?".to_owned(), |tokens| tokens.to_string()),
                prompt,
                completion,
            ]
        })
        .collect();
    let header = ["MODEL", "CONTEXT", "PROMPT $/M", "COMPLETION $/M"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let [id_w, ctx_w, prompt_w, completion_w] = widths;
    writeln!(
        out,
        "{:<id_w$}  {:>ctx_w$}  {:>prompt_w$}  {:>completion_w$}",
        header[0], header[1], header[2], header[3]
    )?;
    for [id, context, prompt, completion] in &rows {
        writeln!(
            out,
            "{id:<id_w$}  {context:>ctx_w$}  {prompt:>prompt_w$}  {completion:>completion_w$}"
        )?;
    }
    writeln!(out, "{} model(s)", rows.len())
}

/// A per-token price as USD per million tokens, exactly (no float rounding).
fn per_million(per_token: Decimal) -> String {
    (per_token * Decimal::from(1_000_000u32))
        .normalize()
        .to_string()
}
