//! The real open-source Portkey gateway on 127.0.0.1, for tests (feature `gateway-harness`).
//!
//! `cargo xtask ci` installs `@portkey-ai/gateway` ([`GATEWAY_VERSION`], with
//! `@hono/node-server` pinned to [`HONO_NODE_SERVER_VERSION`]: newer ones break its
//! streaming) into `target/portkey-gateway` and exports [`INSTALL_DIR_VARIABLE`]. Each
//! [`Gateway`] is one `node` process on a free loopback port, forced onto 127.0.0.1 by the
//! preload `gateway/loopback-only.mjs` (the gateway has no host flag), killed on drop.
//!
//! Like the Redis tests of orchestra-resilience, a missing Node.js or install fails the test
//! with what to run, instead of skipping it.

use std::{
    fs,
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use orchestra_config::EnvSource;

/// The `@portkey-ai/gateway` version tests run against.
pub const GATEWAY_VERSION: &str = "1.15.2";

/// The `@hono/node-server` version pinned with npm `overrides`.
pub const HONO_NODE_SERVER_VERSION: &str = "1.13.5";

/// The variable naming the install directory (the one holding `node_modules`); default
/// `target/portkey-gateway` of this workspace.
pub const INSTALL_DIR_VARIABLE: &str = "ORCHESTRA_PORTKEY_GATEWAY_DIR";

/// How long the gateway may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// One running gateway; killed when dropped.
#[derive(Debug)]
pub struct Gateway {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Gateway {
    /// Starts a gateway on a free port of 127.0.0.1 and waits (bounded) until it accepts
    /// connections.
    ///
    /// # Panics
    ///
    /// When Node.js or the install is missing, or the gateway does not come up: the message
    /// says what to run.
    pub fn start() -> Self {
        let dir = install_dir();
        let entry = dir.join("node_modules/@portkey-ai/gateway/build/start-server.js");
        check_install(&dir, &entry);
        let preload = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway/loopback-only.mjs");
        let port = free_port();
        let logs = dir.join("logs");
        let _ = fs::create_dir_all(&logs);
        let log = logs.join(format!("gateway-{port}.log"));
        let stderr = fs::File::create(&log).map_or_else(|_| Stdio::null(), Stdio::from);
        let spawned = Command::new("node")
            .arg("--import")
            .arg(&preload)
            .arg(&entry)
            .arg(format!("--port={port}"))
            .arg("--headless")
            .env("NODE_ENV", "production")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) => panic!(
                "cannot start `node` ({error}). The Portkey gateway tests need Node.js ≥ 20.6 \
                 with npm (Debian: `apt-get install nodejs npm`), then `cargo xtask ci`, which \
                 installs the gateway into target/portkey-gateway."
            ),
        };
        let mut gateway = Self { child, port, log };
        gateway.wait_until_ready();
        gateway
    }

    /// The OpenAI-compatible base URL: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the gateway wrote to stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_until_ready(&mut self) {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the Portkey gateway exited during start-up ({status}):\n{}",
                    self.log()
                );
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the Portkey gateway did not accept connections on {address} within {:?}:\n{}",
                START_DEADLINE,
                self.log()
            );
            // Polling a port with a deadline; the gateway announces readiness nowhere else.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.log);
    }
}

/// Where the gateway is installed: [`INSTALL_DIR_VARIABLE`], else this workspace's
/// `target/portkey-gateway`.
pub fn install_dir() -> PathBuf {
    orchestra_config::Environment::process()
        .get(INSTALL_DIR_VARIABLE)
        .map(|value| value.value)
        .filter(|value| !value.trim().is_empty())
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/portkey-gateway"),
            PathBuf::from,
        )
}

fn check_install(dir: &Path, entry: &Path) {
    let version = |package: &str| {
        fs::read_to_string(dir.join("node_modules").join(package).join("package.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|json| json.get("version")?.as_str().map(str::to_owned))
    };
    let installed = (version("@portkey-ai/gateway"), version("@hono/node-server"));
    let wanted = (
        Some(GATEWAY_VERSION.to_owned()),
        Some(HONO_NODE_SERVER_VERSION.to_owned()),
    );
    assert!(
        entry.is_file() && installed == wanted,
        "the Portkey gateway {GATEWAY_VERSION} (with @hono/node-server \
         {HONO_NODE_SERVER_VERSION}) is not installed in {} (found {installed:?}). Run \
         `cargo xtask ci` once (it installs it with npm), or set {INSTALL_DIR_VARIABLE} to \
         an install.",
        dir.display()
    );
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("no free loopback port: {error}"))
}
