//! Client authentication: secret (form and Basic), certificate assertions (RS256/x5t and
//! PS256/x5t#S256) and federated assertions, and their rejections.

use base64::{Engine, engine::general_purpose::STANDARD};
use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{
    ASSERTION_TYPE, JWT_BEARER, Thumbprint, assert_aad_error, cert_assertion, cert_assertion_signed, claims_of, now,
    start,
};
use crate::{
    entra::{FederatedTokenRequest, TokenOutcome},
    seed::SIGNING_KEYS_PEM,
};

#[tokio::test]
async fn certificate_rs256_with_x5t_succeeds() {
    let h = start().await;
    let assertion = cert_assertion(Algorithm::RS256, Thumbprint::Matching, &h.assertion_claims(json!({})));
    let (status, body) = h.obo_with_assertion(&assertion).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(claims_of(body["access_token"].as_str().unwrap())["appidacr"], "2");
    let recorded = h.sim.token_requests();
    assert_eq!(recorded[0].client_auth.as_deref(), Some("certificate_rs256"));
    assert_eq!(recorded[0].fields["client_assertion"], "<redacted>");
    assert_eq!(recorded[0].fields["assertion"], "<redacted>");
    assert_eq!(recorded[0].outcome, TokenOutcome::Ok);
}

#[tokio::test]
async fn certificate_ps256_with_x5t_s256_succeeds() {
    let h = start().await;
    let assertion = cert_assertion(Algorithm::PS256, Thumbprint::Matching, &h.assertion_claims(json!({})));
    let (status, body) = h.obo_with_assertion(&assertion).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        h.sim.token_requests()[0].client_auth.as_deref(),
        Some("certificate_ps256")
    );
}

#[tokio::test]
async fn certificate_rejections() {
    let h = start().await;
    let claims = h.assertion_claims(json!({}));
    let cases: Vec<(String, u32)> = vec![
        (cert_assertion(Algorithm::RS256, Thumbprint::Foreign, &claims), 700027),
        // PS256 must name the certificate by its SHA-256 thumbprint.
        (cert_assertion(Algorithm::PS256, Thumbprint::Sha1, &claims), 700027),
        // Right thumbprint, wrong private key.
        (
            cert_assertion_signed(Algorithm::RS256, Thumbprint::Matching, &claims, SIGNING_KEYS_PEM[0]),
            700027,
        ),
        (
            cert_assertion(
                Algorithm::RS256,
                Thumbprint::Matching,
                &h.assertion_claims(json!({"exp": now() - 10, "nbf": now() - 700, "iat": now() - 700})),
            ),
            700024,
        ),
        (
            cert_assertion(
                Algorithm::RS256,
                Thumbprint::Matching,
                &h.assertion_claims(json!({"aud": "https://login.microsoftonline.com/common/oauth2/v2.0/token"})),
            ),
            700023,
        ),
        (
            cert_assertion(
                Algorithm::RS256,
                Thumbprint::Matching,
                &h.assertion_claims(json!({"sub": "someone-else"})),
            ),
            700021,
        ),
    ];
    for (assertion, code) in cases {
        let (status, body) = h.obo_with_assertion(&assertion).await;
        assert_aad_error(status, &body, StatusCode::UNAUTHORIZED, code, "invalid_client");
    }
    let no_jti = cert_assertion(
        Algorithm::RS256,
        Thumbprint::Matching,
        &h.assertion_claims(json!({"jti": null})),
    );
    let (status, body) = h.obo_with_assertion(&no_jti).await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 50027, "invalid_request");
}

#[tokio::test]
async fn federated_credential_succeeds() {
    let h = start().await;
    let token = h.sim.mint_federated_token(3600);
    let claims = claims_of(&token);
    assert_eq!(claims["iss"], h.seed.federated_issuer);
    assert_eq!(claims["aud"], json!([h.seed.federated_audience]));
    let (status, body) = h.obo_with_assertion(&token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h.sim.token_requests()[0].client_auth.as_deref(), Some("federated"));
}

#[tokio::test]
async fn federated_rejections() {
    let h = start().await;
    let mint = |req: FederatedTokenRequest| h.sim.mint_federated_token_with(&req);
    let cases = [
        (
            mint(FederatedTokenRequest {
                subject: Some("system:serviceaccount:other:intruder".into()),
                ..FederatedTokenRequest::default()
            }),
            700213,
        ),
        (
            mint(FederatedTokenRequest {
                issuer: Some("https://token.actions.githubusercontent.com".into()),
                ..FederatedTokenRequest::default()
            }),
            700211,
        ),
        (
            mint(FederatedTokenRequest {
                audience: Some("api://AzureADMyOrg".into()),
                ..FederatedTokenRequest::default()
            }),
            700212,
        ),
        (h.sim.mint_federated_token(-60), 700024),
    ];
    for (token, code) in cases {
        let (status, body) = h.obo_with_assertion(&token).await;
        assert_aad_error(status, &body, StatusCode::UNAUTHORIZED, code, "invalid_client");
    }
    // The federated issuer's claims, signed by a key that issuer never published.
    let forged = cert_assertion_signed(
        Algorithm::RS256,
        Thumbprint::Matching,
        &claims_of(&h.sim.mint_federated_token(600)),
        SIGNING_KEYS_PEM[1],
    );
    let (status, body) = h.obo_with_assertion(&forged).await;
    assert_aad_error(status, &body, StatusCode::UNAUTHORIZED, 700027, "invalid_client");
}

#[tokio::test]
async fn secret_rejections_and_basic_auth() {
    let h = start().await;
    let user = h.user_token();
    let client = h.seed.gateway_client_id.clone();
    let obo = |extra: Vec<(&'static str, String)>| {
        let mut fields = vec![
            ("grant_type", JWT_BEARER.to_owned()),
            ("client_id", client.clone()),
            ("assertion", user.clone()),
            ("scope", "Mail.Read".to_owned()),
            ("requested_token_use", "on_behalf_of".to_owned()),
        ];
        fields.extend(extra);
        fields
    };
    let send = |fields: Vec<(&'static str, String)>, basic: Option<String>| {
        let mut request = h.http.post(h.token_url()).form(&fields);
        if let Some(b) = basic {
            request = request.header("authorization", format!("Basic {b}"));
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = send(obo(vec![("client_secret", "wrong".into())]), None).await;
    assert_aad_error(status, &body, StatusCode::UNAUTHORIZED, 7000215, "invalid_client");
    let (status, body) = send(obo(vec![]), None).await;
    assert_aad_error(status, &body, StatusCode::UNAUTHORIZED, 7000218, "invalid_client");
    let both = obo(vec![
        ("client_secret", h.seed.gateway_client_secret.clone()),
        ("client_assertion_type", ASSERTION_TYPE.into()),
        ("client_assertion", h.sim.mint_federated_token(600)),
    ]);
    let (status, body) = send(both, None).await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 9002313, "invalid_request");

    // RFC 6749 §2.3.1: each part form-urlencoded, then base64.
    let encoded_secret: String =
        url::form_urlencoded::byte_serialize(h.seed.gateway_client_secret.as_bytes()).collect();
    let basic = STANDARD.encode(format!("{client}:{encoded_secret}"));
    let (status, body) = send(obo(vec![]), Some(basic)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let last = h.sim.token_requests().pop().unwrap();
    assert!(last.basic_auth);
    assert_eq!(last.client_auth.as_deref(), Some("secret"));
}
