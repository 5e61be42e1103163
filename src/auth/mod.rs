//! Inbound authentication: validates the NAA access token and yields the [`Caller`].
//!
//! [`Authenticator::authenticate`] takes the raw `Authorization` header and runs, in order:
//! bearer parsing, a cache of already-validated tokens (by SHA-256, until `exp`), the pure claim
//! rules (`validate.rs`, also usable alone as [`validate_token`]) on the unverified payload, the
//! tenant's signing key (`keys.rs`: discovery, JWKS, rate-limited refresh) and the RS256
//! signature. Refusals are [`AuthError`]s: 401 `invalid_token` naming the reason, or
//! 503 with `Retry-After` when the tenant's keys cannot be had. Tokens are never logged.

mod error;
mod keys;
mod validate;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{extract::FromRequestParts, http::request::Parts};
use sha2::{Digest, Sha256};
use tracing::Instrument;

pub use error::{AuthError, RejectReason};
pub use keys::{KeyFetchError, KeySet};
pub use validate::{
    Claims, Policy, SigningKey, TenantPolicy, Unverified, bearer_token, check_claims, is_guid, issuers_for, parse,
    validate_token, verify_signature,
};

use crate::{config::Config, state::AppState, telemetry::Metrics};

/// The authenticated user behind a request.
#[derive(Clone)]
pub struct Caller {
    /// Tenant id (`tid`, a GUID).
    pub tenant_id: String,
    /// User object id (`oid`); with `tenant_id` it names the mailbox.
    pub oid: String,
    /// Subject (`sub`).
    pub subject: String,
    /// Calling add-in's client id (`azp` in v2, `appid` in v1), if present.
    pub client_app: Option<String>,
    /// Delegated scopes from `scp`.
    pub scopes: Vec<String>,
    /// `preferred_username` (v2) or `upn`/`unique_name` (v1): display and logs only, never authorization.
    pub username: Option<String>,
    /// Token version: 1 or 2.
    pub version: u8,
    /// `exp` (Unix seconds).
    pub expires_at: i64,
    /// The inbound token, needed as the OBO assertion. Never logged, never in `Debug`.
    pub assertion: Arc<str>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("tenant_id", &self.tenant_id)
            .field("oid", &self.oid)
            .field("client_app", &self.client_app)
            .field("scopes", &self.scopes)
            .field("version", &self.version)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// Key naming the caller's mailbox for concurrency limits: `{tenant_id}/{oid}`.
    pub fn mailbox_key(&self) -> String {
        format!("{}/{}", self.tenant_id, self.oid)
    }
}

/// Source of the current time in Unix seconds; tests substitute their own.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| time::OffsetDateTime::now_utc().unix_timestamp())
}

/// Validates inbound tokens: policy, per-tenant keys and a cache of validated tokens.
pub struct Authenticator {
    policy: Policy,
    keys: keys::KeyStore,
    /// Configured tenant GUIDs (without `*`): the ones readiness waits for.
    configured_tenants: Vec<String>,
    cache: moka::future::Cache<[u8; 32], Caller>,
    metrics: Arc<Metrics>,
    clock: Clock,
    retry_after_secs: u64,
    refresher_started: AtomicBool,
}

/// Keeps a validated token until its `exp` plus the tolerated skew.
struct UntilExpiry {
    clock: Clock,
    skew_secs: i64,
}

impl moka::Expiry<[u8; 32], Caller> for UntilExpiry {
    fn expire_after_create(&self, _key: &[u8; 32], caller: &Caller, _created_at: Instant) -> Option<Duration> {
        let remaining = caller
            .expires_at
            .saturating_add(self.skew_secs)
            .saturating_sub((self.clock)());
        Some(Duration::from_secs(u64::try_from(remaining).unwrap_or(0)))
    }
}

// === impl Authenticator ===

impl Authenticator {
    /// Builds the validator from `[entra]` (rules, authority, key refresh) and `obo.inbound_cache_capacity`.
    pub fn new(config: &Config, http: reqwest::Client, metrics: Arc<Metrics>) -> Authenticator {
        Authenticator::with_clock(config, http, metrics, system_clock())
    }

    /// Like [`Authenticator::new`] with an explicit clock (token lifetimes are judged by it).
    pub fn with_clock(config: &Config, http: reqwest::Client, metrics: Arc<Metrics>, clock: Clock) -> Authenticator {
        let policy = Policy::from_config(config);
        let configured_tenants: Vec<String> = config
            .entra
            .allowed_tenants
            .iter()
            .filter(|t| *t != "*")
            .map(|t| t.to_ascii_lowercase())
            .collect();
        let expiry = UntilExpiry {
            clock: clock.clone(),
            skew_secs: policy.clock_skew_secs,
        };
        let cache = moka::future::Cache::builder()
            .max_capacity(config.obo.inbound_cache_capacity)
            .expire_after(expiry)
            .build();
        Authenticator {
            keys: keys::KeyStore::new(config, &configured_tenants, http, metrics.clone()),
            policy,
            configured_tenants,
            cache,
            metrics,
            clock,
            retry_after_secs: config.entra.keys_unavailable_retry_after_secs,
            refresher_started: AtomicBool::new(false),
        }
    }

