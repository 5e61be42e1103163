//! The shared (L2) tier of the Graph token cache, in Redis, and cross-replica miss coalescing.
//!
//! Entries are sealed with AES-256-GCM: `version | key id | nonce | ciphertext+tag`, with the
//! entry's Redis key as associated data, so a value moved to another key does not open. Key
//! names are SHA-256 hashes of the L1 key parts: no token, tenant or UPN appears in Redis.
//! Anything that does not open (rotated-out key, tampering, garbage) is a miss. An entry's
//! Redis TTL is its token's remaining life minus the expiry margin.
//!
//! A replica that misses takes `{prefix}obo-lock:{hash}` with `SET NX PX lock_ttl`, exchanges
//! and publishes; other replicas poll for the published value until the lock is gone, then
//! try to take it themselves, so a holder that died delays them by at most the lock's TTL.

use std::{sync::Arc, time::Duration};

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Generate, Payload},
};
use redis::AsyncCommands as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::Digest as _;
use tokio::time::Instant;

use super::{
    GraphToken, OboBroker, OboError,
    cache::{CacheKey, CachedToken},
    redis_link::{RedisLink, RedisLinkError},
};
use crate::{auth::Caller, config::CacheConfig, telemetry::Metrics};

/// Format version of sealed values.
const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// Deletes the lock only if it is still ours (it may have expired and been taken over).
const UNLOCK: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// The Redis tier of the token cache.
pub(crate) struct SharedTier {
    link: RedisLink,
    sealer: Sealer,
    lock_ttl: Duration,
    poll: Duration,
    margin_secs: i64,
    metrics: Arc<Metrics>,
    unlock: redis::Script,
}

/// AES-256-GCM with several keys: the first seals, any opens (chosen by key id).
pub(crate) struct Sealer {
    keys: Vec<([u8; KEY_ID_LEN], Aes256Gcm)>,
}

/// What a lookup in Redis found.
pub(crate) enum Found {
    /// A token with life left beyond the margin.
    Token(CachedToken),
    /// Nothing usable (absent, expired within the margin, or did not open).
    Nothing,
    /// Redis did not answer (or the breaker is open).
    Unavailable,
}

/// The plaintext of an entry.
#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    access_token: String,
    expires_at: i64,
}

// === impl SharedTier ===

impl SharedTier {
    /// The tier described by `[cache.redis]` (`None` without it); `margin_secs` is
    /// `obo.expiry_margin_secs`.
    pub(crate) fn new(
        cache: &CacheConfig,
        margin_secs: u64,
        metrics: Arc<Metrics>,
    ) -> Result<Option<SharedTier>, RedisLinkError> {
        let (Some(config), Some(link)) = (&cache.redis, RedisLink::new(cache, "obo_cache", Arc::clone(&metrics))?)
        else {
            return Ok(None);
        };
        let keys = config
            .resolve_encryption_keys()
            .map_err(|problems| RedisLinkError::Config(problems.join("; ")))?;
        Ok(Some(SharedTier {
            link,
            sealer: Sealer::new(&keys),
            lock_ttl: Duration::from_millis(config.lock_ttl_ms),
            poll: Duration::from_millis(config.lock_poll_ms),
            margin_secs: i64::try_from(margin_secs).unwrap_or(i64::MAX),
            metrics,
            unlock: redis::Script::new(UNLOCK),
        }))
    }

    /// The Redis key of an L1 key.
    pub(crate) fn entry_key(&self, key: &CacheKey) -> String {
        let (tenant, client, assertion, scopes) = key.parts();
        self.link.key(
            "obo",
            &[tenant.as_bytes(), client.as_bytes(), assertion, scopes.as_bytes()],
        )
    }

    /// Looks `key` up and opens what is there.
    pub(crate) async fn get(&self, key: &str) -> Found {
        let mut conn = self.link.connection();
        match self.link.run(conn.get::<_, Option<Vec<u8>>>(key)).await {
            None => Found::Unavailable,
            Some(None) => Found::Nothing,
            Some(Some(sealed)) => match self.open(key, &sealed) {
                Some(token) => Found::Token(token),
                None => {
                    self.record("undecryptable");
                    Found::Nothing
                }
            },
        }
    }

    /// Publishes `token` under `key` for its remaining life minus the margin (best effort).
    pub(crate) async fn put(&self, key: &str, token: &GraphToken) {
        let ttl_secs = token.expires_at - crate::idp::unix_now() - self.margin_secs;
        if ttl_secs <= 0 {
            return;
        }
        let entry = Entry {
            access_token: token.access_token.expose_secret().to_string(),
            expires_at: token.expires_at,
        };
        let Some(sealed) = serde_json::to_vec(&entry)
            .ok()
            .and_then(|plain| self.sealer.seal(key.as_bytes(), &plain))
        else {
            return;
        };
        let ttl_ms = u64::try_from(ttl_secs).unwrap_or(0).saturating_mul(1000);
        let mut conn = self.link.connection();
        let _: Option<()> = self.link.run(conn.pset_ex(key, sealed, ttl_ms)).await;
    }

    /// Tries to take the miss lock of `key`: `Some(Some(id))` taken, `Some(None)` held by
    /// another replica, `None` Redis unavailable.
    async fn try_lock(&self, key: &str) -> Option<Option<String>> {
        let lock_key = format!("{key}:lock");
        let id = uuid::Uuid::new_v4().to_string();
        let ttl_ms = u64::try_from(self.lock_ttl.as_millis()).unwrap_or(u64::MAX);
        let mut conn = self.link.connection();
        let cmd = redis::cmd("SET")
            .arg(&lock_key)
            .arg(&id)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .to_owned();
        let taken: Option<Option<String>> = self.link.run(cmd.query_async(&mut conn)).await;
        taken.map(|reply| reply.map(|_| id))
    }

