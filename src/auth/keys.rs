//! Per-tenant signing keys: OIDC discovery, JWKS, caching by `kid`, rate-limited refresh.
//!
//! Follows Microsoft's key-rollover guidance (protocols.md §3.5): keys are discovered per
//! tenant from the tenant's own v2 metadata, refreshed in the background, and refreshed on an
//! unknown `kid` at most once per tenant per minimum interval, with concurrent misses sharing
//! that one fetch. A failed refresh keeps the last good keys; a successful one replaces the set,
//! so keys dropped from the JWKS stop verifying.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use jsonwebtoken::DecodingKey;
use parking_lot::{Mutex, RwLock};
use serde::Deserialize;
use tokio::time::Instant;

use super::validate::SigningKey;
use crate::{config::Config, telemetry::Metrics};

/// Largest discovery document or JWKS accepted, in bytes.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Most tenants tracked at once; bounds memory when every tenant is allowed.
const MAX_TENANTS: usize = 10_000;

/// One tenant's verification keys by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: HashMap<String, Arc<SigningKey>>,
}

/// Why keys could not be fetched (logged; callers only see 503 or the last good keys).
#[derive(Debug, thiserror::Error)]
pub enum KeyFetchError {
    /// Connection, TLS or timeout failure.
    #[error("GET {url}: {source}")]
    Http {
        /// The URL requested.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// A non-2xx answer.
    #[error("GET {url}: HTTP {status}")]
    Status {
        /// The URL requested.
        url: String,
        /// The status received.
        status: u16,
    },
    /// A body over the size limit (1 MiB).
    #[error("GET {url}: response exceeds {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge {
        /// The URL requested.
        url: String,
    },
    /// A body that is not the expected JSON.
    #[error("{what} is not valid: {detail}")]
    Invalid {
        /// Which document.
        what: &'static str,
        /// The parse error.
        detail: String,
    },
    /// A JWKS without a single RSA signature key.
    #[error("JWKS has no usable RS256 signing key")]
    NoKeys,
}

/// Why no key could be returned for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyError {
    /// The tenant has keys, none with this `kid`.
    UnknownKey,
    /// The tenant has no keys at all (never loaded, Entra unreachable).
    Unavailable,
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct JwkSetDocument {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    #[serde(rename = "use")]
    key_use: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
    issuer: Option<String>,
}

// === impl KeySet ===

impl KeySet {
    /// Parses a JWKS document, keeping RSA signature keys (`kty` RSA, `use` sig or absent,
    /// `alg` RS256 or absent) and skipping any other or unreadable key.
    pub fn from_jwks(json: &[u8]) -> Result<KeySet, KeyFetchError> {
        let doc: JwkSetDocument = serde_json::from_slice(json).map_err(|e| KeyFetchError::Invalid {
            what: "JWKS",
            detail: e.to_string(),
        })?;
        let keys: HashMap<String, Arc<SigningKey>> = doc
            .keys
            .into_iter()
            .filter_map(|v| serde_json::from_value::<RawJwk>(v).ok())
            .filter_map(signing_key)
            .map(|k| (k.kid.clone(), Arc::new(k)))
            .collect();
        if keys.is_empty() {
            return Err(KeyFetchError::NoKeys);
        }
        Ok(KeySet { keys })
    }

    /// The key with this `kid`.
    pub fn get(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.keys.get(kid).cloned()
    }

    /// The key ids present, sorted.
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.keys.keys().cloned().collect();
        kids.sort();
        kids
    }
}

fn signing_key(raw: RawJwk) -> Option<SigningKey> {
    let usable = raw.kty.as_deref() == Some("RSA")
        && raw.key_use.as_deref().is_none_or(|u| u == "sig")
        && raw.alg.as_deref().is_none_or(|a| a == "RS256");
    let kid = raw.kid.filter(|k| !k.is_empty())?;
    if !usable {
        return None;
    }
    let key = DecodingKey::from_rsa_components(raw.n.as_deref()?, raw.e.as_deref()?).ok()?;
    Some(SigningKey {
        kid,
        key,
        issuer: raw.issuer,
    })
}

// === impl KeyStore ===

