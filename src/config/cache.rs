//! `[cache]` and `[admin]`: the shared Redis tier and the admin listener.

use std::net::SocketAddr;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::secret::{SecretSource, resolve_secret};

/// Length in bytes of an AES-256-GCM key.
const ENCRYPTION_KEY_LEN: usize = 32;

/// Token cache settings beyond the in-process tier.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// The shared tier; absent means every replica keeps its own in-process cache only.
    pub redis: Option<RedisConfig>,
}

/// `[cache.redis]`: where the shared tier lives and how it is protected.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:6379/0` or `rediss://host:6380/0` (TLS). Credentials go in
    /// `username`/`password`, never in the URL.
    pub url: String,
    /// ACL user name (Redis 6+); omit for the default user.
    #[serde(default)]
    pub username: Option<String>,
    /// Password or access key: `{ value | env | file }`.
    #[serde(default)]
    pub password: Option<SecretSource>,
    /// AES-256 keys (32 bytes, base64 or 64 hex digits): the first encrypts, all decrypt.
    pub encryption_keys: Vec<SecretSource>,
    /// Prefix of every key the gateway writes (several deployments may share one Redis).
    #[serde(default = "defaults::key_prefix")]
    pub key_prefix: String,
    /// Longest wait for one Redis command, in milliseconds; slower counts as a failure.
    #[serde(default = "defaults::timeout_ms")]
    pub timeout_ms: u64,
    /// Longest wait to (re)connect, in milliseconds.
    #[serde(default = "defaults::connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Consecutive failures that open the circuit breaker (Redis is then skipped).
    #[serde(default = "defaults::breaker_failures")]
    pub breaker_failures: u32,
    /// Seconds the breaker stays open before one probe is let through.
    #[serde(default = "defaults::breaker_open_secs")]
    pub breaker_open_secs: u64,
    /// Lifetime of the lock a replica takes while it exchanges a missed token, in milliseconds.
    /// Other replicas wait at most this long for its result; a holder that dies frees it then.
    #[serde(default = "defaults::lock_ttl_ms")]
    pub lock_ttl_ms: u64,
    /// How often a waiting replica looks for the lock holder's result, in milliseconds.
    #[serde(default = "defaults::lock_poll_ms")]
    pub lock_poll_ms: u64,
    /// Share the per-mailbox Graph concurrency cap across replicas.
    #[serde(default = "defaults::shared_mailbox_limit")]
    pub shared_mailbox_limit: bool,
    /// Calls in flight per mailbox on this replica while Redis is unavailable (default: the
    /// Graph cap). With N replicas, `4 / N` keeps Graph from answering 429 during an outage.
    #[serde(default)]
    pub fallback_concurrency_per_mailbox: Option<usize>,
    /// Lifetime of one mailbox slot lease, in seconds; renewed while the call runs, so a
    /// replica that dies frees its slots after at most this long.
    #[serde(default = "defaults::mailbox_lease_secs")]
    pub mailbox_lease_secs: u64,
}

/// The admin listener (`/metrics`, `/healthz`, `/readyz`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the admin listener; unset means no admin listener.
    pub listen: Option<SocketAddr>,
}

mod defaults {
    pub(super) fn key_prefix() -> String {
        "naa-gateway:".into()
    }
    pub(super) fn timeout_ms() -> u64 {
        100
    }
    pub(super) fn connect_timeout_ms() -> u64 {
        250
    }
    pub(super) fn breaker_failures() -> u32 {
        3
    }
    pub(super) fn breaker_open_secs() -> u64 {
        2
    }
    pub(super) fn lock_ttl_ms() -> u64 {
        5_000
    }
    pub(super) fn lock_poll_ms() -> u64 {
        20
    }
    pub(super) fn shared_mailbox_limit() -> bool {
        true
    }
    pub(super) fn mailbox_lease_secs() -> u64 {
        30
    }
}

// === impl CacheConfig ===

impl CacheConfig {
    /// Rule violations, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        self.redis.as_ref().map(RedisConfig::problems).unwrap_or_default()
    }
}

// === impl RedisConfig ===

