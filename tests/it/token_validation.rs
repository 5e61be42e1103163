//! Inbound token validation against tokens minted (and forged) with the simulator's keys.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{EncodingKey, Header};
use naa_sim::seed::SIGNING_KEYS_PEM;
use serde_json::{Value, json};

use crate::support::{Options, spawn_app, spawn_app_with, spawn_gateway, www_authenticate};

/// Index of the simulator key that signed `token` (RS256 signatures are deterministic).
fn signing_key_index(token: &str) -> usize {
    let (input, signature) = token.rsplit_once('.').unwrap();
    (0..SIGNING_KEYS_PEM.len())
        .find(|&i| sign(input, i) == signature)
        .expect("token signed by one of the simulator's keys")
}

fn sign(input: &str, key: usize) -> String {
    let key = EncodingKey::from_rsa_pem(SIGNING_KEYS_PEM[key].as_bytes()).unwrap();
    jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::RS256).unwrap()
}

/// Re-signs `token` with the same key after `edit` changed its claims (the header is kept byte for byte).
fn forge(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    let key = signing_key_index(token);
    forge_with_key(token, key, edit)
}

fn forge_with_key(token: &str, key: usize, edit: impl FnOnce(&mut Value)) -> String {
    let mut parts = token.split('.');
    let header = parts.next().unwrap();
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    edit(&mut payload);
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload.to_string()));
    let signature = sign(&input, key);
    format!("{input}.{signature}")
}

fn raw_token(header: Value, payload: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        signature
    )
}

async fn assert_rejected(app: &crate::support::TestApp, token: &str, reason_words: &[&str]) {
    let msg = app.first_message(app.alice());
    let res = app.get_message(token, msg["rest_id"].as_str().unwrap(), "").await;
    let header = www_authenticate(&res);
    assert_eq!(
        res.status(),
        401,
        "expected 401 for {reason_words:?}, got {} ({header})",
        res.status()
    );
    assert!(header.starts_with("Bearer "), "{header}");
    assert!(header.contains("error=\"invalid_token\""), "{header}");
    let lower = header.to_lowercase();
    assert!(
        reason_words.iter().any(|w| lower.contains(w)),
        "error_description should name {reason_words:?}: {header}"
    );
}

#[tokio::test]
async fn v2_and_v1_tokens_both_reach_the_mailbox() {
    let app = spawn_app().await;
    let msg = app.first_message(app.alice());
    for version in [2, 1] {
        let token = app.token(json!({ "user": app.alice(), "version": version })).await;
        let res = app
            .get_message(&token, msg["rest_id"].as_str().unwrap(), "?$select=subject")
            .await;
        assert_eq!(res.status(), 200, "v{version}: {}", res.text().await.unwrap());
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["subject"], msg["subject"], "v{version}");
    }
}

