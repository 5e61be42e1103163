use std::{io::Write, time::Duration};

use axum::{body::to_bytes, http::HeaderMap, response::IntoResponse};
use base64::{Engine, engine::general_purpose::STANDARD};
use secrecy::ExposeSecret;
use serde_json::Value;

use super::*;
use crate::{
    config::{AssertionAlgorithm, ResolvedCredential},
    idp::test_support::*,
};

const CLAIMS: &str = r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#;

struct Harness {
    entra: FakeEntra,
    broker: Arc<OboBroker>,
    metrics: Arc<Metrics>,
}

async fn harness(margin: u64) -> Harness {
    harness_with(margin, secret_credential()).await
}

async fn harness_with(margin: u64, credential: ResolvedCredential) -> Harness {
    let entra = FakeEntra::start().await;
    let config = config(&entra.authority, margin, 5);
    let metrics = Arc::new(Metrics::default());
    let idp = EntraClient::new(&config, credential, http());
    let broker = Arc::new(OboBroker::new(&config, idp, Arc::clone(&metrics)));
    Harness { entra, broker, metrics }
}

fn caller(tenant: &str, assertion: &str) -> Caller {
    Caller {
        tenant_id: tenant.into(),
        oid: "00000000-0000-0000-0000-0000000000a1".into(),
        subject: "subject".into(),
        client_app: Some("11111111-2222-3333-4444-555555555555".into()),
        scopes: vec!["access_as_user".into()],
        username: Some("alice@contoso.com".into()),
        version: 2,
        expires_at: crate::idp::unix_now() + 3600,
        assertion: Arc::from(assertion),
    }
}

fn alice() -> Caller {
    caller(TENANT, "alice-inbound-token")
}

fn token_of(token: &GraphToken) -> &str {
    token.access_token.expose_secret()
}

async fn response_parts(error: OboError) -> (u16, HeaderMap, Value) {
    let response = error.into_response();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, headers, serde_json::from_slice(&body).unwrap())
}

// === caching ===

#[tokio::test]
async fn a_second_request_with_the_same_token_is_served_from_cache() {
    let h = harness(120).await;
    let first = h.broker.graph_token(&alice(), None).await.unwrap();
    let second = h.broker.graph_token(&alice(), None).await.unwrap();
    assert_eq!(token_of(&first), "graph-token-1");
    assert!(Arc::ptr_eq(&first, &second));
    assert!((first.expires_at - crate::idp::unix_now() - 3600).abs() <= 2);
    assert_eq!(h.entra.count(), 1);
    let stats = h.broker.cache_stats();
    assert_eq!((stats.hits, stats.misses, stats.exchanges), (1, 1, 1));
    assert_eq!(h.metrics.get("obo_cache_total", &[("result", "hit")]), 1);
    assert_eq!(h.metrics.get("obo_cache_total", &[("result", "miss")]), 1);
    assert_eq!(h.metrics.get("obo_exchanges_total", &[("outcome", "ok")]), 1);
}

