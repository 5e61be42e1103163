//! The gateway's link to Redis: one multiplexed connection, a tight timeout on every command,
//! a circuit breaker, hashed key names, and errors turned into "no answer" plus a metric.
//!
//! Every user of Redis (token cache, mailbox slots, rate limits) treats it as optional: a
//! command that fails, times out or is skipped by the open breaker yields `None` and the
//! caller carries on without Redis. When Redis comes back, the next probe closes the breaker.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use redis::{
    Client, IntoConnectionInfo, RedisError, RedisResult,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use secrecy::ExposeSecret;
use sha2::Digest as _;

use crate::{config::CacheConfig, telemetry::Metrics};

/// A Redis link could not be set up (bad URL or secrets; never raised for an unreachable server).
#[derive(Debug, thiserror::Error)]
pub enum RedisLinkError {
    /// `cache.redis.url` or credentials were refused.
    #[error("cache.redis: {0}")]
    Config(String),
}

/// A shared connection to Redis with timeouts and a circuit breaker.
pub struct RedisLink {
    conn: ConnectionManager,
    component: &'static str,
    prefix: String,
    timeout: Duration,
    breaker: Breaker,
    metrics: Arc<Metrics>,
}

/// Closed → open after `threshold` consecutive failures; after `open_for`, one probe at a
/// time is let through until one succeeds.
struct Breaker {
    threshold: u32,
    open_for: Duration,
    epoch: Instant,
    failures: AtomicU32,
    /// Milliseconds since `epoch` until which the breaker is open; 0 when closed.
    open_until_ms: AtomicU64,
    probing: AtomicBool,
}

// === impl RedisLink ===

impl RedisLink {
    /// Sets up the link to `[cache.redis]` (`None` without it) without connecting: the first
    /// command connects, so the gateway starts even while Redis is down. `component` labels
    /// metrics and logs.
    pub fn new(
        cache: &CacheConfig,
        component: &'static str,
        metrics: Arc<Metrics>,
    ) -> Result<Option<RedisLink>, RedisLinkError> {
        let Some(config) = &cache.redis else {
            return Ok(None);
        };
        let client = client(cache)?;
        let timeout = Duration::from_millis(config.timeout_ms);
        let manager_config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(timeout))
            .set_connection_timeout(Some(Duration::from_millis(config.connect_timeout_ms)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, manager_config)
            .map_err(|e| RedisLinkError::Config(e.to_string()))?;
        Ok(Some(RedisLink {
            conn,
            component,
            prefix: config.key_prefix.clone(),
            timeout,
            breaker: Breaker::new(config.breaker_failures, Duration::from_secs(config.breaker_open_secs)),
            metrics,
        }))
    }

    /// A Redis key `{prefix}{kind}:{hex sha256 of parts}`: never a token, UPN or tenant in clear.
    /// Parts are length-prefixed so different splits never collide.
    pub fn key(&self, kind: &str, parts: &[&[u8]]) -> String {
        let mut hash = sha2::Sha256::new();
        for part in parts {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        let digest = hash.finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}{kind}:{hex}", self.prefix)
    }

    /// A connection handle for one command (cheap: all share one multiplexed connection).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Whether commands are currently being sent (breaker not open).
    pub fn is_available(&self) -> bool {
        self.breaker.open_until_ms.load(Ordering::Relaxed) == 0
    }

    /// Runs one Redis operation under the timeout and breaker; `None` when skipped or failed.
    pub async fn run<T, F>(&self, op: F) -> Option<T>
    where
        F: Future<Output = RedisResult<T>>,
    {
        if !self.breaker.allow(self.epoch_ms()) {
            self.metrics
                .incr("redis_skipped_total", &[("component", self.component)]);
            return None;
        }
        let result = tokio::time::timeout(self.timeout, op).await;
        match result {
            Ok(Ok(value)) => {
                if self.breaker.success() {
                    tracing::info!(component = self.component, "Redis reachable again; shared tier resumed");
                    self.metrics
                        .gauge_set("redis_breaker_open", &[("component", self.component)], 0);
                }
                Some(value)
            }
            Ok(Err(e)) => {
                self.failed(error_kind(&e), Some(&e));
                None
            }
            Err(_) => {
                self.failed("timeout", None);
                None
            }
        }
    }

