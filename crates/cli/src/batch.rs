//! `orchestra batch`: many prompts through one client, results in input order.

use std::{
    fs::File,
    io::{self, BufRead, BufReader, BufWriter, Write},
    time::Instant,
};

use futures_util::StreamExt;
use orchestra_config::EnvSource;
use orchestra_core::{ChatRequest, Error, Message, Provider};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    ExitStatus, Output, cli::BatchArgs, progress::Progress, session::Session, summary::Summary,
};

/// One input line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    messages: Option<Vec<Message>>,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    model: Option<String>,
}

/// A line ready to send, or why it cannot be.
struct Job {
    id: Value,
    request: Result<ChatRequest, String>,
}

pub(crate) fn run(
    args: &BatchArgs,
    source: &dyn EnvSource,
    output: &mut Output<'_>,
) -> io::Result<ExitStatus> {
    if args.concurrency == 0 {
        writeln!(output.err, "error: --concurrency must be at least 1")?;
        return Ok(ExitStatus::InvalidUsage);
    }
    let input: Box<dyn BufRead> = if args.input.as_os_str() == "-" {
        Box::new(BufReader::new(io::stdin()))
    } else {
        match File::open(&args.input) {
            Ok(file) => Box::new(BufReader::new(file)),
            Err(error) => {
                writeln!(
                    output.err,
                    "error: cannot read {}: {error}",
                    args.input.display()
                )?;
                return Ok(ExitStatus::InvalidUsage);
            }
        }
    };
    let mut jobs = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        jobs.push(job(&line, index + 1, args));
    }
    let mut results: Box<dyn Write> = match &args.output {
        Some(path) => match File::create(path) {
            Ok(file) => Box::new(BufWriter::new(file)),
            Err(error) => {
                writeln!(
                    output.err,
                    "error: cannot write {}: {error}",
                    path.display()
                )?;
                return Ok(ExitStatus::InvalidUsage);
            }
        },
        None => Box::new(&mut *output.out),
    };
    let session = match Session::open(
        source,
        &mut Output {
            out: &mut io::sink(),
            err: &mut *output.err,
        },
    )? {
        Ok(session) => session,
        Err(status) => return Ok(status),
    };
    let progress = Progress::new(jobs.len() as u64, "batch");
    let started = Instant::now();
    let concurrency = usize::try_from(args.concurrency).unwrap_or(usize::MAX);
    let client = &session.client;
    let mut failed = 0_usize;
    let written: io::Result<()> = session.runtime.block_on(async {
        // `buffered` keeps input order while up to `concurrency` requests are in flight.
        let mut answers = futures_util::stream::iter(jobs)
            .map(|job| async move {
                let sent = Instant::now();
                let result = match &job.request {
                    Ok(request) => client.chat(request).await.map_err(Failure::Call),
                    Err(problem) => Err(Failure::Input(problem.clone())),
                };
                (job.id, result, sent.elapsed())
            })
            .buffered(concurrency);
        while let Some((id, result, elapsed)) = answers.next().await {
            progress.advance(result.is_ok());
            let line = match result {
                Ok(response) => {
                    let mut report = crate::chat::report(&response, elapsed);
                    report["id"] = id;
                    report
                }
                Err(failure) => {
                    failed += 1;
                    json!({ "id": id, "error": failure.to_json() })
                }
            };
            writeln!(results, "{}", serde_json::to_string(&line)?)?;
        }
        results.flush()
    });
    progress.finish();
    drop(results);
    written?;
    Summary::of(client, started.elapsed(), None).print(output.err)?;
    Ok(if failed == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::RequestFailed
    })
}

fn job(text: &str, line_number: usize, args: &BatchArgs) -> Job {
    let fallback_id = json!(line_number);
    let line: Line = match serde_json::from_str(text) {
        Ok(line) => line,
        Err(error) => {
            return Job {
                id: fallback_id,
                request: Err(format!(
                    "line {line_number} is not a valid input object: {error}"
                )),
            };
        }
    };
    let id = line.id.unwrap_or(fallback_id);
    let messages = match (line.prompt, line.messages) {
        (Some(prompt), None) if !prompt.trim().is_empty() => {
            let mut messages = Vec::with_capacity(2);
            if let Some(system) = &args.system {
                messages.push(Message::system(system.clone()));
            }
            messages.push(Message::user(prompt));
            messages
        }
        (None, Some(messages)) if !messages.is_empty() => messages,
        (Some(_), Some(_)) => {
            return Job {
                id,
                request: Err(format!(
                    "line {line_number} has both `prompt` and `messages`"
                )),
            };
        }
        _ => {
            return Job {
                id,
                request: Err(format!(
                    "line {line_number} needs a non-empty `prompt` or `messages`"
                )),
            };
        }
    };
    let mut request = ChatRequest::new(messages);
    if let Some(agent) = line.agent {
        request = request.agent_type(agent);
    }
    if let Some(model) = line.model {
        request = request.model(model);
    }
    if let Some(max_tokens) = args.max_tokens {
        request = request.max_tokens(max_tokens);
    }
    Job {
        id,
        request: Ok(request),
    }
}

enum Failure {
    Input(String),
    Call(Error),
}

impl Failure {
    fn to_json(&self) -> Value {
        match self {
            Failure::Input(problem) => json!({ "kind": "invalid_input", "message": problem }),
            Failure::Call(error) => json!({
                "kind": error.kind().as_str(),
                "message": error.to_string(),
                "status": error.status(),
                "retry_after_ms": error.retry_after().map(|wait| wait.as_millis()),
                "attempts": error.attempts(),
            }),
        }
    }
}