/// Signing keys of every tenant seen, fetched from `{authority}/{tid}/v2.0/...`.
pub(super) struct KeyStore {
    http: reqwest::Client,
    authority: String,
    timeout: Duration,
    min_interval: Duration,
    unavailable_retry: Duration,
    refresh_period: Duration,
    tenants: Mutex<HashMap<String, Arc<TenantKeys>>>,
    metrics: Arc<Metrics>,
}

struct TenantKeys {
    tenant_id: String,
    configured: bool,
    current: RwLock<Option<Arc<KeySet>>>,
    loaded_at: Mutex<Option<Instant>>,
    /// Completed fetch attempts; a waiter that sees it move knows someone refreshed for it.
    attempts: AtomicU64,
    /// Held for the duration of any fetch (single flight); holds the time of the last fetch
    /// made for an unknown `kid`, which the minimum interval limits. Scheduled and forced
    /// fetches do not count against it: a key published just after one must still be found.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
}

impl TenantKeys {
    fn new(tenant_id: String, configured: bool) -> TenantKeys {
        TenantKeys {
            tenant_id,
            configured,
            current: RwLock::new(None),
            loaded_at: Mutex::new(None),
            attempts: AtomicU64::new(0),
            last_attempt: tokio::sync::Mutex::new(None),
        }
    }

    fn keys(&self) -> Option<Arc<KeySet>> {
        self.current.read().clone()
    }
}

impl KeyStore {
    /// A store for the tenants `configured` (GUIDs), more are added as tokens name them.
    pub(super) fn new(
        config: &Config,
        configured: &[String],
        http: reqwest::Client,
        metrics: Arc<Metrics>,
    ) -> KeyStore {
        let e = &config.entra;
        let tenants = configured
            .iter()
            .map(|t| {
                (
                    t.to_ascii_lowercase(),
                    Arc::new(TenantKeys::new(t.to_ascii_lowercase(), true)),
                )
            })
            .collect();
        KeyStore {
            http,
            authority: e.authority.trim_end_matches('/').to_string(),
            timeout: Duration::from_secs(config.obo.timeout_secs.max(1)),
            min_interval: Duration::from_secs(e.key_refresh_min_interval_secs),
            unavailable_retry: Duration::from_secs(e.keys_unavailable_retry_after_secs),
            refresh_period: Duration::from_secs(e.key_refresh_secs.max(1)),
            tenants: Mutex::new(tenants),
            metrics,
        }
    }

    /// The key `kid` of tenant `tid` (an allowed GUID), fetching or refreshing keys if needed.
    pub(super) async fn key(&self, tid: &str, kid: &str) -> Result<Arc<SigningKey>, KeyError> {
        let tenant = self.tenant(tid).ok_or(KeyError::Unavailable)?;
        if let Some(key) = tenant.keys().and_then(|set| set.get(kid)) {
            return Ok(key);
        }
        self.refresh_on_miss(&tenant).await;
        match tenant.keys() {
            None => Err(KeyError::Unavailable),
            Some(set) => set.get(kid).ok_or(KeyError::UnknownKey),
        }
    }

    /// Whether tenant `tid` has keys.
    pub(super) fn has_keys(&self, tid: &str) -> bool {
        self.keys_of(tid).is_some()
    }

    /// Tenant `tid`'s current keys.
    pub(super) fn keys_of(&self, tid: &str) -> Option<Arc<KeySet>> {
        self.tenants
            .lock()
            .get(&tid.to_ascii_lowercase())
            .and_then(|t| t.keys())
    }

    /// Fetches tenant `tid`'s keys now, regardless of rate limits; true on success.
    pub(super) async fn refresh_now(&self, tid: &str) -> bool {
        match self.tenant(tid) {
            Some(tenant) => {
                let _flight = tenant.last_attempt.lock().await;
                self.refresh_locked(&tenant).await
            }
            None => false,
        }
    }

    /// How often [`KeyStore::refresh_due`] should run.
    pub(super) fn tick_period(&self) -> Duration {
        self.refresh_period
            .min(self.unavailable_retry)
            .max(Duration::from_secs(1))
    }