    async fn unlock(&self, key: &str, id: &str) {
        let mut conn = self.link.connection();
        let mut invocation = self.unlock.key(format!("{key}:lock"));
        invocation.arg(id);
        let _: Option<i64> = self.link.run(invocation.invoke_async(&mut conn)).await;
    }

    fn open(&self, key: &str, sealed: &[u8]) -> Option<CachedToken> {
        let plain = self.sealer.open(key.as_bytes(), sealed)?;
        let entry: Entry = serde_json::from_slice(&plain).ok()?;
        let ttl_secs = entry.expires_at - crate::idp::unix_now() - self.margin_secs;
        let ttl = Duration::from_secs(u64::try_from(ttl_secs).ok().filter(|s| *s > 0)?);
        Some(CachedToken {
            token: Arc::new(GraphToken {
                access_token: SecretString::from(entry.access_token),
                expires_at: entry.expires_at,
            }),
            ttl,
        })
    }

    fn record(&self, result: &'static str) {
        self.metrics.incr("obo_l2_total", &[("result", result)]);
    }
}

impl std::fmt::Debug for SharedTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedTier")
            .field("link", &self.link)
            .field("keys", &self.sealer.keys.len())
            .finish_non_exhaustive()
    }
}

// === impl OboBroker (L2 fill) ===

impl OboBroker {
    /// Fills an L1 miss: from Redis, else by one exchange across all replicas (lock), else
    /// (Redis unavailable or the lock holder too slow) by a direct exchange.
    pub(super) async fn fill(&self, caller: &Caller, key: &CacheKey) -> Result<CachedToken, OboError> {
        let Some(l2) = &self.l2 else {
            return self.exchange(caller, None).await;
        };
        let rkey = l2.entry_key(key);
        let deadline = Instant::now() + l2.lock_ttl + l2.poll;
        let mut waited = false;
        let found = |entry, waited| {
            l2.record(if waited { "coalesced" } else { "hit" });
            Ok(entry)
        };
        loop {
            match l2.get(&rkey).await {
                Found::Token(entry) => return found(entry, waited),
                Found::Unavailable => break,
                Found::Nothing => {}
            }
            match l2.try_lock(&rkey).await {
                None => break,
                Some(Some(id)) => {
                    // The previous holder may have published and unlocked between our GET
                    // and our SET NX: look again now that no one else can be exchanging.
                    let result = match l2.get(&rkey).await {
                        Found::Token(entry) => found(entry, waited),
                        _ => {
                            l2.record("miss");
                            self.exchange_and_publish(l2, &rkey, caller).await
                        }
                    };
                    l2.unlock(&rkey, &id).await;
                    return result;
                }
                Some(None) if Instant::now() >= deadline => {
                    l2.record("lock_timeout");
                    break;
                }
                Some(None) => {
                    waited = true;
                    tokio::time::sleep(l2.poll).await;
                }
            }
        }
        if !waited {
            l2.record("unavailable");
        }
        self.exchange_and_publish(l2, &rkey, caller).await
    }

    async fn exchange_and_publish(
        &self,
        l2: &SharedTier,
        rkey: &str,
        caller: &Caller,
    ) -> Result<CachedToken, OboError> {
        let result = self.exchange(caller, None).await;
        if let Ok(entry) = &result {
            l2.put(rkey, &entry.token).await;
        }
        result
    }

    /// Publishes a token obtained outside [`OboBroker::fill`] (a claims challenge answer).
    pub(super) async fn publish(&self, key: &CacheKey, token: &GraphToken) {
        if let Some(l2) = &self.l2 {
            l2.put(&l2.entry_key(key), token).await;
        }
    }
}

// === impl Sealer ===

impl Sealer {
    /// A sealer for `keys` (the first seals). Each key's id is a hash of it, so ids reveal nothing.
    pub(crate) fn new(keys: &[[u8; 32]]) -> Sealer {
        let keys = keys
            .iter()
            .map(|key| {
                let digest = sha2::Sha256::new()
                    .chain_update(b"naa-gateway token cache key id v1")
                    .chain_update(key)
                    .finalize();
                let mut id = [0u8; KEY_ID_LEN];
                id.copy_from_slice(&digest[..KEY_ID_LEN]);
                (id, Aes256Gcm::new(&(*key).into()))
            })
            .collect();
        Sealer { keys }
    }

    /// `plain` sealed under the first key with `aad`; `None` only if no key is configured.
    pub(crate) fn seal(&self, aad: &[u8], plain: &[u8]) -> Option<Vec<u8>> {
        let (id, cipher) = self.keys.first()?;
        let nonce = Nonce::generate();
        let ciphertext = cipher.encrypt(&nonce, Payload { msg: plain, aad }).ok()?;
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Some(out)
    }

    /// The plaintext, or `None` for an unknown key id, a wrong `aad`, tampering or garbage.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < HEADER_LEN || sealed[0] != VERSION {
            return None;
        }
        let (id, rest) = sealed[1..].split_at(KEY_ID_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let (_, cipher) = self.keys.iter().find(|(k, _)| k.as_slice() == id)?;
        let nonce = Nonce::try_from(nonce).ok()?;
        cipher.decrypt(&nonce, Payload { msg: ciphertext, aad }).ok()
    }
}
