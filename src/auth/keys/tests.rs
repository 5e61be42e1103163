//! Key cache behaviour against a local stand-in for Entra ID's discovery and JWKS endpoints.

use std::{sync::Arc, time::Duration};

use axum::{http::StatusCode, response::IntoResponse};

use super::super::{AuthError, RejectReason, test_support::*};

fn bearer(index: usize) -> String {
    format!("Bearer {}", mint(&v2_claims(), index))
}

/// A distinct token signed by key `index` (a new `uti`, so the validated-token cache misses).
fn fresh_bearer(index: usize, n: usize) -> String {
    let mut claims = v2_claims();
    claims["uti"] = serde_json::json!(format!("uti-{n}"));
    format!("Bearer {}", mint(&claims, index))
}

fn reason(result: Result<super::super::Caller, AuthError>) -> Option<RejectReason> {
    result.unwrap_err().reject_reason()
}

#[tokio::test]
async fn an_unknown_kid_makes_exactly_one_refresh_shared_by_concurrent_requests() {
    let entra = FakeEntra::start(&[0]).await;
    let (auth, _) = authenticator(&config(&entra.base), &TestClock::at(NOW));
    assert!(auth.warm_up().await);
    assert_eq!(entra.jwks_hits(), 1);

    // Key 2 is published after the gateway loaded the set; a slow JWKS makes requests overlap.
    entra.set_keys(&[0, 1]);
    entra.set_jwks_delay(Duration::from_millis(200));
    let auth = Arc::new(auth);
    let requests = (0..10).map(|n| {
        let auth = auth.clone();
        async move { auth.authenticate(Some(&fresh_bearer(1, n))).await }
    });
    let results = futures::future::join_all(requests).await;
    assert!(
        results.iter().all(Result::is_ok),
        "{:?}",
        results.iter().map(|r| r.as_ref().err()).collect::<Vec<_>>()
    );
    assert_eq!(entra.jwks_hits(), 2, "one refresh for ten concurrent misses");
}

#[tokio::test]
async fn within_the_minimum_interval_an_unknown_kid_is_refused_without_refetching() {
    let entra = FakeEntra::start(&[0]).await;
    let (auth, _) = authenticator(&config(&entra.base), &TestClock::at(NOW));
    assert!(auth.warm_up().await);

    // Key 3 is never published: the first miss refreshes once, later misses wait out the interval.
    assert_eq!(
        reason(auth.authenticate(Some(&fresh_bearer(2, 1))).await),
        Some(RejectReason::UnknownKey)
    );
    assert_eq!(entra.jwks_hits(), 2);
    assert_eq!(
        reason(auth.authenticate(Some(&fresh_bearer(2, 2))).await),
        Some(RejectReason::UnknownKey)
    );
    assert_eq!(
        reason(auth.authenticate(Some(&fresh_bearer(2, 3))).await),
        Some(RejectReason::UnknownKey)
    );
    assert_eq!(entra.jwks_hits(), 2, "no refresh within key_refresh_min_interval_secs");

    // Even once key 3 appears, it is only found after the interval.
    entra.set_keys(&[0, 2]);
    assert_eq!(
        reason(auth.authenticate(Some(&fresh_bearer(2, 4))).await),
        Some(RejectReason::UnknownKey)
    );
    assert!(
        auth.authenticate(Some(&bearer(0))).await.is_ok(),
        "known keys keep working"
    );
}

#[tokio::test]
async fn rotation_picks_up_the_new_kid_and_drops_the_old_one() {
    let entra = FakeEntra::start(&[0]).await;
    let mut config = config(&entra.base);
    config.entra.key_refresh_min_interval_secs = 0;
    let (auth, _) = authenticator(&config, &TestClock::at(NOW));
    assert!(auth.authenticate(Some(&fresh_bearer(0, 1))).await.is_ok());

    entra.set_keys(&[1]);
    assert!(
        auth.authenticate(Some(&fresh_bearer(1, 2))).await.is_ok(),
        "new kid fetched on first sight"
    );
    assert_eq!(auth.tenant_keys(TENANT).unwrap().kids(), vec![kid(1)]);
    let err = auth.authenticate(Some(&fresh_bearer(0, 3))).await.unwrap_err();
    assert_eq!(err.reject_reason(), Some(RejectReason::UnknownKey));
    assert_eq!(err.to_string(), "signing key not found");
}

