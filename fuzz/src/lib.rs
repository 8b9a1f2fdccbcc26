//! What the fuzz targets share: turning fuzz bytes into chunkings and environments, a
//! minimal error mapper, and a runtime for the async APIs.

use std::sync::{Arc, Mutex, OnceLock};

use orchestra_core::{Error, ErrorKind};
use orchestra_openai_compat::{ErrorMapper, Failure, StreamObserver, StreamOutcome, body_message};

/// `bytes` cut into pieces whose lengths come from `seed` (0 to 16 bytes, sometimes 0, so
/// empty reads are covered too). The same seed and bytes always give the same pieces.
pub fn split(seed: u8, bytes: &[u8]) -> Vec<&[u8]> {
    let mut state = u32::from(seed) | 0x9e37_7900;
    let mut pieces = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let size = (state % 17) as usize;
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// Records separated by NUL (a byte no environment value can hold): the first byte of each
/// picks a name from `names`, the rest (as lossy UTF-8) is its value.
pub fn env_pairs(data: &[u8], names: &[&str]) -> Vec<(String, String)> {
    data.split(|&byte| byte == 0)
        .filter_map(|record| {
            let (&pick, value) = record.split_first()?;
            let name = names[usize::from(pick) % names.len()];
            Some((name.to_owned(), String::from_utf8_lossy(value).into_owned()))
        })
        .collect()
}

/// Maps by status only, as a provider with no vocabulary of its own would.
#[derive(Debug)]
pub struct Mapper;

impl ErrorMapper for Mapper {
    fn provider(&self) -> &str {
        "fuzz"
    }

    fn service(&self) -> &str {
        "the fuzzed server"
    }

    fn map(&self, failure: Failure<'_>) -> Error {
        let status = failure.http_status.unwrap_or(500);
        let message = failure
            .error
            .and_then(|error| error.message.clone())
            .unwrap_or_else(|| body_message(failure.body, failure.http_status));
        Error::new(ErrorKind::from_status(status), message).with_provider("fuzz")
    }
}

/// How a stream ended, as its observer heard it: `Ok` per success, the kind per failure.
#[derive(Clone, Debug, Default)]
pub struct Endings(pub Arc<Mutex<Vec<Result<(), ErrorKind>>>>);

impl Endings {
    /// Everything heard so far.
    pub fn heard(&self) -> Vec<Result<(), ErrorKind>> {
        self.0.lock().map(|heard| heard.clone()).unwrap_or_default()
    }
}

impl StreamObserver for Endings {
    fn succeeded(&mut self, _outcome: &StreamOutcome<'_>) {
        if let Ok(mut heard) = self.0.lock() {
            heard.push(Ok(()));
        }
    }

    fn failed(&mut self, error: &Error) {
        if let Ok(mut heard) = self.0.lock() {
            heard.push(Err(error.kind()));
        }
    }
}

/// One single-threaded Tokio runtime for the whole fuzzing process.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime starts")
    })
}

/// A recognisable credential: the targets append it to every secret value they set and
/// fail if it shows anywhere a person or a log could read it.
pub const CANARY: &str = "sk-canary-7f3a9c0e";

/// The credential variables whose values are exactly a secret.
pub const SECRET_NAMES: &[&str] = &[
    "OPENROUTER_API_KEY",
    "PORTKEY_API_KEY",
    "VIRTUAL_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GROQ_API_KEY",
];

/// [`env_pairs`] with [`CANARY`] appended to every value of a [`SECRET_NAMES`] variable;
/// also whether the canary can only have come from there (no other value spells it).
pub fn env_with_canary(data: &[u8], names: &[&str]) -> (Vec<(String, String)>, bool) {
    let mut pairs = env_pairs(data, names);
    let mut clean = true;
    for (name, value) in &mut pairs {
        if SECRET_NAMES.contains(&name.as_str()) {
            value.push_str(CANARY);
        } else if value.contains("canary") {
            clean = false;
        }
    }
    (pairs, clean)
}
