//! The shared store: entries in Redis, the semantic index replayed into each process.
//!
//! Debian's Redis 7.0 has no vector search (`FT.*`, `VADD` are unknown commands), so:
//!
//! - an answer is `SET {prefix}:e:{key} <json> EX <ttl>`;
//! - a semantic record (scope, question text, vector, embedder id, expiry) is appended with
//!   `XADD {prefix}:index MAXLEN ~ <max entries> * …`;
//! - each process reads the stream from where it left off (`XRANGE {prefix}:index (<last id> +`)
//!   before a semantic lookup, into its own in-process index.
//!
//! An index record whose entry has expired in Redis simply misses and is dropped locally.

use std::{
    fmt,
    sync::Mutex,
    time::{Duration, Instant},
};

use orchestra_core::{ChatResponse, Error, ErrorKind, Secret};
use redis::{
    AsyncCommands, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use tokio::sync::OnceCell;

/// A semantic record as stored in the stream.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct IndexRecord {
    pub(crate) key: u128,
    pub(crate) scope: u64,
    pub(crate) query: String,
    pub(crate) vector: Vec<f32>,
    pub(crate) embedder: String,
    pub(crate) expires_ms: u64,
}

/// Records read per `XRANGE` call while catching up.
const BATCH: usize = 1000;

/// A cache must never make a request much slower than no cache: short timeouts, one retry,
/// and after a failed connection Redis is left alone for a while.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(5);

pub(crate) struct RedisStore {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    prefix: String,
    /// The id of the last stream entry read.
    cursor: Mutex<Option<String>>,
    /// One catch-up at a time.
    catching_up: tokio::sync::Mutex<()>,
    /// No connection attempt before this instant (after a failure).
    paused_until: Mutex<Option<Instant>>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &Secret::REDACTED)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn redis_error(error: redis::RedisError) -> Error {
    let kind = if error.is_timeout() {
        ErrorKind::Timeout
    } else if error.is_io_error() || error.is_connection_refusal() || error.is_connection_dropped()
    {
        ErrorKind::Connection
    } else {
        ErrorKind::Server
    };
    // The error text never holds the URL or its password.
    Error::new(kind, format!("redis cache: {:?}", error.kind())).with_source(error)
}

impl RedisStore {
    pub(crate) fn new(url: &Secret, prefix: String) -> Result<Self, Error> {
        let client = redis::Client::open(url.expose()).map_err(|_| {
            Error::config(
                "LLM_CACHE_REDIS_URL is not a usable Redis URL (not shown: it may hold a password)",
            )
        })?;
        Ok(Self {
            client,
            connection: OnceCell::new(),
            prefix,
            cursor: Mutex::new(None),
            catching_up: tokio::sync::Mutex::new(()),
            paused_until: Mutex::new(None),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, Error> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let paused = |store: &Self| {
            store
                .paused_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_some_and(|until| Instant::now() < until)
        };
        if paused(self) {
            return Err(Error::new(
                ErrorKind::Connection,
                "redis cache: unreachable a moment ago; not retried yet",
            ));
        }
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let result = self
            .connection
            .get_or_try_init(|| async {
                self.client
                    .get_connection_manager_with_config(config)
                    .await
                    .map_err(redis_error)
            })
            .await
            .cloned();
        if result.is_err() {
            *self
                .paused_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(Instant::now() + PAUSE_AFTER_FAILURE);
        }
        result
    }

    fn entry_key(&self, key: u128) -> String {
        format!("{}:e:{key:032x}", self.prefix)
    }

    fn stream_key(&self) -> String {
        format!("{}:index", self.prefix)
    }

    pub(crate) async fn get(&self, key: u128) -> Result<Option<ChatResponse>, Error> {
        let mut connection = self.connection().await?;
        let bytes: Option<Vec<u8>> = connection
            .get(self.entry_key(key))
            .await
            .map_err(redis_error)?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|error| {
            Error::new(ErrorKind::Decode, "redis cache: malformed entry").with_source(error)
        })
    }

    pub(crate) async fn put(
        &self,
        key: u128,
        response: &ChatResponse,
        ttl_secs: u64,
        record: Option<&IndexRecord>,
        max_entries: usize,
    ) -> Result<(), Error> {
        let mut connection = self.connection().await?;
        let json = serde_json::to_vec(response).map_err(|error| {
            Error::new(ErrorKind::Decode, "redis cache: cannot encode the response")
                .with_source(error)
        })?;
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.entry_key(key))
            .arg(json)
            .arg("EX")
            .arg(ttl_secs.max(1))
            .ignore();
        if let Some(record) = record {
            let vector: Vec<u8> = record.vector.iter().flat_map(|x| x.to_le_bytes()).collect();
            pipe.cmd("XADD")
                .arg(self.stream_key())
                .arg("MAXLEN")
                .arg("~")
                .arg(max_entries.max(1))
                .arg("*")
                .arg("k")
                .arg(format!("{:032x}", record.key))
                .arg("s")
                .arg(format!("{:016x}", record.scope))
                .arg("q")
                .arg(&record.query)
                .arg("v")
                .arg(vector)
                .arg("e")
                .arg(&record.embedder)
                .arg("x")
                .arg(record.expires_ms)
                .ignore();
        }
        pipe.query_async::<()>(&mut connection)
            .await
            .map_err(redis_error)
    }