#[tokio::test]
async fn a_failing_refresh_keeps_the_last_good_keys() {
    let entra = FakeEntra::start(&[0]).await;
    let mut config = config(&entra.base);
    config.entra.key_refresh_min_interval_secs = 0;
    let (auth, metrics) = authenticator(&config, &TestClock::at(NOW));
    assert!(auth.warm_up().await);

    entra.set_jwks_failing(true);
    // An unknown kid forces a refresh, which fails: still a 401 (keys exist), never a 503.
    assert_eq!(
        reason(auth.authenticate(Some(&fresh_bearer(1, 1))).await),
        Some(RejectReason::UnknownKey)
    );
    assert_eq!(entra.jwks_hits(), 2);
    assert_eq!(metrics.get("signing_key_refresh_total", &[("result", "error")]), 1);
    assert!(auth.authenticate(Some(&fresh_bearer(0, 2))).await.is_ok());
    assert!(auth.is_ready());
}

#[tokio::test]
async fn a_tenant_whose_keys_never_loaded_gets_503_with_retry_after() {
    let entra = FakeEntra::start(&[0]).await;
    entra.set_jwks_failing(true);
    let (auth, metrics) = authenticator(&config(&entra.base), &TestClock::at(NOW));

    let err = auth.authenticate(Some(&bearer(0))).await.unwrap_err();
    assert_eq!(
        err,
        AuthError::KeysUnavailable {
            tenant_id: TENANT.into(),
            retry_after_secs: 30
        }
    );
    assert_eq!(
        metrics.get("inbound_token_rejected_total", &[("reason", "keys_unavailable")]),
        1
    );
    let response = err.into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "30");

    // Every request within the retry interval is answered from the failure, not by refetching.
    let again = auth.authenticate(Some(&bearer(0))).await.unwrap_err();
    assert_eq!(again.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(entra.jwks_hits(), 1);

    // Once Entra answers again, a forced refresh (what the background task does) recovers.
    entra.set_jwks_failing(false);
    assert!(auth.warm_up().await);
    assert!(auth.authenticate(Some(&bearer(0))).await.is_ok());
}

#[tokio::test]
async fn an_unreachable_authority_is_a_503_not_a_401() {
    // Bind then drop a listener: the port is closed.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let (auth, _) = authenticator(&config(&authority), &TestClock::at(NOW));
    let err = auth.authenticate(Some(&bearer(0))).await.unwrap_err();
    assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(err.retry_after_secs(), Some(30));
}

#[tokio::test]
async fn tenants_seen_under_a_wildcard_get_their_own_key_sets() {
    let entra = FakeEntra::start(&[0]).await;
    let mut config = config(&entra.base);
    config.entra.allowed_tenants = vec!["*".into()];
    let (auth, _) = authenticator(&config, &TestClock::at(NOW));
    let other = serde_json::json!({
        "tid": OTHER_TENANT,
        "iss": format!("https://login.microsoftonline.com/{OTHER_TENANT}/v2.0"),
    });
    let mut claims = v2_claims();
    for (k, v) in other.as_object().unwrap() {
        claims[k] = v.clone();
    }
    assert!(auth.authenticate(Some(&bearer(0))).await.is_ok());
    assert!(
        auth.authenticate(Some(&format!("Bearer {}", mint(&claims, 0))))
            .await
            .is_ok()
    );
    assert_eq!(
        entra.discovery_hits(),
        vec![TENANT.to_string(), OTHER_TENANT.to_string()]
    );
}

#[tokio::test]
async fn the_background_refresher_reloads_keys_and_drops_rotated_ones() {
    let entra = FakeEntra::start(&[0]).await;
    let mut config = config(&entra.base);
    config.entra.key_refresh_secs = 1;
    let (auth, _) = authenticator(&config, &TestClock::at(NOW));
    let auth = Arc::new(auth);
    assert!(auth.warm_up().await);
    auth.spawn_refresher();
    auth.spawn_refresher(); // a second call must not start a second loop

    entra.set_keys(&[1]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while auth.tenant_keys(TENANT).unwrap().kids() != vec![kid(1)] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "background refresh did not happen"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(auth.authenticate(Some(&bearer(1))).await.is_ok());
    assert_eq!(
        reason(auth.authenticate(Some(&fresh_bearer(0, 1))).await),
        Some(RejectReason::UnknownKey)
    );
}

#[tokio::test]
async fn an_empty_jwks_keeps_the_tenant_unloaded() {
    let entra = FakeEntra::start(&[]).await;
    let (auth, _) = authenticator(&config(&entra.base), &TestClock::at(NOW));
    assert!(!auth.warm_up().await, "an empty JWKS is not a successful load");
    assert!(auth.tenant_keys(TENANT).is_none());
}
