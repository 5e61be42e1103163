//! A real `redis-server` on a free loopback port for tests, stopped (and restartable) by the test.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::config::CacheConfig;

/// A `redis-server` child process; killed on drop.
pub(crate) struct RedisServer {
    pub(crate) port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts `redis-server` without persistence on a free port. Panics with a clear message
    /// when the binary is missing: these tests must run, not be skipped.
    pub(crate) async fn start() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut server = RedisServer { port, child: None };
        server.restart().await;
        server
    }

    /// `redis://127.0.0.1:{port}`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (its data is gone: no persistence).
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and waits until it answers.
    pub(crate) async fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): install it with `apt-get install -y redis-server`")
            });
        self.child = Some(child);
        for _ in 0..200 {
            if let Ok(mut conn) = self.connection().await
                && redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    /// A plain connection for inspecting what the gateway wrote.
    pub(crate) async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.url())?
            .get_multiplexed_async_connection()
            .await
    }

    /// A `[cache]` section for this server with `keys` (base64) and fast failure settings.
    pub(crate) fn config(&self, keys: &[&str]) -> CacheConfig {
        let keys: Vec<String> = keys.iter().map(|k| format!("{{ value = \"{k}\" }}")).collect();
        let toml = format!(
            "[redis]\nurl = \"{}\"\nencryption_keys = [{}]\nbreaker_open_secs = 1\nlock_ttl_ms = 2000",
            self.url(),
            keys.join(", ")
        );
        figment::Figment::new()
            .merge(<figment::providers::Toml as figment::providers::Format>::string(&toml))
            .extract()
            .expect("a valid [cache] section")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A base64 AES-256 key made of one repeated byte.
pub(crate) fn key_b64(byte: u8) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}
