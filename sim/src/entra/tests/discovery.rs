//! Discovery documents and JWKS, and minted tokens verifying against them with an
//! independent JWT library.

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use reqwest::StatusCode;
use serde_json::Value;
use sha1::{Digest, Sha1};

use super::{Harness, assert_aad_error, header_of, start};
use crate::entra::MintRequest;

async fn get(h: &Harness, path: &str) -> (StatusCode, Option<String>, Value) {
    let response = h.http.get(format!("{}{path}", h.sim.url())).send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, content_type, response.json().await.unwrap())
}

#[tokio::test]
async fn v2_discovery_names_the_tenant_issuer_and_local_endpoints() {
    let h = start().await;
    let tid = h.tid().to_owned();
    let (status, content_type, doc) = get(&h, &format!("/{tid}/v2.0/.well-known/openid-configuration")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.unwrap().starts_with("application/json"));
    assert_eq!(doc["issuer"], format!("https://login.microsoftonline.com/{tid}/v2.0"));
    let url = h.sim.url();
    assert_eq!(doc["token_endpoint"], format!("{url}/{tid}/oauth2/v2.0/token"));
    assert_eq!(doc["jwks_uri"], format!("{url}/{tid}/discovery/v2.0/keys"));
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{url}/{tid}/oauth2/v2.0/authorize")
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert!(doc["response_types_supported"].as_array().unwrap().len() > 1);
    assert_eq!(doc["subject_types_supported"], serde_json::json!(["pairwise"]));
    assert_eq!(doc["tenant_region_scope"], "WW");
}

#[tokio::test]
async fn v1_discovery_uses_the_sts_issuer() {
    let h = start().await;
    let tid = h.tid().to_owned();
    let (status, _, doc) = get(&h, &format!("/{tid}/.well-known/openid-configuration")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["issuer"], format!("https://sts.windows.net/{tid}/"));
    assert_eq!(doc["jwks_uri"], format!("{}/{tid}/discovery/keys", h.sim.url()));
}

#[tokio::test]
async fn multi_tenant_discovery_has_the_templated_issuer() {
    let h = start().await;
    for authority in ["common", "organizations"] {
        let (status, _, doc) = get(&h, &format!("/{authority}/v2.0/.well-known/openid-configuration")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(doc["issuer"], "https://login.microsoftonline.com/{tenantid}/v2.0");
        assert_eq!(
            doc["jwks_uri"],
            format!("{}/{authority}/discovery/v2.0/keys", h.sim.url())
        );
    }
    let (_, _, v1) = get(&h, "/common/.well-known/openid-configuration").await;
    assert_eq!(v1["issuer"], "https://sts.windows.net/{tenantid}/");
}

#[tokio::test]
async fn a_verified_domain_resolves_to_its_tenant() {
    let h = start().await;
    let (status, _, doc) = get(&h, "/contoso.com/v2.0/.well-known/openid-configuration").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        doc["issuer"],
        format!("https://login.microsoftonline.com/{}/v2.0", h.tid())
    );
}

#[tokio::test]
async fn unknown_and_malformed_tenants_get_entra_errors() {
    let h = start().await;
    let (status, _, body) = get(
        &h,
        "/11111111-2222-3333-4444-555555555555/v2.0/.well-known/openid-configuration",
    )
    .await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 90002, "invalid_request");
    let (status, _, body) = get(&h, "/not_a_tenant/discovery/v2.0/keys").await;
    assert_aad_error(status, &body, StatusCode::BAD_REQUEST, 900023, "invalid_request");
}

#[tokio::test]
async fn jwks_publishes_two_rsa_keys_with_certificates() {
    let h = start().await;
    let tid = h.tid().to_owned();
    let (status, content_type, jwks) = get(&h, &format!("/{tid}/discovery/v2.0/keys")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.unwrap().starts_with("application/json"));
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    for key in keys {
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["e"], "AQAB");
        assert_eq!(key["kid"], key["x5t"]);
        assert_eq!(key["issuer"], format!("https://login.microsoftonline.com/{tid}/v2.0"));
        let cert = STANDARD.decode(key["x5c"][0].as_str().unwrap()).unwrap();
        assert_eq!(key["kid"], URL_SAFE_NO_PAD.encode(Sha1::digest(&cert)));
        assert!(URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap().len() >= 256);
    }
    let (_, _, common) = get(&h, "/common/discovery/keys").await;
    assert_eq!(
        common["keys"][0]["issuer"],
        "https://login.microsoftonline.com/{tenantid}/v2.0"
    );
    assert_eq!(common["keys"][0]["kid"], keys[0]["kid"]);
}

async fn jwks(h: &Harness) -> JwkSet {
    let url = format!("{}/{}/discovery/v2.0/keys", h.sim.url(), h.tid());
    h.http.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn minted_v2_and_v1_tokens_verify_against_the_jwks() {
    let h = start().await;
    let set = jwks(&h).await;
    let tid = h.tid().to_owned();

    let v2 = h.user_token();
    let kid = header_of(&v2)["kid"].as_str().unwrap().to_owned();
    let key = DecodingKey::from_jwk(set.find(&kid).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&h.seed.gateway_client_id]);
    validation.set_issuer(&[format!("https://login.microsoftonline.com/{tid}/v2.0")]);
    let data = jsonwebtoken::decode::<Value>(&v2, &key, &validation).unwrap();
    assert_eq!(data.claims["scp"], "access_as_user");

    let v1 = h.mint(MintRequest {
        user: "bob@contoso.com".into(),
        version: Some(1),
        ..MintRequest::default()
    });
    let header = header_of(&v1);
    assert_eq!(header["x5t"], header["kid"]);
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&h.seed.gateway_app_id_uri]);
    validation.set_issuer(&[format!("https://sts.windows.net/{tid}/")]);
    let data = jsonwebtoken::decode::<Value>(&v1, &key, &validation).unwrap();
    assert_eq!(data.claims["upn"], "bob@contoso.com");
}

#[tokio::test]
async fn graph_tokens_do_not_verify_with_a_standard_library() {
    // Like real Graph tokens (header nonce), they are opaque to everyone but Graph.
    let h = start().await;
    let set = jwks(&h).await;
    let graph = h.mint(MintRequest {
        user: "alice@contoso.com".into(),
        audience: Some("https://graph.microsoft.com".into()),
        ..MintRequest::default()
    });
    assert!(header_of(&graph)["nonce"].is_string());
    let kid = header_of(&graph)["kid"].as_str().unwrap().to_owned();
    let key = DecodingKey::from_jwk(set.find(&kid).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["https://graph.microsoft.com"]);
    assert!(jsonwebtoken::decode::<Value>(&graph, &key, &validation).is_err());
    assert!(h.sim.verifier().verify_graph_token(&graph).is_ok());
}