#[tokio::test]
async fn scopes_are_sent_trimmed_and_deduplicated() {
    let h = harness(120).await;
    h.broker.graph_token(&alice(), None).await.unwrap();
    let request = &h.entra.requests()[0];
    assert_eq!(
        request.form["scope"],
        "https://graph.microsoft.com/Mail.ReadWrite https://graph.microsoft.com/User.Read"
    );
    assert_eq!(request.tenant, TENANT);
    assert!(uuid::Uuid::try_parse(request.headers["client-request-id"].to_str().unwrap()).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_first_requests_make_exactly_one_exchange() {
    let h = harness(120).await;
    h.entra.set_delay(Duration::from_millis(300));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let broker = Arc::clone(&h.broker);
            tokio::spawn(async move { broker.graph_token(&alice(), None).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(token_of(&task.await.unwrap().unwrap()), "graph-token-1");
    }
    assert_eq!(h.entra.count(), 1);
    let stats = h.broker.cache_stats();
    assert_eq!(stats.misses, 1);
    assert_eq!(stats.exchanges, 1);
    assert_eq!(stats.hits + stats.coalesced, 99);
    assert!(stats.coalesced > 0, "{stats:?}");
}

#[tokio::test]
async fn different_tokens_and_tenants_never_share_an_entry() {
    let h = harness(120).await;
    let other_tenant = "0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f";
    let a = h.broker.graph_token(&caller(TENANT, "token-a"), None).await.unwrap();
    let b = h.broker.graph_token(&caller(TENANT, "token-b"), None).await.unwrap();
    let c = h
        .broker
        .graph_token(&caller(other_tenant, "token-a"), None)
        .await
        .unwrap();
    assert_eq!(
        [token_of(&a), token_of(&b), token_of(&c)],
        ["graph-token-1", "graph-token-2", "graph-token-3"]
    );
    assert_eq!(h.entra.requests()[2].tenant, other_tenant);
    h.broker.cache.run_pending_tasks().await;
    assert_eq!(h.broker.cache_stats().entries, 3);
    let again = h.broker.graph_token(&caller(TENANT, "token-b"), None).await.unwrap();
    assert_eq!(token_of(&again), "graph-token-2");
    assert_eq!(h.entra.count(), 3);
}

#[tokio::test]
async fn an_entry_expires_at_the_token_expiry_minus_the_margin() {
    let h = harness(1).await;
    h.entra.set_expires_in(2);
    let first = h.broker.graph_token(&alice(), None).await.unwrap();
    let cached = h.broker.graph_token(&alice(), None).await.unwrap();
    assert!(Arc::ptr_eq(&first, &cached));
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let renewed = h.broker.graph_token(&alice(), None).await.unwrap();
    assert_eq!(token_of(&renewed), "graph-token-2");
    assert_eq!(h.entra.count(), 2);
}

#[tokio::test]
async fn a_token_already_inside_the_margin_is_never_served_from_cache() {
    let h = harness(120).await;
    h.entra.set_expires_in(100);
    let first = h.broker.graph_token(&alice(), None).await.unwrap();
    let second = h.broker.graph_token(&alice(), None).await.unwrap();
    assert_eq!(
        (token_of(&first), token_of(&second)),
        ("graph-token-1", "graph-token-2")
    );
    assert_eq!(h.broker.cache_stats().hits, 0);
}

#[tokio::test]
async fn failures_are_not_cached() {
    let h = harness(120).await;
    h.entra
        .push(Reply::entra(503, "temporarily_unavailable", 0, None).with_header("retry-after", "7"));
    let err = h.broker.graph_token(&alice(), None).await.unwrap_err();
    assert!(
        matches!(
            err,
            OboError::Unavailable {
                retry_after_secs: 7,
                ..
            }
        ),
        "{err:?}"
    );
    let token = h.broker.graph_token(&alice(), None).await.unwrap();
    assert_eq!(token_of(&token), "graph-token-2");
    assert_eq!(h.entra.count(), 2);
    assert_eq!(h.metrics.get("obo_exchanges_total", &[("outcome", "unavailable")]), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_on_a_failing_exchange_all_get_its_error_and_the_next_call_retries() {
    let h = harness(120).await;
    h.entra.set_delay(Duration::from_millis(300));
    h.entra.push(Reply::entra(400, "invalid_grant", 65001, None));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let broker = Arc::clone(&h.broker);
            tokio::spawn(async move { broker.graph_token(&alice(), None).await })
        })
        .collect();
    for task in tasks {
        assert!(matches!(task.await.unwrap(), Err(OboError::ConsentRequired { .. })));
    }
    assert_eq!(h.entra.count(), 1);
    assert!(h.broker.graph_token(&alice(), None).await.is_ok());
    assert_eq!(h.entra.count(), 2);
}

#[tokio::test]
async fn a_claims_challenge_skips_the_cache_and_refreshes_the_entry() {
    let h = harness(120).await;
    h.broker.graph_token(&alice(), None).await.unwrap();
    let fresh = h.broker.graph_token(&alice(), Some(CLAIMS)).await.unwrap();
    assert_eq!(token_of(&fresh), "graph-token-2");
    let requests = h.entra.requests();
    assert_eq!(requests.len(), 2);
    assert!(!requests[0].form.contains_key("claims"));
    assert_eq!(requests[1].form["claims"], CLAIMS);
    let after = h.broker.graph_token(&alice(), None).await.unwrap();
    assert_eq!(token_of(&after), "graph-token-2");
    assert_eq!(h.broker.cache_stats().bypassed, 1);
    assert_eq!(h.metrics.get("obo_cache_total", &[("result", "bypass")]), 1);
}

#[tokio::test]
async fn a_failed_claims_exchange_does_not_poison_the_cache() {
    let h = harness(120).await;
    h.broker.graph_token(&alice(), None).await.unwrap();
    h.entra
        .push(Reply::entra(400, "interaction_required", 50076, Some(CLAIMS)));
    assert!(h.broker.graph_token(&alice(), Some(CLAIMS)).await.is_err());
    let cached = h.broker.graph_token(&alice(), None).await.unwrap();
    assert_eq!(token_of(&cached), "graph-token-1");
    assert_eq!(h.entra.count(), 2);
}

#[test]
fn graph_token_debug_is_redacted() {
    let token = GraphToken {
        access_token: SecretString::from("eyJ-graph-secret"),
        expires_at: 42,
    };
    let text = format!("{token:?}");
    assert!(!text.contains("eyJ-graph-secret"));
    assert!(text.contains("42"));
}

// === error mapping ===

async fn fail_with(reply: Reply) -> (Harness, OboError) {
    let h = harness(120).await;
    h.entra.push(reply);
    let err = h.broker.graph_token(&alice(), None).await.unwrap_err();
    (h, err)
}

fn assert_entra_ids(body: &Value, error: &str, code: u64) {
    let entra = &body["error"]["entra"];
    assert_eq!(entra["error"], error);
    assert_eq!(entra["error_codes"], serde_json::json!([code]));
    assert_eq!(entra["trace_id"], "0000aaaa-11bb-cccc-dd22-eeeeee333333");
    assert_eq!(entra["correlation_id"], "aaaa0000-bb11-2222-33cc-444444dddddd");
    assert_eq!(entra["timestamp"], "2026-12-04 10:00:00Z");
    assert_eq!(body["error"]["tenant"], TENANT);
}

#[tokio::test]
async fn claims_answers_become_401_insufficient_claims_with_base64_claims() {
    for (error, code) in [
        ("interaction_required", 50079),
        ("invalid_grant", 50076),
        ("invalid_grant", 53003),
    ] {
        let (h, err) = fail_with(Reply::entra(400, error, code, Some(CLAIMS))).await;
        let (status, headers, body) = response_parts(err).await;
        assert_eq!(status, 401, "{error} {code}");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("Bearer error=\"insufficient_claims\""),
            "{challenge}"
        );
        assert!(
            challenge.contains(&format!("claims=\"{}\"", STANDARD.encode(CLAIMS))),
            "{challenge}"
        );
        assert_eq!(body["error"]["code"], "interaction_required");
        assert_eq!(body["error"]["claims"], CLAIMS);
        assert_entra_ids(&body, error, code);
        assert_eq!(
            h.metrics
                .get("obo_exchanges_total", &[("outcome", "interaction_required")]),
            1
        );
    }
}

#[tokio::test]
async fn interaction_required_without_claims_is_still_a_401_challenge() {
    let (_h, err) = fail_with(Reply::entra(400, "interaction_required", 50173, None)).await;
    let (status, headers, body) = response_parts(err).await;
    assert_eq!(status, 401);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer error=\"insufficient_claims\"") && !challenge.contains("claims=\""));
    assert_entra_ids(&body, "interaction_required", 50173);
}

