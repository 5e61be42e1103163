//! On-behalf-of: turns a [`Caller`] into a Graph token, cached per assertion and coalesced.
//!
//! [`OboBroker::graph_token`] serves a cached token when one for the same tenant, client,
//! assertion and scope set is still valid (minus `obo.expiry_margin_secs`); otherwise exactly
//! one exchange runs per key, however many requests wait for it. Failures are never cached.
//! A request answering a claims challenge always exchanges and refreshes the entry.
//!
//! With `[cache.redis]` a second, shared tier (Redis, module `l2`) sits behind the in-process one: an L1
//! miss looks in Redis, and a miss there is exchanged by one replica for all (see `l2`).
//! Without it, or while Redis is unavailable, every replica exchanges on its own.

mod cache;
mod error;
mod l2;
pub mod redis_link;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

pub use error::{DEFAULT_RETRY_AFTER_SECS, ErrorContext, OboError, admin_consent_url};
use moka::future::Cache;
use secrecy::SecretString;

use self::{
    cache::{CacheKey, CachedToken, TokenExpiry},
    l2::SharedTier,
};
use crate::{
    auth::Caller,
    config::Config,
    idp::{EntraClient, IdpError, TokenResponse},
    telemetry::Metrics,
};

/// A Graph access token (opaque; never validated, never logged).
pub struct GraphToken {
    /// The bearer value.
    pub access_token: SecretString,
    /// Expiry (Unix seconds) from the exchange's `expires_in`.
    pub expires_at: i64,
}

/// Cache counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Requests served from the cache.
    pub hits: u64,
    /// Requests that missed the in-process cache and filled it for their key (from Redis
    /// when the shared tier has it, else by exchanging).
    pub misses: u64,
    /// Requests that waited for another request's exchange of the same key.
    pub coalesced: u64,
    /// Requests answering a claims challenge, which skip the cache.
    pub bypassed: u64,
    /// Token requests sent to Entra ID (successful or not).
    pub exchanges: u64,
    /// Entries held (approximate: moka applies inserts and expiries lazily).
    pub entries: u64,
}

/// Exchanges caller tokens for Graph tokens and caches the results.
pub struct OboBroker {
    idp: EntraClient,
    cache: Cache<CacheKey, CachedToken>,
    /// The shared tier, when `[cache.redis]` is configured.
    l2: Option<SharedTier>,
    /// Scopes sent to Entra ID.
    scopes: Vec<String>,
    /// Normalised scope set, the scope part of every cache key.
    scope_set: Arc<str>,
    client_id: Arc<str>,
    expiry_margin_secs: u64,
    metrics: Arc<Metrics>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
    bypassed: AtomicU64,
    exchanges: AtomicU64,
}

#[derive(Clone, Copy)]
enum Lookup {
    Hit,
    Miss,
    Coalesced,
    Bypass,
}

// === impl GraphToken ===

