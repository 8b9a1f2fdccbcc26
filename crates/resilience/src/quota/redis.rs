//! Quotas shared through Redis: the same shapes as the local backend, decided atomically by
//! one Lua script, so any number of processes together stay under a quota.

use std::{sync::Arc, time::Duration};

use orchestra_core::{Error, ErrorKind, Secret};
use redis::{
    Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use tokio::sync::OnceCell;

use super::{BucketShape, Charge, Decision};
use crate::clock::Clock;

/// Admits a request under every quota in `KEYS`, or under none.
///
/// `ARGV[1]` is now in microseconds since the epoch, or `-1` for the server's `TIME`. Then
/// four values per key: the shape (`g` GCRA, `w` window), its period in microseconds (the
/// GCRA emission interval, or the window length), its size (the GCRA burst, or the window
/// limit) and the request's cost. A GCRA key holds the theoretical arrival time; a window
/// key holds the count of window `floor(now / length)` under `key:<window>`.
///
/// Returns `{1}` when admitted (all keys updated), `{0, wait_us, index}` when not (none
/// updated; `index` is the 1-based key that refused longest).
/// The GCRA arithmetic is governor's: a cost `n` passes when
/// `max(tat, now) + n·interval - burst·interval <= now`.
const ACQUIRE: &str = r"
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local wait = 0
local worst = 0
local plan = {}
for i = 1, #KEYS do
  local base = 1 + (i - 1) * 4
  local shape = ARGV[base + 1]
  local period = tonumber(ARGV[base + 2])
  local size = tonumber(ARGV[base + 3])
  local cost = tonumber(ARGV[base + 4])
  if shape == 'g' then
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    local next_tat = tat + cost * period
    local allowed_at = next_tat - size * period
    if allowed_at - now > wait then
      wait = allowed_at - now
      worst = i
    end
    plan[i] = next_tat
  else
    local window = math.floor(now / period)
    local key = KEYS[i] .. ':' .. window
    local count = tonumber(redis.call('GET', key) or 0)
    if count + cost > size and (window + 1) * period - now > wait then
      wait = (window + 1) * period - now
      worst = i
    end
    plan[i] = key
  end
end
if wait > 0 then
  return {0, math.ceil(wait), worst}
end
for i = 1, #KEYS do
  local base = 1 + (i - 1) * 4
  local shape = ARGV[base + 1]
  local period = tonumber(ARGV[base + 2])
  local cost = tonumber(ARGV[base + 4])
  if shape == 'g' then
    local ttl_ms = math.ceil((plan[i] - now) / 1000) + 1000
    redis.call('SET', KEYS[i], string.format('%.0f', plan[i]), 'PX', ttl_ms)
  else
    redis.call('INCRBY', plan[i], cost)
    redis.call('PEXPIRE', plan[i], math.ceil(period / 1000) + 60000)
  end
end
return {1}
";

/// Moves a GCRA key's theoretical arrival time by `ARGV[3]` cells of `ARGV[2]`
/// microseconds (a charge when positive, a refund when negative). `ARGV[1]` is as above.
const ADJUST: &str = r"
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local interval = tonumber(ARGV[2])
local delta = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil then
  if delta < 0 then return 0 end
  tat = now
end
if delta > 0 and tat < now then tat = now end
tat = tat + delta * interval
local ttl_ms = math.ceil((tat - now) / 1000) + 1000
if ttl_ms < 1000 then ttl_ms = 1000 end
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', ttl_ms)
return 1
";

pub(crate) struct RedisBackend {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    prefix: String,
    client_clock: Option<Arc<dyn Clock>>,
    acquire: Script,
    adjust: Script,
}

impl RedisBackend {
    pub(crate) fn new(
        url: &Secret,
        prefix: String,
        client_clock: Option<Arc<dyn Clock>>,
    ) -> Result<Self, Error> {
        // The URL may carry a password: never put it or the parser's echo of it in errors.
        let client = redis::Client::open(url.expose())
            .map_err(|_| Error::config("LLM_RATE_LIMIT_REDIS_URL is not a valid Redis URL"))?;
        Ok(Self {
            client,
            connection: OnceCell::new(),
            prefix,
            client_clock,
            acquire: Script::new(ACQUIRE),
            adjust: Script::new(ADJUST),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, Error> {
        self.connection
            .get_or_try_init(|| async {
                // Fail fast when Redis is down: a quota check must not stall a call for
                // seconds of reconnect backoff (the next call tries again).
                let config = ConnectionManagerConfig::new()
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(100))
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(2)));
                ConnectionManager::new_with_config(self.client.clone(), config)
                    .await
                    .map_err(redis_error)
            })
            .await
            .cloned()
    }

    fn now_argument(&self) -> i64 {
        self.client_clock.as_ref().map_or(-1, |clock| {
            i64::try_from(clock.now().as_micros()).unwrap_or(i64::MAX)
        })
    }

    fn key(&self, bucket_key: &str) -> String {
        format!("{}:{bucket_key}", self.prefix)
    }

    pub(crate) async fn acquire(&self, charges: &[Charge]) -> Result<Decision, Error> {
        let mut connection = self.connection().await?;
        let mut invocation = self.acquire.prepare_invoke();
        invocation.arg(self.now_argument());
        for charge in charges {
            invocation.key(self.key(&charge.bucket.key));
            let (shape, period, size) = match charge.bucket.shape {
                BucketShape::Gcra { interval, burst } => ("g", micros(interval), burst),
                BucketShape::Window { length, limit } => ("w", micros(length), limit),
            };
            invocation.arg(shape).arg(period).arg(size).arg(charge.cost);
        }
        let reply: Vec<i64> = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(redis_error)?;
        match reply.as_slice() {
            [1, ..] => Ok(Decision::Admitted),
            [0, wait_us, index, ..] => {
                let wait = Duration::from_micros(u64::try_from(*wait_us).unwrap_or(1).max(1));
                let bucket = usize::try_from(*index - 1)
                    .ok()
                    .and_then(|index| charges.get(index))
                    .or(charges.first())
                    .map(|charge| Arc::clone(&charge.bucket))
                    .ok_or_else(|| Error::new(ErrorKind::Decode, "empty quota reply"))?;
                Ok(Decision::Wait { wait, bucket })
            }
            _ => Err(Error::new(
                ErrorKind::Decode,
                "unexpected reply from the Redis quota script",
            )),
        }
    }

    pub(crate) async fn adjust(&self, charge: &Charge, delta: i64) -> Result<(), Error> {
        let BucketShape::Gcra { interval, .. } = charge.bucket.shape else {
            return Ok(());
        };
        let mut connection = self.connection().await?;
        let _: i64 = self
            .adjust
            .key(self.key(&charge.bucket.key))
            .arg(self.now_argument())
            .arg(micros(interval))
            .arg(delta)
            .invoke_async(&mut connection)
            .await
            .map_err(redis_error)?;
        Ok(())
    }
}

/// Microseconds, at least 1 (a quota finer than that is treated as 1 µs per cell).
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

fn redis_error(error: redis::RedisError) -> Error {
    let kind =
        if error.is_connection_refusal() || error.is_connection_dropped() || error.is_io_error() {
            ErrorKind::Connection
        } else if error.is_timeout() {
            ErrorKind::Timeout
        } else {
            ErrorKind::Server
        };
    // redis' messages never contain the URL's password; the URL itself is not included.
    Error::new(kind, format!("Redis quota store: {error}"))
        .with_provider("redis")
        .with_source(error)
}