    fn failed(&self, kind: &'static str, error: Option<&RedisError>) {
        self.metrics
            .incr("redis_errors_total", &[("component", self.component), ("kind", kind)]);
        tracing::debug!(component = self.component, kind, error = ?error.map(ToString::to_string), "Redis command failed");
        if self.breaker.failure(self.epoch_ms()) {
            tracing::warn!(
                component = self.component,
                kind,
                open_secs = self.breaker.open_for.as_secs(),
                "Redis unavailable; continuing without the shared tier"
            );
            self.metrics
                .gauge_set("redis_breaker_open", &[("component", self.component)], 1);
        }
    }

    fn epoch_ms(&self) -> u64 {
        u64::try_from(self.breaker.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink")
            .field("component", &self.component)
            .field("prefix", &self.prefix)
            .field("available", &self.is_available())
            .finish_non_exhaustive()
    }
}

/// The client for `[cache.redis]`, with credentials from their secret sources.
fn client(cache: &CacheConfig) -> Result<Client, RedisLinkError> {
    let Some(config) = &cache.redis else {
        return Err(RedisLinkError::Config("not configured".into()));
    };
    // `rediss://` uses rustls, which needs the process-wide provider.
    crate::http::install_crypto_provider();
    let mut info = config
        .url
        .as_str()
        .into_connection_info()
        .map_err(|e| RedisLinkError::Config(format!("url: {e}")))?;
    let password = config.resolve_password().map_err(RedisLinkError::Config)?;
    let mut redis_settings = info.redis_settings().clone();
    if let Some(user) = &config.username {
        redis_settings = redis_settings.set_username(user);
    }
    if let Some(password) = password {
        redis_settings = redis_settings.set_password(password.expose_secret());
    }
    info = info.set_redis_settings(redis_settings);
    Client::open(info).map_err(|e| RedisLinkError::Config(e.to_string()))
}

fn error_kind(e: &RedisError) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
        "io"
    } else {
        "other"
    }
}

// === impl Breaker ===

impl Breaker {
    fn new(threshold: u32, open_for: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            open_for,
            epoch: Instant::now(),
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            probing: AtomicBool::new(false),
        }
    }

    /// Whether a command may be sent now (closed, or the single half-open probe).
    fn allow(&self, now_ms: u64) -> bool {
        let open_until = self.open_until_ms.load(Ordering::Acquire);
        if open_until == 0 {
            return true;
        }
        now_ms >= open_until
            && self
                .probing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// Records a success; true when this closed an open breaker.
    fn success(&self) -> bool {
        self.failures.store(0, Ordering::Relaxed);
        let was_open = self.open_until_ms.swap(0, Ordering::AcqRel) != 0;
        self.probing.store(false, Ordering::Release);
        was_open
    }

    /// Records a failure; true when this opened a closed breaker.
    fn failure(&self, now_ms: u64) -> bool {
        let until = now_ms
            .saturating_add(u64::try_from(self.open_for.as_millis()).unwrap_or(u64::MAX))
            .max(1);
        if self.open_until_ms.load(Ordering::Acquire) != 0 {
            // A failed probe (or a command sent just before opening): stay open longer.
            self.open_until_ms.store(until, Ordering::Release);
            self.probing.store(false, Ordering::Release);
            return false;
        }
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures >= self.threshold {
            return self
                .open_until_ms
                .compare_exchange(0, until, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_after_consecutive_failures_and_a_probe_closes_it() {
        let b = Breaker::new(3, Duration::from_millis(100));
        assert!(b.allow(0));
        assert!(!b.failure(0) && !b.failure(1));
        b.success();
        assert!(!b.failure(2) && !b.failure(3), "a success resets the count");
        assert!(b.failure(4), "third consecutive failure opens");
        assert!(!b.allow(50), "open: nothing goes through");
        assert!(b.allow(104), "after open_for one probe goes through");
        assert!(!b.allow(105), "only one probe at a time");
        assert!(!b.failure(106), "a failed probe keeps it open");
        assert!(!b.allow(150));
        assert!(b.allow(206));
        assert!(b.success(), "a successful probe closes it");
        assert!(b.allow(207) && b.allow(208));
    }
}