    /// Refreshes every tenant whose keys are older than the refresh period, and configured
    /// tenants that still have none.
    pub(super) async fn refresh_due(&self) {
        let tenants: Vec<Arc<TenantKeys>> = self.tenants.lock().values().cloned().collect();
        let due = tenants.into_iter().filter(|t| match *t.loaded_at.lock() {
            Some(at) => at.elapsed() >= self.refresh_period,
            None => t.configured,
        });
        let refreshes = due.map(|tenant| async move {
            let _flight = tenant.last_attempt.lock().await;
            self.refresh_locked(&tenant).await;
        });
        futures::future::join_all(refreshes).await;
    }

    /// The tenant's entry, created on first sight; `None` when too many tenants are tracked.
    fn tenant(&self, tid: &str) -> Option<Arc<TenantKeys>> {
        let tid = tid.to_ascii_lowercase();
        let mut tenants = self.tenants.lock();
        if let Some(t) = tenants.get(&tid) {
            return Some(t.clone());
        }
        if tenants.len() >= MAX_TENANTS {
            // Forget tenants that never produced keys before refusing a new one.
            tenants.retain(|_, t| t.configured || t.keys().is_some());
            if tenants.len() >= MAX_TENANTS {
                tracing::warn!(tenant_id = %tid, "too many tenants tracked; not loading keys");
                return None;
            }
        }
        let entry = Arc::new(TenantKeys::new(tid.clone(), false));
        tenants.insert(tid, entry.clone());
        Some(entry)
    }

    /// Refreshes after a `kid` miss, unless another request just did or the interval forbids.
    async fn refresh_on_miss(&self, tenant: &TenantKeys) {
        let seen = tenant.attempts.load(Ordering::Acquire);
        let mut last = tenant.last_attempt.lock().await;
        if tenant.attempts.load(Ordering::Acquire) != seen {
            return; // a concurrent request refreshed while this one waited: share its result
        }
        // Without any keys every request fails anyway; retry as often as callers are told to.
        let interval = match tenant.keys() {
            Some(_) => self.min_interval,
            None => self.min_interval.min(self.unavailable_retry),
        };
        if last.is_some_and(|at| at.elapsed() < interval) {
            tracing::debug!(tenant_id = %tenant.tenant_id, "key refresh skipped: within the minimum interval");
            return;
        }
        *last = Some(Instant::now());
        self.refresh_locked(tenant).await;
    }

    /// Fetches and installs keys; the caller holds `last_attempt`. True on success.
    async fn refresh_locked(&self, tenant: &TenantKeys) -> bool {
        let result = self.fetch(&tenant.tenant_id).await;
        let ok = match result {
            Ok(set) => {
                let kids = set.kids();
                *tenant.current.write() = Some(Arc::new(set));
                *tenant.loaded_at.lock() = Some(Instant::now());
                tracing::info!(tenant_id = %tenant.tenant_id, kids = ?kids, "signing keys loaded");
                self.metrics.incr("signing_key_refresh_total", &[("result", "ok")]);
                true
            }
            Err(e) => {
                let kept = tenant.keys().is_some();
                tracing::warn!(tenant_id = %tenant.tenant_id, error = %e, kept_last_good = kept, "signing key refresh failed");
                self.metrics.incr("signing_key_refresh_total", &[("result", "error")]);
                false
            }
        };
        tenant.attempts.fetch_add(1, Ordering::Release);
        ok
    }

    async fn fetch(&self, tid: &str) -> Result<KeySet, KeyFetchError> {
        let url = format!("{}/{tid}/v2.0/.well-known/openid-configuration", self.authority);
        let discovery: Discovery =
            serde_json::from_slice(&self.get(&url).await?).map_err(|e| KeyFetchError::Invalid {
                what: "discovery document",
                detail: e.to_string(),
            })?;
        KeySet::from_jwks(&self.get(&discovery.jwks_uri).await?)
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, KeyFetchError> {
        let http_err = |source| KeyFetchError::Http {
            url: url.to_string(),
            source,
        };
        let mut response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.timeout)
            .send()
            .await
            .map_err(http_err)?;
        if !response.status().is_success() {
            return Err(KeyFetchError::Status {
                url: url.to_string(),
                status: response.status().as_u16(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http_err)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(KeyFetchError::TooLarge { url: url.to_string() });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests;
