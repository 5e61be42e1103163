//! The on-behalf-of and client-credentials grants: success shapes and every rejection of the
//! user assertion, scopes and request.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{JWT_BEARER, assert_aad_error, claims_of, start};
use crate::entra::{FOREIGN_TENANT_ID, FOREIGN_USER_UPN, MintRequest, TokenOutcome};

fn alice() -> MintRequest {
    MintRequest {
        user: "alice@contoso.com".into(),
        ..MintRequest::default()
    }
}

#[tokio::test]
async fn obo_with_secret_returns_a_v1_graph_token() {
    let h = start().await;
    let (status, body) = h
        .obo_with_secret(&h.user_token(), "https://graph.microsoft.com/Mail.ReadWrite")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "https://graph.microsoft.com/Mail.ReadWrite");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["ext_expires_in"], 3600);
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    let claims = claims_of(token);
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(claims["iss"], format!("https://sts.windows.net/{}/", h.tid()));
    assert_eq!(claims["appid"], h.seed.gateway_client_id);
    assert_eq!(claims["appidacr"], "1");
    assert_eq!(claims["scp"], "Mail.ReadWrite");
    assert_eq!(claims["upn"], "alice@contoso.com");
    assert_eq!(claims["unique_name"], "alice@contoso.com");
    assert_eq!(claims["ver"], "1.0");
    let caller = h.sim.verifier().verify_graph_token(token).unwrap();
    assert_eq!(caller.app_id, h.seed.gateway_client_id);
    assert_eq!(caller.scopes, vec!["Mail.ReadWrite"]);
    assert_eq!(h.sim.stats()["exchanges"]["obo"], 1);
}

#[tokio::test]
async fn offline_access_adds_a_refresh_token_and_default_grants_all_consented() {
    let h = start().await;
    let (status, body) = h
        .obo_with_secret(&h.user_token(), "https://graph.microsoft.com/.default offline_access")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["refresh_token"].is_string());
    assert_eq!(
        body["scope"],
        "https://graph.microsoft.com/Mail.Read https://graph.microsoft.com/Mail.ReadWrite https://graph.microsoft.com/User.Read"
    );
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scp"], "Mail.Read Mail.ReadWrite User.Read");
}

#[tokio::test]
async fn bare_scope_names_mean_graph_and_v1_assertions_work() {
    let h = start().await;
    let v1 = h.mint(MintRequest {
        version: Some(1),
        ..alice()
    });
    let (status, body) = h.obo_with_secret(&v1, "Mail.Read openid profile").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "https://graph.microsoft.com/Mail.Read");
}

#[tokio::test]
async fn expired_assertion_is_500133() {
    let h = start().await;
    let expired = h.mint(MintRequest {
        lifetime_secs: Some(-30),
        ..alice()
    });
    let (status, body) = h.obo_with_secret(&expired, "Mail.Read").await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 500133, "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expiry time of assertion")
    );
}

#[tokio::test]
async fn assertion_for_another_audience_is_50013() {
    let h = start().await;
    for audience in ["api://some-other-api", "https://graph.microsoft.com"] {
        let other = h.mint(MintRequest {
            audience: Some(audience.into()),
            ..alice()
        });
        let (status, body) = h.obo_with_secret(&other, "Mail.Read").await;
        assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 50013, "invalid_grant");
        assert!(
            body["error_description"].as_str().unwrap().contains("audience"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn id_token_is_240002_and_app_token_is_50013() {
    let h = start().await;
    let id_token = h.mint(MintRequest {
        kind: Some("id".into()),
        audience: Some(h.seed.gateway_client_id.clone()),
        ..alice()
    });
    let (status, body) = h.obo_with_secret(&id_token, "Mail.Read").await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 240002, "invalid_grant");
    let app = h.mint(MintRequest {
        kind: Some("app".into()),
        ..alice()
    });
    let (status, body) = h.obo_with_secret(&app, "Mail.Read").await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 50013, "invalid_grant");
}

#[tokio::test]
async fn tampered_or_garbage_assertions_are_50013() {
    let h = start().await;
    let mut tampered = h.user_token();
    tampered.replace_range(tampered.len() - 6.., "AAAAAA");
    for assertion in [tampered.as_str(), "garbage"] {
        let (status, body) = h.obo_with_secret(assertion, "Mail.Read").await;
        assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 50013, "invalid_grant");
    }
}

#[tokio::test]
async fn foreign_tenant_token_is_refused_here_and_the_app_is_unknown_there() {
    let h = start().await;
    let foreign = h.mint(MintRequest {
        user: FOREIGN_USER_UPN.into(),
        tenant: Some(FOREIGN_TENANT_ID.into()),
        ..MintRequest::default()
    });
    let (status, body) = h.obo_with_secret(&foreign, "Mail.Read").await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 50013, "invalid_grant");
    let (status, body) = h
        .post_form_to(
            FOREIGN_TENANT_ID,
            &[
                ("grant_type", JWT_BEARER),
                ("client_id", &h.seed.gateway_client_id),
                ("client_secret", &h.seed.gateway_client_secret),
                ("assertion", &foreign),
                ("scope", "Mail.Read"),
                ("requested_token_use", "on_behalf_of"),
            ],
        )
        .await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 700016, "unauthorized_client");
}