#[tokio::test]
async fn a_request_without_a_token_gets_a_bare_bearer_challenge() {
    let app = spawn_app().await;
    let res = app
        .http
        .get(format!("{}/v1.0/me/messages/AAMk", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(www_authenticate(&res).starts_with("Bearer"));
    assert!(res.headers().contains_key("request-id"));
}

#[tokio::test]
async fn each_rejection_reason_is_named_and_counted() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let good = app.token_for(&alice).await;

    let expired = app.token(json!({ "user": alice, "lifetime_secs": -300 })).await;
    assert_rejected(&app, &expired, &["expired"]).await;

    let not_yet = app.token(json!({ "user": alice, "not_before_offset_secs": 900 })).await;
    assert_rejected(&app, &not_yet, &["not yet valid", "not valid yet", "nbf"]).await;

    let other_audience = app
        .token(json!({ "user": alice, "audience": "api://someone-else" }))
        .await;
    assert_rejected(&app, &other_audience, &["audience"]).await;

    let graph_token = app
        .token(json!({ "user": alice, "audience": "https://graph.microsoft.com", "scope": "Mail.Read", "version": 1 }))
        .await;
    assert_rejected(&app, &graph_token, &["graph"]).await;

    let missing_scope = app.token(json!({ "user": alice, "scope": "Files.Read" })).await;
    assert_rejected(&app, &missing_scope, &["scope"]).await;

    let tid = app.seed().tenant_id.clone();
    let wrong_issuer = forge(&good, |c| c["iss"] = json!(format!("https://evil.example/{tid}/v2.0")));
    assert_rejected(&app, &wrong_issuer, &["issuer"]).await;

    let other_tenant = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    let foreign = forge(&good, |c| {
        c["tid"] = json!(other_tenant);
        c["iss"] = json!(format!("https://login.microsoftonline.com/{other_tenant}/v2.0"));
    });
    assert_rejected(&app, &foreign, &["tenant"]).await;

    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    payload["oid"] = json!(app.seed().users[1].oid);
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    assert_rejected(&app, &parts.join("."), &["signature"]).await;

    let id_token = app.token(json!({ "user": alice, "kind": "id" })).await;
    assert_rejected(&app, &id_token, &["id token", "id_token"]).await;
    let app_only = app.token(json!({ "user": alice, "kind": "app" })).await;
    assert_rejected(&app, &app_only, &["app-only", "app only", "application"]).await;

    let metrics = &app.state.metrics;
    for reason in [
        "expired",
        "wrong_audience",
        "missing_scope",
        "wrong_issuer",
        "tenant_not_allowed",
        "bad_signature",
    ] {
        assert!(
            metrics.get("inbound_token_rejected_total", &[("reason", reason)]) >= 1,
            "reason {reason} not counted:\n{}",
            metrics.render()
        );
    }
}

#[tokio::test]
async fn unsigned_and_symmetric_tokens_are_refused_before_any_key_lookup() {
    let app = spawn_app().await;
    let good = app.token_for(app.alice()).await;
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(good.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let none = raw_token(json!({ "alg": "none", "typ": "JWT" }), &payload, "");
    assert_rejected(&app, &none, &["algorithm", "alg"]).await;
    let kid = jsonwebtoken::decode_header(&good).unwrap().kid.unwrap();
    let hs = jsonwebtoken::encode(
        &Header {
            alg: jsonwebtoken::Algorithm::HS256,
            kid: Some(kid),
            ..Header::default()
        },
        &payload,
        &EncodingKey::from_secret(b"the public key as hmac secret").unwrap(),
    )
    .unwrap();
    assert_rejected(&app, &hs, &["algorithm", "alg"]).await;
    assert_rejected(&app, "not-a-jwt", &["malformed", "invalid", "decode"]).await;
}

#[tokio::test]
async fn expiry_within_the_configured_skew_is_left_to_entra() {
    let app = spawn_app().await;
    let token = app.token(json!({ "user": app.alice(), "lifetime_secs": -60 })).await;
    let msg = app.first_message(app.alice());
    let res = app
        .get_message(&token, msg["rest_id"].as_str().unwrap(), "?$select=subject")
        .await;
    // The gateway tolerates 60 s past `exp` (skew 120 s); Entra, which has the last word, does not.
    assert_eq!(app.state.metrics.get("inbound_token_accepted_total", &[]), 1);
    assert_eq!(res.status(), 401);
    assert!(
        www_authenticate(&res).contains("AADSTS500133"),
        "{}",
        www_authenticate(&res)
    );
}

#[tokio::test]
async fn rotated_keys_are_picked_up_and_dropped_keys_refused() {
    let app = spawn_app_with(Options {
        overrides: json!({ "entra": { "key_refresh_min_interval_secs": 0 } }),
        ..Options::default()
    })
    .await;
    let alice = app.alice().to_string();
    let msg = app.first_message(&alice);
    let id = msg["rest_id"].as_str().unwrap().to_string();
    let before = app.token_for(&alice).await;
    let old_key = signing_key_index(&before);
    assert_eq!(app.get_message(&before, &id, "?$select=subject").await.status(), 200);

    app.sims.entra.rotate_keys();
    let after = app.token_for(&alice).await;
    assert_ne!(signing_key_index(&after), old_key, "rotation changes the signing key");
    let res = app.get_message(&after, &id, "?$select=subject").await;
    assert_eq!(res.status(), 200, "new kid picked up: {}", www_authenticate(&res));

    // A fresh token under the dropped key is refused once the new key set is loaded.
    let stale = forge_with_key(&before, old_key, |c| c["uti"] = json!("forged-after-rotation"));
    assert_rejected(&app, &stale, &["key", "kid", "signature"]).await;
}

#[tokio::test]
async fn cached_keys_keep_working_while_entra_is_down() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let id = app.first_message(&alice)["rest_id"].as_str().unwrap().to_string();
    let warm = app.token_for(&alice).await;
    assert_eq!(app.get_message(&warm, &id, "?$select=subject").await.status(), 200);
    let fresh = app.token(json!({ "user": alice, "lifetime_secs": 1800 })).await;

    app.sims.entra.set_available(false);
    let accepted = app.state.metrics.get("inbound_token_accepted_total", &[]);
    let res = app.get_message(&fresh, &id, "?$select=subject").await;
    assert_ne!(res.status(), 401, "validated with cached keys");
    assert_eq!(app.state.metrics.get("inbound_token_accepted_total", &[]), accepted + 1);
    // The token itself was good; only the exchange could not happen.
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn without_any_keys_the_answer_is_503_with_retry_after_never_401() {
    let sims = naa_sim::sandbox::start(naa_sim::seed::SeedTenant::contoso())
        .await
        .unwrap();
    let token = {
        let minted = sims
            .entra
            .mint(serde_json::from_value(json!({ "user": "alice@contoso.com" })).unwrap())
            .unwrap();
        minted.access_token
    };
    let app = spawn_gateway(
        sims,
        Options {
            entra_down_at_start: true,
            ..Options::default()
        },
    )
    .await;
    let res = app.get_message(&token, "AAMkAGI2", "").await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let ready = app.http.get(format!("{}/readyz", app.url)).send().await.unwrap();
    assert_eq!(ready.status(), 503, "not ready without keys");

    app.sims.entra.set_available(true);
    assert!(app.state.auth.warm_up().await);
    let ready = app.http.get(format!("{}/readyz", app.url)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}
