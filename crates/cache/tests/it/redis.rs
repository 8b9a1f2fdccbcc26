//! The shared store against a real `redis-server` (Debian's 7.0 in CI), started on a free
//! loopback port for each test and killed afterwards. A missing `redis-server` fails the
//! test with how to get it (`cargo xtask ci` installs it), the convention of
//! orchestra-resilience's Redis tests.

use std::process::Stdio;

use orchestra_cache::{CacheMode, ResponseCache};
use orchestra_core::{
    CacheStatus, ChatRequest, ChatResponse, ChatStream, Choice, Error, FinishReason, Message,
    Provider, Secret,
};

/// A `redis-server` child process without persistence, killed on drop.
struct RedisServer {
    child: std::process::Child,
    port: u16,
}

impl RedisServer {
    fn start() -> RedisServer {
        use std::io::{BufRead, BufReader};

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap();
        let spawned = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => panic!(
                "cannot start `redis-server` ({error}). The shared-cache tests need it: \
                 `apt-get install redis-server` (Debian), or run `cargo xtask ci`, which \
                 installs it."
            ),
        };
        // Readiness is announced on stdout: read until then instead of sleeping.
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines
            .by_ref()
            .any(|line| line.is_ok_and(|line| line.contains("Ready to accept connections")));
        assert!(ready, "redis-server exited before it was ready");
        std::thread::spawn(move || for _ in lines {});
        RedisServer { child, port }
    }

    fn url(&self) -> Secret {
        Secret::new(format!("redis://127.0.0.1:{}/0", self.port))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counts its calls and answers with the question.
#[derive(Default)]
struct Counting(std::sync::atomic::AtomicU32);

#[async_trait::async_trait]
impl Provider for Counting {
    fn name(&self) -> &str {
        "counting"
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let text = request.last_user_text().unwrap_or_default().into_owned();
        let choice = Choice::new(
            0,
            Message::assistant(format!("re: {text}")),
            Some(FinishReason::Stop),
        );
        Ok(ChatResponse::new("gen", "m", "counting", vec![choice]))
    }

    async fn chat_stream(&self, _: &ChatRequest) -> Result<ChatStream, Error> {
        Err(Error::unsupported("stream"))
    }
}

fn shared_cache(server: &RedisServer) -> ResponseCache {
    ResponseCache::builder()
        .mode(CacheMode::Semantic)
        .redis_url(server.url())
        .redis_prefix("test")
        .build()
        .unwrap()
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new(vec![Message::user(text)]).model("m")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_caches_share_exact_and_semantic_entries_through_redis() {
    let server = RedisServer::start();
    // Two caches stand for two processes: they share nothing but Redis.
    let (first, second) = (shared_cache(&server), shared_cache(&server));
    let upstream = std::sync::Arc::new(Counting::default());
    let a = first.wrap(std::sync::Arc::clone(&upstream));
    let b = second.wrap(std::sync::Arc::clone(&upstream));

    let asked = a.chat(&ask("How do I learn Python?")).await.unwrap();
    assert_eq!(asked.metadata.cache, CacheStatus::Miss);
    let exact = b.chat(&ask("How do I learn Python?")).await.unwrap();
    assert_eq!(exact.metadata.cache, CacheStatus::Hit);
    assert_eq!(exact.content(), asked.content());
    let reworded = b.chat(&ask("how can I learn python")).await.unwrap();
    assert!(
        matches!(reworded.metadata.cache, CacheStatus::SemanticHit { .. }),
        "{:?}",
        reworded.metadata
    );
    let other = b.chat(&ask("How do I learn Java?")).await.unwrap();
    assert_eq!(other.metadata.cache, CacheStatus::Miss);
    // And back: what the second process stored, the first finds.
    let java = a.chat(&ask("how do i learn java")).await.unwrap();
    assert!(matches!(
        java.metadata.cache,
        CacheStatus::SemanticHit { .. }
    ));
    assert_eq!(upstream.0.load(std::sync::atomic::Ordering::SeqCst), 2);

    // Entries carry the TTL in Redis.
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/0", server.port)).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("test:e:*")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2);
    let ttl: i64 = redis::cmd("TTL")
        .arg(&keys[0])
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(ttl > 3500 && ttl <= 3600, "{ttl}");
    let stream_length: u64 = redis::cmd("XLEN")
        .arg("test:index")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(stream_length, 2);

    // An entry gone from Redis (expired, flushed) is a miss, not an error.
    let _: () = redis::cmd("FLUSHDB")
        .query_async(&mut connection)
        .await
        .unwrap();
    let gone = b.chat(&ask("How do I learn Python?")).await.unwrap();
    assert_eq!(gone.metadata.cache, CacheStatus::Miss);
    assert_eq!(second.stats().errors, 0);
}

#[tokio::test]
async fn an_unreachable_redis_degrades_to_no_cache() {
    let server = RedisServer::start();
    let cache = shared_cache(&server);
    drop(server);
    let upstream = Counting::default();
    let provider = cache.wrap(upstream);
    for _ in 0..2 {
        let response = provider.chat(&ask("Still there?")).await.unwrap();
        assert_eq!(response.metadata.cache, CacheStatus::Miss);
    }
    assert!(cache.stats().errors >= 2);
    assert!(!format!("{cache:?}").contains("127.0.0.1"));
}