impl std::fmt::Debug for GraphToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphToken")
            .field("access_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

// === impl OboBroker ===

impl OboBroker {
    /// Builds the broker with an empty cache of `obo.cache_capacity` entries, and the shared
    /// tier when `[cache.redis]` is configured (Redis is connected to lazily, on first use).
    pub fn new(config: &Config, idp: EntraClient, metrics: Arc<Metrics>) -> OboBroker {
        let l2 = SharedTier::new(&config.cache, config.obo.expiry_margin_secs, Arc::clone(&metrics))
            .inspect_err(|e| tracing::error!(error = %e, "shared token cache disabled"))
            .ok()
            .flatten();
        let cache = Cache::builder()
            .name("obo-graph-tokens")
            .max_capacity(config.obo.cache_capacity)
            .expire_after(TokenExpiry)
            .build();
        OboBroker {
            client_id: Arc::from(idp.client_id()),
            idp,
            cache,
            l2,
            scopes: cache::request_scopes(&config.obo.scopes),
            scope_set: Arc::from(cache::scope_set(&config.obo.scopes)),
            expiry_margin_secs: config.obo.expiry_margin_secs,
            metrics,
            counters: Counters::default(),
        }
    }

    /// A Graph token for `caller`; `claims` (a claims challenge answer) bypasses the cache.
    ///
    /// Concurrent calls for the same key share one exchange and its result or error.
    pub async fn graph_token(&self, caller: &Caller, claims: Option<&str>) -> Result<Arc<GraphToken>, OboError> {
        let key = CacheKey::new(&caller.tenant_id, &self.client_id, &caller.assertion, &self.scope_set);
        if let Some(claims) = claims.map(str::trim).filter(|c| !c.is_empty()) {
            return self.answer_claims_challenge(caller, key, claims).await;
        }
        if let Some(entry) = self.cache.get(&key).await {
            self.count(Lookup::Hit);
            return Ok(entry.token);
        }
        // Set only by the call whose future moka runs; the others waited on it.
        let ran_here = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran_here);
        let result = self
            .cache
            .try_get_with(key.clone(), async move {
                flag.store(true, Ordering::Relaxed);
                self.fill(caller, &key).await
            })
            .await;
        self.count(if ran_here.load(Ordering::Relaxed) {
            Lookup::Miss
        } else {
            Lookup::Coalesced
        });
        result.map(|entry| entry.token).map_err(|e| OboError::clone(&e))
    }

    /// Counters since start.
    pub fn cache_stats(&self) -> CacheStats {
        let c = &self.counters;
        CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            coalesced: c.coalesced.load(Ordering::Relaxed),
            bypassed: c.bypassed.load(Ordering::Relaxed),
            exchanges: c.exchanges.load(Ordering::Relaxed),
            entries: self.cache.entry_count(),
        }
    }

    /// Exchanges with the challenge's claims; the fresh token replaces any cached one.
    async fn answer_claims_challenge(
        &self,
        caller: &Caller,
        key: CacheKey,
        claims: &str,
    ) -> Result<Arc<GraphToken>, OboError> {
        self.count(Lookup::Bypass);
        let entry = self.exchange(caller, Some(claims)).await?;
        if !entry.ttl.is_zero() {
            self.publish(&key, &entry.token).await;
            self.cache.insert(key, entry.clone()).await;
        }
        Ok(entry.token)
    }

    /// One request to Entra ID, counted and logged; errors mapped for the caller.
    async fn exchange(&self, caller: &Caller, claims: Option<&str>) -> Result<CachedToken, OboError> {
        let client_request_id = uuid::Uuid::new_v4().to_string();
        self.counters.exchanges.fetch_add(1, Ordering::Relaxed);
        let result = self
            .idp
            .exchange_obo(
                &caller.tenant_id,
                &caller.assertion,
                &self.scopes,
                claims,
                &client_request_id,
            )
            .await;
        match result {
            Ok(response) => {
                self.metrics.incr("obo_exchanges_total", &[("outcome", "ok")]);
                tracing::debug!(
                    tenant = %caller.tenant_id, client_request_id, expires_in = response.expires_in,
                    "on-behalf-of exchange succeeded"
                );
                Ok(self.cached(response))
            }
            Err(e) => {
                let error = self.map_error(e, &caller.tenant_id, &client_request_id);
                self.metrics
                    .incr("obo_exchanges_total", &[("outcome", error.outcome())]);
                error.log();
                Err(error)
            }
        }
    }

    fn cached(&self, response: TokenResponse) -> CachedToken {
        let lifetime = i64::try_from(response.expires_in).unwrap_or(i64::MAX);
        let token = GraphToken {
            access_token: response.access_token,
            expires_at: crate::idp::unix_now().saturating_add(lifetime),
        };
        // A token within the margin is still handed to its requester, just never served again.
        let ttl = Duration::from_secs(response.expires_in.saturating_sub(self.expiry_margin_secs));
        CachedToken {
            token: Arc::new(token),
            ttl,
        }
    }

    fn map_error(&self, e: IdpError, tenant: &str, client_request_id: &str) -> OboError {
        let exchange = error::Exchange {
            tenant,
            client_request_id,
            authority: self.idp.authority(),
            client_id: &self.client_id,
            scopes: &self.scopes,
            credential: self.idp.credential_kind(),
        };
        error::classify(e, &exchange)
    }

    fn count(&self, lookup: Lookup) {
        let (counter, label) = match lookup {
            Lookup::Hit => (&self.counters.hits, "hit"),
            Lookup::Miss => (&self.counters.misses, "miss"),
            Lookup::Coalesced => (&self.counters.coalesced, "coalesced"),
            Lookup::Bypass => (&self.counters.bypassed, "bypass"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.metrics.incr("obo_cache_total", &[("result", label)]);
    }
}

impl std::fmt::Debug for OboBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OboBroker")
            .field("idp", &self.idp)
            .field("scopes", &self.scopes)
            .field("expiry_margin_secs", &self.expiry_margin_secs)
            .field("stats", &self.cache_stats())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod l2_tests;
#[cfg(test)]
pub(crate) mod test_redis;
#[cfg(test)]
mod tests;