#[tokio::test]
async fn missing_consent_becomes_403_with_the_admin_consent_url() {
    for (error, code) in [
        ("invalid_grant", 65001),
        ("consent_required", 65004),
        ("unauthorized_client", 700016),
    ] {
        let (h, err) = fail_with(Reply::entra(400, error, code, None)).await;
        let (status, headers, body) = response_parts(err).await;
        assert_eq!(status, 403, "{code}");
        assert!(headers.get("www-authenticate").is_none());
        assert_eq!(body["error"]["code"], "consent_required");
        let expected = format!(
            "{}/{TENANT}/v2.0/adminconsent?client_id={CLIENT_ID}&scope=https%3A%2F%2Fgraph.microsoft.com%2FMail.ReadWrite+https%3A%2F%2Fgraph.microsoft.com%2FUser.Read",
            h.entra.authority
        );
        assert_eq!(body["error"]["admin_consent_url"], expected);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("AADSTS{code}"))
        );
        assert_entra_ids(&body, error, code);
        assert_eq!(
            h.metrics.get("obo_exchanges_total", &[("outcome", "consent_required")]),
            1
        );
    }
}

#[tokio::test]
async fn an_expired_or_invalid_assertion_becomes_401_invalid_token() {
    for code in [500133, 50013, 240002] {
        let (h, err) = fail_with(Reply::entra(400, "invalid_grant", code, None)).await;
        let (status, headers, body) = response_parts(err).await;
        assert_eq!(status, 401);
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
            "{challenge}"
        );
        assert!(challenge.contains(&format!("AADSTS{code}")));
        assert_eq!(body["error"]["code"], "invalid_assertion");
        assert_entra_ids(&body, "invalid_grant", code);
        assert_eq!(
            h.metrics
                .get("obo_exchanges_total", &[("outcome", "invalid_assertion")]),
            1
        );
    }
    let (_h, err) = fail_with(Reply::entra(400, "invalid_grant", 500133, None)).await;
    let (_, headers, _) = response_parts(err).await;
    assert!(headers["www-authenticate"].to_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn rejected_client_credentials_become_502_naming_the_key_to_fix() {
    let cases = [
        (secret_credential(), 7000222, "entra.credential.secret"),
        (secret_credential(), 7000215, "entra.credential.secret"),
        (
            certificate_credential(AssertionAlgorithm::Rs256),
            700027,
            "entra.credential.private_key",
        ),
    ];
    for (credential, code, key) in cases {
        let h = harness_with(120, credential).await;
        h.entra.push(Reply::entra(401, "invalid_client", code, None));
        let err = h.broker.graph_token(&alice(), None).await.unwrap_err();
        let OboError::ClientCredential {
            config_key, problem, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(*config_key, key);
        assert!(
            problem.contains(key) && problem.contains(&format!("AADSTS{code}")),
            "{problem}"
        );
        let (status, _, body) = response_parts(err).await;
        assert_eq!(status, 502);
        assert_eq!(body["error"]["code"], "client_credential");
        assert!(!body.to_string().contains(SECRET));
        assert_entra_ids(&body, "invalid_client", code);
        assert_eq!(
            h.metrics
                .get("obo_exchanges_total", &[("outcome", "client_credential")]),
            1
        );
    }
}

#[tokio::test]
async fn throttling_and_outages_become_503_with_retry_after() {
    let cases = [
        (
            Reply::entra(429, "temporarily_unavailable", 90055, None).with_header("retry-after", "12"),
            12,
        ),
        (Reply::entra(500, "server_error", 90033, None), DEFAULT_RETRY_AFTER_SECS),
        (
            Reply::entra(400, "temporarily_unavailable", 0, None),
            DEFAULT_RETRY_AFTER_SECS,
        ),
        (
            Reply {
                status: 504,
                headers: Vec::new(),
                body: "gateway timeout".into(),
            },
            DEFAULT_RETRY_AFTER_SECS,
        ),
    ];
    for (reply, retry_after) in cases {
        let (_h, err) = fail_with(reply).await;
        let (status, headers, body) = response_parts(err).await;
        assert_eq!(status, 503);
        assert_eq!(headers["retry-after"], retry_after.to_string().as_str());
        assert_eq!(body["error"]["code"], "idp_unavailable");
        assert_eq!(body["error"]["retry_after_secs"], retry_after);
    }
}

#[tokio::test]
async fn an_unreachable_entra_is_503() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let authority = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let config = config(&authority, 120, 5);
    let broker = OboBroker::new(
        &config,
        EntraClient::new(&config, secret_credential(), http()),
        Arc::default(),
    );
    let err = broker.graph_token(&alice(), None).await.unwrap_err();
    assert!(err.to_string().contains("cannot reach the token endpoint"), "{err}");
    let (status, headers, _) = response_parts(err).await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], DEFAULT_RETRY_AFTER_SECS.to_string().as_str());
}

