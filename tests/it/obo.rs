//! The on-behalf-of exchange and its cache, observed from the simulated Entra ID.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use crate::support::{Options, TestApp, spawn_app, spawn_app_with, www_authenticate};

fn first_id(app: &TestApp, upn: &str) -> String {
    app.first_message(upn)["rest_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_first_requests_make_exactly_one_exchange() {
    let app = Arc::new(spawn_app().await);
    let alice = app.alice().to_string();
    let token = Arc::new(app.token_for(&alice).await);
    let id = Arc::new(first_id(&app, &alice));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (app, token, id) = (app.clone(), token.clone(), id.clone());
            tokio::spawn(async move { app.get_message(&token, &id, "?$select=subject").await.status() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(app.obo_exchanges(), 1, "{}", app.entra_stats());
}

#[tokio::test]
async fn users_and_tokens_never_share_a_cache_entry() {
    let app = spawn_app().await;
    let (alice, bob) = (app.alice().to_string(), app.bob().to_string());
    let alice_token = app.token_for(&alice).await;
    let bob_token = app.token_for(&bob).await;
    let alice_msg = app.first_message(&alice);
    let bob_msg = app.first_message(&bob);

    let res = app
        .get_message(&alice_token, alice_msg["rest_id"].as_str().unwrap(), "?$select=subject")
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["subject"], alice_msg["subject"]);
    let res = app
        .get_message(&bob_token, bob_msg["rest_id"].as_str().unwrap(), "?$select=subject")
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["subject"], bob_msg["subject"]);
    assert_eq!(app.obo_exchanges(), 2);

    // Alice's token never reaches Bob's mail, even with Bob's message id.
    let res = app
        .get_message(&alice_token, bob_msg["rest_id"].as_str().unwrap(), "")
        .await;
    assert_eq!(res.status(), 404);

    // A second token of the same user is its own cache entry (Conditional Access is per assertion).
    let alice_again = app.token(json!({ "user": alice, "lifetime_secs": 3000 })).await;
    let res = app
        .get_message(&alice_again, alice_msg["rest_id"].as_str().unwrap(), "?$select=subject")
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.obo_exchanges(), 3);
    // And repeating a token is served from cache.
    app.get_message(&alice_again, alice_msg["rest_id"].as_str().unwrap(), "?$select=subject")
        .await;
    assert_eq!(app.obo_exchanges(), 3);
}

#[tokio::test]
async fn an_expired_cache_entry_triggers_a_new_exchange() {
    let app = spawn_app_with(Options {
        overrides: json!({ "obo": { "expiry_margin_secs": 1 } }),
        ..Options::default()
    })
    .await;
    app.sims.entra.set_graph_token_lifetime(3);
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let id = first_id(&app, &alice);
    assert_eq!(app.get_message(&token, &id, "?$select=subject").await.status(), 200);
    assert_eq!(app.get_message(&token, &id, "?$select=subject").await.status(), 200);
    assert_eq!(app.obo_exchanges(), 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app.get_message(&token, &id, "?$select=subject").await.status(), 200);
    assert_eq!(app.obo_exchanges(), 2, "entry expired at expires_in - margin");
}

/// Makes the next exchange fail with `code` and returns the gateway's answer to a fresh token.
async fn answer_to(app: &TestApp, code: u32) -> (u16, String, Value, reqwest::header::HeaderMap) {
    let alice = app.alice().to_string();
    let token = app
        .token(json!({ "user": alice, "lifetime_secs": 3000 + code as i64 % 500 }))
        .await;
    app.sims.entra.fail_next(1, code);
    let res = app
        .get_message(&token, &first_id(app, &alice), "?$select=subject")
        .await;
    let status = res.status().as_u16();
    let header = www_authenticate(&res);
    let headers = res.headers().clone();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, header, body, headers)
}

fn assert_carries_entra_diagnostics(body: &Value, code: u32) {
    let text = body.to_string();
    assert!(text.contains(&code.to_string()), "error_codes missing: {text}");
    assert!(
        text.contains("trace_id") && text.contains("correlation_id"),
        "diagnostics missing: {text}"
    );
}

#[tokio::test]
async fn entra_answers_become_something_the_add_in_can_act_on() {
    let app = spawn_app().await;

    for code in [50076, 50079] {
        let (status, header, body, _) = answer_to(&app, code).await;
        assert_eq!(status, 401, "AADSTS{code}");
        assert!(header.contains("error=\"insufficient_claims\""), "{header}");
        let claims_b64 = header.split("claims=\"").nth(1).unwrap().split('"').next().unwrap();
        let claims: Value = serde_json::from_slice(&STANDARD.decode(claims_b64).unwrap()).unwrap();
        assert!(
            claims.get("access_token").is_some(),
            "claims JSON passed through: {claims}"
        );
        assert_carries_entra_diagnostics(&body, code);
    }

    let (status, _, body, _) = answer_to(&app, 65001).await;
    assert_eq!(status, 403, "consent missing");
    let text = body.to_string();
    assert!(text.contains(&app.seed().tenant_id), "names the tenant: {text}");
    assert!(text.contains("adminconsent"), "admin consent URL: {text}");
    assert_carries_entra_diagnostics(&body, 65001);

    for code in [500133, 50013] {
        let (status, header, body, _) = answer_to(&app, code).await;
        assert_eq!(status, 401, "AADSTS{code}");
        assert!(header.contains("error=\"invalid_token\""), "{header}");
        assert_carries_entra_diagnostics(&body, code);
    }

    for code in [7000215, 7000222, 700027] {
        let (status, _, body, _) = answer_to(&app, code).await;
        assert_eq!(
            status, 502,
            "bad client credential AADSTS{code} is the gateway's configuration"
        );
        assert_carries_entra_diagnostics(&body, code);
    }

    let (status, _, _, headers) = answer_to(&app, 90055).await;
    assert_eq!(status, 503, "throttled by Entra");
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test]
async fn failures_are_not_cached() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let id = first_id(&app, &alice);
    app.sims.entra.fail_next(1, 7000215);
    assert_eq!(app.get_message(&token, &id, "?$select=subject").await.status(), 502);
    assert_eq!(app.get_message(&token, &id, "?$select=subject").await.status(), 200);
}

#[tokio::test]
async fn missing_consent_names_the_admin_consent_url() {
    let app = spawn_app().await;
    app.sims.entra.set_consent(false);
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let res = app.get_message(&token, &first_id(&app, &alice), "").await;
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert!(body.to_string().contains(&app.seed().gateway_client_id), "{body}");
    app.sims.entra.set_consent(true);
    let res = app.get_message(&token, &first_id(&app, &alice), "").await;
    assert_eq!(res.status(), 200);
}
