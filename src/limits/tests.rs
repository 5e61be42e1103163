use std::time::Duration;

use axum::body::to_bytes;

use super::*;
use crate::obo::test_redis::{RedisServer, key_b64};

fn caller(tenant: &str, oid: &str) -> Caller {
    Caller {
        tenant_id: tenant.into(),
        oid: oid.into(),
        subject: "subject".into(),
        client_app: None,
        scopes: vec!["access_as_user".into()],
        username: Some(format!("{oid}@contoso.com")),
        version: 2,
        expires_at: crate::idp::unix_now() + 3600,
        assertion: Arc::from("assertion"),
    }
}

fn limits(user: Option<u32>, tenant: Option<u32>) -> LimitsConfig {
    LimitsConfig {
        per_user_per_minute: user,
        per_tenant_per_minute: tenant,
    }
}

/// Counts restart each minute: keep a test inside one window.
async fn fresh_window() {
    let into = crate::idp::unix_now().max(0).unsigned_abs() % WINDOW_SECS;
    if into > WINDOW_SECS - 5 {
        tokio::time::sleep(Duration::from_secs(WINDOW_SECS + 1 - into)).await;
    }
}

#[tokio::test]
async fn a_user_over_the_limit_is_refused_until_the_window_ends_and_others_are_not() {
    fresh_window().await;
    let metrics = Arc::new(Metrics::default());
    let l = RateLimits::new(&limits(Some(3), None), &CacheConfig::default(), Arc::clone(&metrics)).unwrap();
    let alice = caller("t1", "alice");
    for _ in 0..3 {
        l.check(&alice).await.unwrap();
    }
    let refused = l.check(&alice).await.unwrap_err();
    assert_eq!(refused.scope, Scope::User);
    assert!((1..=WINDOW_SECS).contains(&refused.retry_after_secs()));
    l.check(&caller("t1", "bob")).await.unwrap();
    assert_eq!(metrics.get("rate_limited_total", &[("scope", "user")]), 1);
}

#[tokio::test]
async fn a_tenant_limit_covers_all_its_users() {
    fresh_window().await;
    let l = RateLimits::new(
        &limits(None, Some(4)),
        &CacheConfig::default(),
        Arc::new(Metrics::default()),
    )
    .unwrap();
    for user in ["a", "b", "c", "d"] {
        l.check(&caller("t1", user)).await.unwrap();
    }
    assert_eq!(l.check(&caller("t1", "e")).await.unwrap_err().scope, Scope::Tenant);
    l.check(&caller("t2", "a")).await.unwrap();
}

#[tokio::test]
async fn replicas_count_together_in_redis_and_alone_when_it_is_down() {
    fresh_window().await;
    let mut redis = RedisServer::start().await;
    let cache = redis.config(&[&key_b64(1)]);
    let config = limits(Some(4), None);
    let a = RateLimits::new(&config, &cache, Arc::new(Metrics::default())).unwrap();
    let b = RateLimits::new(&config, &cache, Arc::new(Metrics::default())).unwrap();
    let alice = caller("72f988bf-tenant", "alice-oid");
    for replica in [&a, &b, &a, &b] {
        replica.check(&alice).await.unwrap();
    }
    assert!(b.check(&alice).await.is_err(), "the limit did not hold across replicas");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut redis.connection().await.unwrap())
        .await
        .unwrap();
    assert!(
        keys.iter().all(|k| !k.contains("alice") && !k.contains("72f988bf")),
        "{keys:?}"
    );
    redis.stop();
    let bob = caller("72f988bf-tenant", "bob-oid");
    for _ in 0..4 {
        a.check(&bob).await.expect("Redis being down refused a request");
    }
    assert!(
        a.check(&bob).await.is_err(),
        "the local count does not apply without Redis"
    );
}

#[tokio::test]
async fn the_refusal_in_graph_form_is_429_with_retry_after() {
    let refused = RateLimited {
        scope: Scope::Tenant,
        retry_after_secs: 17,
    };
    let response = refused.graph_response();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[header::RETRY_AFTER], "17");
    let body = to_bytes(response.into_body(), 4096).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"]["code"], "TooManyRequests");
}

#[test]
fn zero_limits_are_refused_by_validation() {
    assert_eq!(limits(Some(0), Some(0)).problems().len(), 2);
    assert!(limits(Some(10), None).problems().is_empty());
}
