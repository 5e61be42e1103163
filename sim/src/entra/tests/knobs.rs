//! Knobs and inspection: scripted failures in Entra's exact shape, correlation ids, key
//! rotation, outages, latency, token lifetime and counters, through the API and over HTTP.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Harness, assert_aad_error, start};

async fn obo(h: &Harness) -> (StatusCode, Value) {
    h.obo_with_secret(&h.user_token(), "Mail.Read").await
}

#[tokio::test]
async fn fail_next_answers_in_entra_s_shape_then_recovers() {
    let h = start().await;
    h.sim.fail_next(2, 7000215);
    for _ in 0..2 {
        let (status, body) = obo(&h).await;
        assert_aad_error(status, &body, StatusCode::UNAUTHORIZED, 7000215, "invalid_client");
    }
    let (status, _) = obo(&h).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn scripted_codes_carry_their_error_names_suberrors_and_claims() {
    let h = start().await;
    let cases: [(u32, StatusCode, &str, Option<&str>); 6] = [
        (
            65001,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            Some("consent_required"),
        ),
        (500133, StatusCode::BAD_REQUEST, "invalid_grant", None),
        (50013, StatusCode::BAD_REQUEST, "invalid_grant", None),
        (700027, StatusCode::UNAUTHORIZED, "invalid_client", None),
        (7000222, StatusCode::UNAUTHORIZED, "invalid_client", None),
        (53003, StatusCode::BAD_REQUEST, "invalid_grant", Some("message_only")),
    ];
    for (code, status_expected, error, suberror) in cases {
        h.sim.fail_next(1, code);
        let (status, body) = obo(&h).await;
        assert_aad_error(status, &body, status_expected, code, error);
        assert_eq!(body["suberror"].as_str(), suberror, "{body}");
        assert!(body.get("claims").is_none());
    }
    for code in [50076, 50079] {
        h.sim.fail_next(1, code);
        let (status, body) = obo(&h).await;
        assert_aad_error(status, &body, StatusCode::BAD_REQUEST, code, "interaction_required");
        let claims: Value = serde_json::from_str(body["claims"].as_str().unwrap()).unwrap();
        assert_eq!(claims["access_token"]["capolids"]["essential"], true);
    }
}

#[tokio::test]
async fn throttling_and_outage_codes_ask_to_retry_later() {
    let h = start().await;
    for (code, expected) in [
        (90055, StatusCode::TOO_MANY_REQUESTS),
        (90033, StatusCode::SERVICE_UNAVAILABLE),
    ] {
        h.sim.fail_next(1, code);
        let response = h
            .http
            .post(h.token_url())
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert_eq!(response.headers()["retry-after"], "5");
        let body: Value = response.json().await.unwrap();
        assert_aad_error(status, &body, expected, code, "temporarily_unavailable");
    }
}

#[tokio::test]
async fn correlation_id_echoes_a_guid_client_request_id() {
    let h = start().await;
    let id = "5d1a8f7e-2b3c-4d5e-8f9a-0b1c2d3e4f50";
    h.sim.fail_next(1, 65001);
    let response = h
        .http
        .post(h.token_url())
        .header("client-request-id", id)
        .header("return-client-request-id", "true")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["client-request-id"], id);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["correlation_id"], id);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains(&format!("Correlation ID: {id}"))
    );
    assert_eq!(h.sim.token_requests()[0].client_request_id.as_deref(), Some(id));

    // Without return-client-request-id the header is not sent back; a non-GUID id is not used.
    let response = h
        .http
        .post(h.token_url())
        .header("client-request-id", "req-42")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert!(!response.headers().contains_key("client-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_ne!(body["correlation_id"], "req-42");
    uuid::Uuid::parse_str(body["correlation_id"].as_str().unwrap()).unwrap();
}

#[tokio::test]
async fn rotation_drops_the_oldest_kid_and_its_tokens() {
    let h = start().await;
    let before = h.sim.published_kids();
    let old_token = h.user_token();
    h.sim.rotate_keys();
    let after = h.sim.published_kids();
    assert!(!after.contains(&before[0]));
    assert_eq!(after[0], before[1]);
    assert_eq!(h.sim.signing_kid(), after[1]);
    let url = format!("{}/{}/discovery/v2.0/keys", h.sim.url(), h.tid());
    let jwks: Value = h.http.get(url).send().await.unwrap().json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, after.iter().map(String::as_str).collect::<Vec<_>>());
    let (status, body) = h.obo_with_secret(&old_token, "Mail.Read").await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 50013, "invalid_grant");
    let (status, _) = obo(&h).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn entra_down_answers_503_everywhere_until_it_is_back() {
    let h = start().await;
    h.sim.set_available(false);
    let tid = h.tid().to_owned();
    for path in [
        format!("/{tid}/v2.0/.well-known/openid-configuration"),
        format!("/{tid}/discovery/v2.0/keys"),
    ] {
        let response = h.http.get(format!("{}{path}", h.sim.url())).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(response.headers().contains_key("retry-after"));
    }
    let (status, body) = obo(&h).await;
    assert_aad_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        90033,
        "temporarily_unavailable",
    );
    h.sim.set_available(true);
    let (status, _) = obo(&h).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn latency_delays_the_token_endpoint() {
    let h = start().await;
    h.sim.set_latency(Duration::from_millis(300));
    let started = Instant::now();
    let (status, _) = obo(&h).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn graph_token_lifetime_is_adjustable() {
    let h = start().await;
    h.sim.set_graph_token_lifetime(130);
    let (_, body) = obo(&h).await;
    assert_eq!(body["expires_in"], 130);
    let claims = super::claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 130);
}