#[tokio::test]
async fn scope_rules() {
    let h = start().await;
    let user = h.user_token();
    for (scope, code, error) in [
        ("https://graph.microsoft.com/Mail.Frobnicate", 70011, "invalid_scope"),
        ("api://another-api/read", 70011, "invalid_scope"),
        ("https://graph.microsoft.com/.default Mail.Read", 70011, "invalid_scope"),
        ("openid offline_access", 70011, "invalid_scope"),
        ("https://graph.microsoft.com/Mail.Send", 65001, "invalid_grant"),
    ] {
        let (status, body) = h.obo_with_secret(&user, scope).await;
        assert_aad_error(status, &body, StatusCode::BAD_REQUEST, code, error);
    }
}

#[tokio::test]
async fn withdrawn_consent_is_65001_consent_required() {
    let h = start().await;
    h.sim.set_consent(false);
    let (status, body) = h.obo_with_secret(&h.user_token(), "Mail.Read").await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 65001, "invalid_grant");
    assert_eq!(body["suberror"], "consent_required");
    h.sim.set_consent(true);
    let (status, _) = h.obo_with_secret(&h.user_token(), "Mail.Read").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn request_shape_errors() {
    let h = start().await;
    let user = h.user_token();
    let secret = h.seed.gateway_client_secret.clone();
    let client = h.seed.gateway_client_id.clone();
    let base = [
        ("grant_type", JWT_BEARER),
        ("client_id", client.as_str()),
        ("client_secret", secret.as_str()),
        ("assertion", user.as_str()),
        ("scope", "Mail.Read"),
        ("requested_token_use", "on_behalf_of"),
    ];
    for missing in ["assertion", "scope", "requested_token_use", "grant_type", "client_id"] {
        let fields: Vec<_> = base.iter().filter(|(k, _)| *k != missing).copied().collect();
        let (status, body) = h.post_form(&fields).await;
        assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 900144, "invalid_request");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains(&format!("'{missing}'"))
        );
    }
    let mut unknown = base;
    unknown[1].1 = "00000000-0000-0000-0000-00000000beef";
    let (status, body) = h.post_form(&unknown).await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 700016, "unauthorized_client");
    let (status, body) = h.post_form_to("common", &base).await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 50194, "invalid_request");
    let mut grant = base;
    grant[0].1 = "password";
    let (status, body) = h.post_form(&grant).await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 70003, "unsupported_grant_type");
}

#[tokio::test]
async fn json_bodies_and_duplicate_parameters_are_refused() {
    let h = start().await;
    let response = h
        .http
        .post(h.token_url())
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 900144, "invalid_request");
    let (status, body) = h
        .post_form(&[("grant_type", "client_credentials"), ("scope", "a"), ("scope", "b")])
        .await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 9000411, "invalid_request");
}

#[tokio::test]
async fn client_credentials_gives_an_app_only_graph_token() {
    let h = start().await;
    let client = h.seed.gateway_client_id.clone();
    let secret = h.seed.gateway_client_secret.clone();
    let (status, body) = h
        .post_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client),
            ("client_secret", &secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("scope").is_none());
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["roles"], json!(["Mail.Read"]));
    assert!(claims.get("scp").is_none());
    let (status, body) = h
        .post_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client),
            ("client_secret", &secret),
            ("scope", "https://graph.microsoft.com/Mail.Read"),
        ])
        .await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 1002012, "invalid_scope");
    let stats = h.sim.stats();
    assert_eq!(stats["exchanges"]["client_credentials"], 2);
    assert_eq!(stats["successes"]["client_credentials"], 1);
    assert_eq!(h.sim.token_requests()[1].outcome, TokenOutcome::Failed(1002012));
}

#[tokio::test]
async fn claims_must_be_the_decoded_json() {
    let h = start().await;
    let user = h.user_token();
    let client = h.seed.gateway_client_id.clone();
    let secret = h.seed.gateway_client_secret.clone();
    let challenge = r#"{"access_token":{"capolids":{"essential":true,"values":["x"]}}}"#;
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, challenge);
    for (claims, ok) in [(challenge, true), (encoded.as_str(), false)] {
        let (status, body) = h
            .post_form(&[
                ("grant_type", JWT_BEARER),
                ("client_id", &client),
                ("client_secret", &secret),
                ("assertion", &user),
                ("scope", "Mail.Read"),
                ("requested_token_use", "on_behalf_of"),
                ("claims", claims),
            ])
            .await;
        if ok {
            assert_eq!(status, StatusCode::OK, "{body}");
        } else {
            assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 9002313, "invalid_request");
        }
    }
}