    /// The rules in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Validates an `Authorization` header value; counts and logs the outcome (never the token).
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, AuthError> {
        let span = tracing::debug_span!("inbound_token", tenant_id = tracing::field::Empty);
        let result = self
            .authenticate_at(authorization, (self.clock)())
            .instrument(span.clone())
            .await;
        let _entered = span.enter();
        match &result {
            Ok(caller) => {
                self.metrics.incr("inbound_token_accepted_total", &[]);
                tracing::debug!(oid = %caller.oid, version = caller.version, "inbound token accepted");
            }
            Err(e) => {
                self.metrics
                    .incr("inbound_token_rejected_total", &[("reason", e.reason())]);
                match e {
                    AuthError::KeysUnavailable { .. } => {
                        tracing::warn!(reason = e.reason(), "inbound token refused: {e}")
                    }
                    AuthError::Rejected { .. } => tracing::info!(reason = e.reason(), "inbound token rejected: {e}"),
                }
            }
        }
        result
    }

    /// [`Authenticator::authenticate`] at time `now`, without counting.
    async fn authenticate_at(&self, authorization: Option<&str>, now: i64) -> Result<Caller, AuthError> {
        let token = bearer_token(authorization)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(caller) = self.cache.get(&digest).await {
            tracing::Span::current().record("tenant_id", caller.tenant_id.as_str());
            if now < caller.expires_at.saturating_add(self.policy.clock_skew_secs) {
                self.metrics.incr("inbound_token_cache_hits_total", &[]);
                return Ok(caller);
            }
            self.cache.invalidate(&digest).await;
            return Err(AuthError::rejected(RejectReason::Expired, "expired"));
        }
        let unverified = parse(token)?;
        if let Some(tid) = &unverified.claims.tid {
            tracing::Span::current().record("tenant_id", tid.as_str());
        }
        let caller = check_claims(&unverified, &self.policy, now, token)?;
        let kid = unverified.require_kid()?;
        let key = self.keys.key(&caller.tenant_id, kid).await.map_err(|e| match e {
            keys::KeyError::UnknownKey => validate::unknown_key(),
            keys::KeyError::Unavailable => AuthError::KeysUnavailable {
                tenant_id: caller.tenant_id.clone(),
                retry_after_secs: self.retry_after_secs,
            },
        })?;
        verify_signature(&unverified, &key, &caller.tenant_id)?;
        self.cache.insert(digest, caller.clone()).await;
        Ok(caller)
    }

    /// Validates the `Authorization` header of a request (several headers are refused).
    pub async fn authenticate_headers(&self, headers: &axum::http::HeaderMap) -> Result<Caller, AuthError> {
        let mut values = headers.get_all(axum::http::header::AUTHORIZATION).iter();
        let value = match (values.next(), values.next()) {
            (None, _) => None,
            (Some(v), None) => Some(
                v.to_str()
                    .map_err(|_| AuthError::malformed("Authorization header is not ASCII")),
            ),
            (Some(_), Some(_)) => Some(Err(AuthError::malformed("more than one Authorization header"))),
        };
        match value {
            Some(Err(e)) => {
                self.metrics
                    .incr("inbound_token_rejected_total", &[("reason", e.reason())]);
                Err(e)
            }
            Some(Ok(v)) => self.authenticate(Some(v)).await,
            None => self.authenticate(None).await,
        }
    }

    /// Loads keys for every configured tenant; true when all of them have keys.
    pub async fn warm_up(&self) -> bool {
        let loads = self.configured_tenants.iter().map(|t| self.keys.refresh_now(t));
        futures::future::join_all(loads).await;
        self.is_ready()
    }

    /// True when every configured tenant has keys (always when any tenant is allowed).
    pub fn is_ready(&self) -> bool {
        self.configured_tenants.iter().all(|t| self.keys.has_keys(t))
    }

    /// Current signing keys of tenant `tid` (diagnostics and tests).
    pub fn tenant_keys(&self, tid: &str) -> Option<Arc<KeySet>> {
        self.keys.keys_of(tid)
    }

    /// Starts the background refresh of every known tenant's keys (once; later calls do nothing).
    ///
    /// Keys are refreshed every `entra.key_refresh_secs`; configured tenants still without keys
    /// and failed refreshes are retried every `entra.keys_unavailable_retry_after_secs`. The
    /// task ends when the authenticator is dropped.
    pub fn spawn_refresher(self: &Arc<Self>) {
        if self.refresher_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(self);
        let period = self.keys.tick_period();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(auth) = weak.upgrade() else { break };
                auth.keys.refresh_due().await;
            }
        });
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, AuthError> {
        let caller = state.auth.authenticate_headers(&parts.headers).await?;
        tracing::Span::current().record("tenant", caller.tenant_id.as_str());
        Ok(caller)
    }
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