#[tokio::test]
async fn stats_count_requests_by_grant_and_failure_code() {
    let h = start().await;
    let tid = h.tid().to_owned();
    h.http
        .get(format!("{}/{tid}/v2.0/.well-known/openid-configuration", h.sim.url()))
        .send()
        .await
        .unwrap();
    h.http
        .get(format!("{}/{tid}/discovery/v2.0/keys", h.sim.url()))
        .send()
        .await
        .unwrap();
    obo(&h).await;
    obo(&h).await;
    h.sim.fail_next(1, 50076);
    obo(&h).await;
    let stats: Value = h
        .http
        .get(format!("{}/sandbox/stats", h.sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats, h.sim.stats());
    assert_eq!(stats["exchanges"], json!({"obo": 3, "client_credentials": 0}));
    assert_eq!(stats["successes"]["obo"], 2);
    assert_eq!(stats["failures"], json!({"50076": 1}));
    assert_eq!(stats["token_requests"], 3);
    assert_eq!(stats["discovery_requests"], 1);
    assert_eq!(stats["jwks_requests"], 1);
}

#[tokio::test]
async fn sandbox_http_knobs() {
    let h = start().await;
    let post = |path: &str, body: Value| {
        h.http
            .post(format!("{}/sandbox/{path}", h.sim.url()))
            .json(&body)
            .send()
    };
    let response = post("fail", json!({"count": 1, "aadsts": 65001})).await.unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["queued"], 1);
    let (status, body) = obo(&h).await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 65001, "invalid_grant");

    let before = h.sim.signing_kid();
    let rotated: Value = post("rotate-keys", json!({})).await.unwrap().json().await.unwrap();
    assert_ne!(rotated["signing_kid"], before.as_str());
    assert_eq!(rotated["signing_kid"], h.sim.signing_kid().as_str());

    post("consent", json!({"granted": false})).await.unwrap();
    assert_eq!(obo(&h).await.1["error_codes"], json!([65001]));
    post("consent", json!({"granted": true})).await.unwrap();
    post("available", json!({"up": false})).await.unwrap();
    assert_eq!(obo(&h).await.0, StatusCode::SERVICE_UNAVAILABLE);
    post("available", json!({"up": true})).await.unwrap();
    let bad = post("fail", json!({"count": "x"})).await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let federated: Value = post("federated-token", json!({})).await.unwrap().json().await.unwrap();
    let (status, body) = h.obo_with_assertion(federated["token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let recorded: Value = h
        .http
        .get(format!("{}/sandbox/token-requests", h.sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(recorded.as_array().unwrap().len(), 4);
    assert_eq!(recorded[0]["outcome"], json!({"failed": 65001}));
    assert_eq!(recorded[3]["outcome"], "ok");
}