#[tokio::test]
async fn other_refusals_become_502_naming_the_problem() {
    let (h, err) = fail_with(Reply::entra(400, "invalid_scope", 70011, None)).await;
    let (status, _, body) = response_parts(err).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"]["code"], "obo_failed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("invalid_scope") && message.contains("AADSTS70011"),
        "{message}"
    );
    assert!(
        !message.contains("Trace ID"),
        "only the first line of Entra's text: {message}"
    );
    assert_entra_ids(&body, "invalid_scope", 70011);
    assert_eq!(h.metrics.get("obo_exchanges_total", &[("outcome", "other")]), 1);
}

#[tokio::test]
async fn conditional_access_blocks_without_claims_are_403() {
    let (_h, err) = fail_with(Reply::entra(400, "invalid_grant", 53003, None)).await;
    let (status, _, body) = response_parts(err).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "access_blocked");
}

/// Collects formatted log lines for one test.
#[derive(Clone, Default)]
struct LogBuffer(Arc<parking_lot::Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_rejected_secret_is_logged_as_an_error_naming_the_key_but_not_the_secret() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (_h, _err) = fail_with(Reply::entra(401, "invalid_client", 7000222, None)).await;
    let text = String::from_utf8(logs.0.lock().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_else(|| panic!("no error line in {text}"));
    assert!(
        line.contains("entra.credential.secret has expired (AADSTS7000222)"),
        "{line}"
    );
    assert!(
        line.contains("0000aaaa-11bb-cccc-dd22-eeeeee333333"),
        "trace id logged: {line}"
    );
    assert!(
        !text.contains(SECRET) && !text.contains("alice-inbound-token"),
        "{text}"
    );
}
