//! Optional request rate limits per user and per tenant (`[limits]`), in fixed one-minute
//! windows aligned to the clock.
//!
//! With `[cache.redis]` the counters live in Redis, so the limits hold for all replicas
//! together; while Redis is unavailable (or without it) each replica counts on its own. A
//! refusal carries how long until the window ends; each front end answers it in its own form
//! (HTTP 429 + `Retry-After` for Graph and REST, `ErrorServerBusy` with `BackOffMilliseconds`
//! for EWS). Redis keys are hashes: no tenant or user id appears in them.

use std::{collections::HashMap, sync::Arc};

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use parking_lot::Mutex;
use serde::Deserialize;

use crate::{
    auth::Caller,
    config::CacheConfig,
    obo::redis_link::{RedisLink, RedisLinkError},
    telemetry::Metrics,
};

/// Length of one counting window.
const WINDOW_SECS: u64 = 60;
/// Local counters kept before old windows are swept.
const SWEEP_AT: usize = 10_000;

/// Adds one to a window's counter and starts its expiry on first use. Returns the new count.
const INCR: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n";

/// `[limits]`: requests per minute; unset means unlimited.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Requests per minute one user (tenant + object id) may make.
    pub per_user_per_minute: Option<u32>,
    /// Requests per minute all users of one tenant may make together.
    pub per_tenant_per_minute: Option<u32>,
}

/// The limits and their counters; one per process, shared by every front end.
pub struct RateLimits {
    per_user: Option<u64>,
    per_tenant: Option<u64>,
    /// Per-replica counters: `(scope, id)` → (window, count); old windows swept as it grows.
    local: Mutex<HashMap<(Scope, String), (u64, u64)>>,
    redis: Option<(RedisLink, redis::Script)>,
    metrics: Arc<Metrics>,
}

/// Which limit a request exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The caller's own limit.
    User,
    /// The caller's tenant's limit.
    Tenant,
}

/// A request over a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many requests for this {}; retry in {retry_after_secs} s", .scope.label())]
pub struct RateLimited {
    /// The exceeded limit.
    pub scope: Scope,
    retry_after_secs: u64,
}

// === impl LimitsConfig ===

impl LimitsConfig {
    /// Rule violations, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.per_user_per_minute == Some(0) {
            p.push("limits.per_user_per_minute must be positive (omit it for no limit)".into());
        }
        if self.per_tenant_per_minute == Some(0) {
            p.push("limits.per_tenant_per_minute must be positive (omit it for no limit)".into());
        }
        p
    }
}

// === impl Scope ===

impl Scope {
    /// `user` or `tenant` (metric label and message word).
    pub fn label(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Tenant => "tenant",
        }
    }
}

// === impl RateLimited ===

impl RateLimited {
    /// Seconds until the window ends (at least 1): the `Retry-After` value.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after_secs
    }

    /// The same wait in milliseconds, for EWS's `ErrorServerBusy` `BackOffMilliseconds`.
    pub fn back_off_millis(&self) -> u64 {
        self.retry_after_secs.saturating_mul(1000)
    }

    /// Graph's form (also the Outlook REST API's): 429, `Retry-After`, a JSON error body.
    pub fn graph_response(&self) -> Response {
        let body = serde_json::json!({
            "error": { "code": "TooManyRequests", "message": self.to_string() }
        });
        let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(self.retry_after_secs));
        response
    }
}

impl IntoResponse for RateLimited {
    fn into_response(self) -> Response {
        self.graph_response()
    }
}

// === impl RateLimits ===

impl RateLimits {
    /// The limits of `[limits]`, counted in `[cache.redis]` when configured.
    pub fn new(
        limits: &LimitsConfig,
        cache: &CacheConfig,
        metrics: Arc<Metrics>,
    ) -> Result<RateLimits, RedisLinkError> {
        let enabled = limits.per_user_per_minute.is_some() || limits.per_tenant_per_minute.is_some();
        let redis = match enabled {
            true => RedisLink::new(cache, "rate_limit", Arc::clone(&metrics))?.map(|l| (l, redis::Script::new(INCR))),
            false => None,
        };
        Ok(RateLimits {
            per_user: limits.per_user_per_minute.map(u64::from),
            per_tenant: limits.per_tenant_per_minute.map(u64::from),
            local: Mutex::new(HashMap::new()),
            redis,
            metrics,
        })
    }

    /// Counts one request of `caller`; `Err` when it exceeds the user's or the tenant's limit.
    pub async fn check(&self, caller: &Caller) -> Result<(), RateLimited> {
        let now = crate::idp::unix_now().max(0).unsigned_abs();
        let (window, retry_after_secs) = (now / WINDOW_SECS, (WINDOW_SECS - now % WINDOW_SECS).max(1));
        let limits = [
            (
                Scope::User,
                self.per_user,
                format!("{}/{}", caller.tenant_id, caller.oid),
            ),
            (Scope::Tenant, self.per_tenant, caller.tenant_id.to_string()),
        ];
        for (scope, limit, id) in limits {
            let Some(limit) = limit else { continue };
            if self.count(scope, &id, window).await > limit {
                self.metrics.incr("rate_limited_total", &[("scope", scope.label())]);
                return Err(RateLimited {
                    scope,
                    retry_after_secs,
                });
            }
        }
        Ok(())
    }

    /// This window's count for `id` after adding one: shared when Redis answers, else local.
    async fn count(&self, scope: Scope, id: &str, window: u64) -> u64 {
        if let Some((link, script)) = &self.redis {
            let key = link.key(
                &format!("rate-{}", scope.label()),
                &[id.as_bytes(), &window.to_be_bytes()],
            );
            let mut conn = link.connection();
            let mut invocation = script.key(key);
            invocation.arg(WINDOW_SECS * 1000);
            if let Some(n) = link.run(invocation.invoke_async::<u64>(&mut conn)).await {
                return n;
            }
        }
        let mut local = self.local.lock();
        if local.len() >= SWEEP_AT {
            local.retain(|_, (w, _)| *w == window);
        }
        let entry = local.entry((scope, id.to_string())).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        entry.1
    }
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("per_user", &self.per_user)
            .field("per_tenant", &self.per_tenant)
            .field("shared", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