impl RedisConfig {
    /// Rule violations, each naming its key (secrets are resolved to check them, never shown).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        match url::Url::parse(&self.url) {
            Ok(u) if !matches!(u.scheme(), "redis" | "rediss") => {
                p.push(format!(
                    "cache.redis.url: scheme {:?} is not redis or rediss",
                    u.scheme()
                ));
            }
            Ok(u) if u.password().is_some() => {
                p.push("cache.redis.url must not contain a password: use cache.redis.password".into());
            }
            Ok(_) => {}
            Err(e) => p.push(format!("cache.redis.url is not a URL: {e}")),
        }
        if let Some(password) = &self.password
            && let Err(e) = resolve_secret("cache.redis.password", password)
        {
            p.push(e);
        }
        if let Err(e) = self.resolve_encryption_keys() {
            p.extend(e);
        }
        if self.timeout_ms == 0 || self.connect_timeout_ms == 0 {
            p.push("cache.redis.timeout_ms and cache.redis.connect_timeout_ms must be positive".into());
        }
        if self.breaker_failures == 0 {
            p.push("cache.redis.breaker_failures must be positive".into());
        }
        if self.lock_ttl_ms < 100 || self.lock_poll_ms == 0 || self.lock_poll_ms >= self.lock_ttl_ms {
            p.push("cache.redis.lock_ttl_ms must be at least 100 and above lock_poll_ms (positive)".into());
        }
        if self
            .fallback_concurrency_per_mailbox
            .is_some_and(|n| !(1..=4).contains(&n))
        {
            p.push("cache.redis.fallback_concurrency_per_mailbox must be between 1 and 4".into());
        }
        if self.mailbox_lease_secs < 3 {
            p.push("cache.redis.mailbox_lease_secs must be at least 3".into());
        }
        p
    }

    /// The password, resolved.
    pub fn resolve_password(&self) -> Result<Option<SecretString>, String> {
        self.password
            .as_ref()
            .map(|s| resolve_secret("cache.redis.password", s))
            .transpose()
    }

    /// The encryption keys in configured order (the first encrypts), each exactly 32 bytes.
    pub fn resolve_encryption_keys(&self) -> Result<Vec<[u8; ENCRYPTION_KEY_LEN]>, Vec<String>> {
        if self.encryption_keys.is_empty() {
            return Err(vec![
                "cache.redis.encryption_keys must list at least one key (32 bytes, base64 or hex)".into(),
            ]);
        }
        let mut keys = Vec::new();
        let mut problems = Vec::new();
        for (i, source) in self.encryption_keys.iter().enumerate() {
            let name = format!("cache.redis.encryption_keys[{i}]");
            match resolve_secret(&name, source).and_then(|s| decode_key(&name, &s)) {
                Ok(key) => keys.push(key),
                Err(e) => problems.push(e),
            }
        }
        if problems.is_empty() { Ok(keys) } else { Err(problems) }
    }
}

/// 64 hex digits or base64 (standard or URL-safe, padded or not) of exactly 32 bytes.
fn decode_key(name: &str, secret: &SecretString) -> Result<[u8; ENCRYPTION_KEY_LEN], String> {
    let text = secret.expose_secret().trim();
    let bytes = if text.len() == 2 * ENCRYPTION_KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..ENCRYPTION_KEY_LEN)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| ()))
            .collect::<Result<Vec<u8>, ()>>()
            .ok()
    } else {
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        engines.iter().find_map(|e| e.decode(text).ok())
    };
    bytes
        .and_then(|b| <[u8; ENCRYPTION_KEY_LEN]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| format!("{name} must be 32 bytes as base64 or 64 hex digits (e.g. `openssl rand -base64 32`)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis(keys: &[&str]) -> RedisConfig {
        let toml = format!(
            "url = \"redis://127.0.0.1:6379\"\nencryption_keys = [{}]",
            keys.iter()
                .map(|k| format!("{{ value = \"{k}\" }}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        figment::Figment::new()
            .merge(<figment::providers::Toml as figment::providers::Format>::string(&toml))
            .extract()
            .unwrap()
    }

    #[test]
    fn keys_decode_from_base64_and_hex_and_bad_ones_are_named() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let hex = "ab".repeat(32);
        let keys = redis(&[&b64, &hex]).resolve_encryption_keys().unwrap();
        assert_eq!(keys, vec![[7u8; 32], [0xab; 32]]);
        let problems = redis(&[&b64, "c2hvcnQ="]).problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("encryption_keys[1]"), "{problems:?}");
        assert!(!problems[0].contains("c2hvcnQ"), "the secret leaked: {problems:?}");
        assert!(redis(&[]).problems()[0].contains("at least one key"));
    }

    #[test]
    fn a_password_in_the_url_is_refused() {
        let mut config = redis(&[&"00".repeat(32)]);
        config.url = "redis://:hunter2@cache:6379".into();
        let problems = config.problems();
        assert!(
            problems.iter().any(|p| p.contains("cache.redis.password")),
            "{problems:?}"
        );
        assert!(problems.iter().all(|p| !p.contains("hunter2")));
    }
}
