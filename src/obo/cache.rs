//! The Graph token cache's key and per-entry lifetime.
//!
//! The key partitions like MSAL's on-behalf-of cache: tenant, client id, SHA-256 of the
//! incoming assertion and the normalised scope set. A new inbound token therefore always
//! means a new exchange, so Conditional Access evaluated at exchange time is never bypassed.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use sha2::Digest as _;

use super::GraphToken;

/// Identifies one cached exchange result.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    tenant_id: Arc<str>,
    client_id: Arc<str>,
    assertion_sha256: [u8; 32],
    scopes: Arc<str>,
}

/// A cached token and how long it may be served.
#[derive(Clone)]
pub(crate) struct CachedToken {
    pub(crate) token: Arc<GraphToken>,
    /// The token's lifetime minus the expiry margin, fixed when the exchange answered.
    pub(crate) ttl: Duration,
}

/// moka expiry policy: each entry lives exactly its own `ttl`.
pub(crate) struct TokenExpiry;

// === impl CacheKey ===

impl CacheKey {
    /// The key of `assertion` in `tenant_id` for the normalised `scopes` (see [`scope_set`]).
    pub(crate) fn new(tenant_id: &str, client_id: &Arc<str>, assertion: &str, scopes: &Arc<str>) -> CacheKey {
        CacheKey {
            tenant_id: Arc::from(tenant_id),
            client_id: Arc::clone(client_id),
            assertion_sha256: sha2::Sha256::digest(assertion.as_bytes()).into(),
            scopes: Arc::clone(scopes),
        }
    }

    /// Tenant, client id, assertion hash and scope set (hashed into the shared tier's key).
    pub(crate) fn parts(&self) -> (&str, &str, &[u8], &str) {
        (&self.tenant_id, &self.client_id, &self.assertion_sha256, &self.scopes)
    }
}

// === impl TokenExpiry ===

impl moka::Expiry<CacheKey, CachedToken> for TokenExpiry {
    fn expire_after_create(&self, _key: &CacheKey, value: &CachedToken, _created_at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Scopes for the request: trimmed, blanks and repeats dropped, configured order kept.
pub(crate) fn request_scopes(scopes: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(scopes.len());
    for scope in scopes.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if !out.iter().any(|s| s == scope) {
            out.push(scope.to_string());
        }
    }
    out
}

/// The scope set as a cache-key component: trimmed, case-folded, deduplicated, sorted
/// (scope names compare case-insensitively at Entra ID, as in MSAL's scope sets).
pub(crate) fn scope_set(scopes: &[String]) -> String {
    let mut set: Vec<String> = scopes
        .iter()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    set.sort();
    set.dedup();
    set.join(" ")
}