    /// Stream records appended since the last call (all of them on the first call).
    pub(crate) async fn updates(&self) -> Result<Vec<IndexRecord>, Error> {
        let _one_at_a_time = self.catching_up.lock().await;
        let mut connection = self.connection().await?;
        let mut records = Vec::new();
        loop {
            let start = match self
                .cursor
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_ref()
            {
                Some(id) => format!("({id}"),
                None => "-".to_owned(),
            };
            let reply: Value = redis::cmd("XRANGE")
                .arg(self.stream_key())
                .arg(start)
                .arg("+")
                .arg("COUNT")
                .arg(BATCH)
                .query_async(&mut connection)
                .await
                .map_err(redis_error)?;
            let entries = parse_xrange(reply);
            let count = entries.len();
            if let Some((id, _)) = entries.last() {
                *self
                    .cursor
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(id.clone());
            }
            records.extend(entries.into_iter().filter_map(|(_, record)| record));
            if count < BATCH {
                return Ok(records);
            }
        }
    }
}

/// `[[id, [field, value, …]], …]` → (id, record) pairs; malformed records are `None`.
fn parse_xrange(reply: Value) -> Vec<(String, Option<IndexRecord>)> {
    let Value::Array(entries) = reply else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|entry| {
            let Value::Array(mut parts) = entry else {
                return None;
            };
            if parts.len() != 2 {
                return None;
            }
            let fields = parts.pop()?;
            let id = bytes(parts.pop()?).and_then(|id| String::from_utf8(id).ok())?;
            Some((id, parse_record(fields)))
        })
        .collect()
}

fn bytes(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.into_bytes()),
        _ => None,
    }
}

fn parse_record(fields: Value) -> Option<IndexRecord> {
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = match fields {
        Value::Array(items) => {
            let mut items = items.into_iter();
            let mut pairs = Vec::new();
            while let (Some(name), Some(value)) = (items.next(), items.next()) {
                pairs.push((bytes(name)?, bytes(value)?));
            }
            pairs
        }
        Value::Map(items) => items
            .into_iter()
            .map(|(name, value)| Some((bytes(name)?, bytes(value)?)))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    let field = |name: &[u8]| {
        pairs
            .iter()
            .find(|(field, _)| field.as_slice() == name)
            .map(|(_, value)| value.as_slice())
    };
    let text = |name: &[u8]| field(name).and_then(|value| std::str::from_utf8(value).ok());
    let vector = field(b"v")?;
    if vector.len() % 4 != 0 {
        return None;
    }
    let vector: Vec<f32> = vector
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect();
    if vector.iter().any(|x| !x.is_finite()) {
        return None;
    }
    Some(IndexRecord {
        key: u128::from_str_radix(text(b"k")?, 16).ok()?,
        scope: u64::from_str_radix(text(b"s")?, 16).ok()?,
        query: text(b"q")?.to_owned(),
        vector,
        embedder: text(b"e")?.to_owned(),
        expires_ms: text(b"x")?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn parses_stream_entries_and_skips_malformed_ones() {
        let vector: Vec<u8> = [0.6f32, 0.8].iter().flat_map(|x| x.to_le_bytes()).collect();
        let good = Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![
                bulk("k"),
                bulk(&format!("{:032x}", 7u128)),
                bulk("s"),
                bulk("00000000000000ff"),
                bulk("q"),
                bulk("What is Rust?"),
                bulk("v"),
                Value::BulkString(vector),
                bulk("e"),
                bulk("lexical-v1-2"),
                bulk("x"),
                bulk("123"),
            ]),
        ]);
        let bad = Value::Array(vec![bulk("2-0"), Value::Array(vec![bulk("k"), bulk("zz")])]);
        let parsed = parse_xrange(Value::Array(vec![good, bad]));
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            parsed[0].1,
            Some(IndexRecord {
                key: 7,
                scope: 255,
                query: "What is Rust?".into(),
                vector: vec![0.6, 0.8],
                embedder: "lexical-v1-2".into(),
                expires_ms: 123,
            })
        );
        assert_eq!(parsed[1], ("2-0".to_owned(), None));
    }
}
