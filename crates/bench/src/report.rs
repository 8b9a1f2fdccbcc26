//! Results as JSON and markdown.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

/// One target of issue 10, checked.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Check {
    pub(crate) what: String,
    pub(crate) target: String,
    pub(crate) measured: String,
    pub(crate) met: bool,
}

impl Check {
    pub(crate) fn new(
        what: impl Into<String>,
        target: impl Into<String>,
        measured: impl Into<String>,
        met: bool,
    ) -> Self {
        Self {
            what: what.into(),
            target: target.into(),
            measured: measured.into(),
            met,
        }
    }
}

/// One measurement: its tables, raw figures and checked targets.
#[derive(Debug, Serialize)]
pub(crate) struct Section {
    pub(crate) id: &'static str,
    pub(crate) title: String,
    #[serde(skip)]
    pub(crate) markdown: String,
    pub(crate) results: Value,
    pub(crate) checks: Vec<Check>,
}

/// Where and how the figures were taken.
#[derive(Debug, Serialize)]
pub(crate) struct Machine {
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) memory_gib: f64,
    pub(crate) kernel: String,
    pub(crate) load_before: String,
    pub(crate) load_after: String,
}

impl Machine {
    pub(crate) fn probe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split(':').nth(1))
            .map_or_else(|| "unknown".to_owned(), |name| name.trim().to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<f64>().ok())
            .unwrap_or(0.0);
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            load_before: load_average(),
            load_after: String::new(),
        }
    }
}

/// `/proc/loadavg`'s three averages.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Everything one run measured.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) command: String,
    pub(crate) quick: bool,
    pub(crate) machine: Machine,
    pub(crate) sections: Vec<Section>,
}

impl Report {
    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "Machine: {} × {}, {:.0} GiB, Linux {}; load average {} before, {} after.  ",
            m.cores, m.cpu, m.memory_gib, m.kernel, m.load_before, m.load_after
        );
        let _ = writeln!(out, "Command: `{}`.\n", self.command);
        let _ = writeln!(out, "### Targets\n");
        let _ = writeln!(out, "| Measurement | What | Target | Measured | Met |");
        let _ = writeln!(out, "| --- | --- | --- | --- | --- |");
        for section in &self.sections {
            for check in &section.checks {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    section.title,
                    check.what,
                    check.target,
                    check.measured,
                    if check.met { "yes" } else { "**no**" }
                );
            }
        }
        for section in &self.sections {
            let _ = writeln!(
                out,
                "\n### {}\n\n{}",
                section.title,
                section.markdown.trim_end()
            );
        }
        out
    }
}
