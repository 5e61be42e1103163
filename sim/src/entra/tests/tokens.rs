//! Sandbox minting (claim sets per kind and version) and the Graph token verifier.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{claims_of, now, start};
use crate::entra::{FOREIGN_TENANT_ID, FOREIGN_USER_UPN, MintRequest};

fn alice() -> MintRequest {
    MintRequest {
        user: "alice@contoso.com".into(),
        ..MintRequest::default()
    }
}

fn has(claims: &Value, names: &[&str]) {
    for name in names {
        assert!(!claims[name].is_null(), "claim {name} missing in {claims}");
    }
}

#[tokio::test]
async fn v2_access_token_has_the_documented_claims() {
    let h = start().await;
    let claims = claims_of(&h.user_token());
    has(
        &claims,
        &[
            "aud",
            "iss",
            "iat",
            "nbf",
            "exp",
            "aio",
            "azp",
            "azpacr",
            "name",
            "oid",
            "preferred_username",
            "rh",
            "scp",
            "sub",
            "tid",
            "uti",
        ],
    );
    assert_eq!(claims["aud"], h.seed.gateway_client_id);
    assert_eq!(claims["azp"], h.seed.addin_client_id);
    assert_eq!(claims["azpacr"], "0");
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(claims["scp"], "access_as_user");
    assert_eq!(claims["preferred_username"], "alice@contoso.com");
    assert_eq!(claims["oid"], h.seed.users[0].oid);
    assert!(claims.get("upn").is_none());
    assert!(claims["exp"].as_i64().unwrap() - now() > 3500);
}

#[tokio::test]
async fn v1_access_token_has_the_documented_claims() {
    let h = start().await;
    let claims = claims_of(&h.mint(MintRequest {
        version: Some(1),
        scope: Some("api://6e0b7a4c-3f1d-4b8e-9a2c-5d7f1e3b9c04/access_as_user".into()),
        ..alice()
    }));
    has(
        &claims,
        &[
            "appid",
            "appidacr",
            "upn",
            "unique_name",
            "name",
            "oid",
            "scp",
            "sub",
            "tid",
        ],
    );
    assert_eq!(claims["aud"], h.seed.gateway_app_id_uri);
    assert_eq!(claims["iss"], format!("https://sts.windows.net/{}/", h.tid()));
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["scp"], "access_as_user");
    assert!(claims.get("azp").is_none());
}

#[tokio::test]
async fn id_and_app_tokens_look_like_entra_s() {
    let h = start().await;
    let id = claims_of(&h.mint(MintRequest {
        kind: Some("id".into()),
        ..alice()
    }));
    assert_eq!(id["aud"], h.seed.addin_client_id);
    assert!(id.get("scp").is_none() && id.get("azp").is_none());
    let app = claims_of(&h.mint(MintRequest {
        user: String::new(),
        kind: Some("app".into()),
        scope: Some("Tasks.Run".into()),
        ..MintRequest::default()
    }));
    assert_eq!(app["idtyp"], "app");
    assert_eq!(app["roles"], json!(["Tasks.Run"]));
    assert!(app.get("scp").is_none());
    assert_eq!(app["oid"], app["sub"]);
}

#[tokio::test]
async fn sandbox_token_endpoint_mints_and_rejects_bad_requests() {
    let h = start().await;
    let url = format!("{}/sandbox/token", h.sim.url());
    let ok = h
        .http
        .post(&url)
        .json(&json!({"user": "bob@contoso.com", "lifetime_secs": 120}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["expires_in"], 120);
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["preferred_username"],
        "bob@contoso.com"
    );

    for bad in [
        json!({"user": "mallory@contoso.com"}),
        json!({"user": "alice@contoso.com", "tenant": "11111111-2222-3333-4444-555555555555"}),
        json!({"user": "alice@contoso.com", "lifetime": 5}),
        json!({"user": "alice@contoso.com", "version": 3}),
    ] {
        let response = h.http.post(&url).json(&bad).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
}

#[tokio::test]
async fn foreign_tenant_users_can_be_minted() {
    let h = start().await;
    let claims = claims_of(&h.mint(MintRequest {
        user: FOREIGN_USER_UPN.into(),
        tenant: Some(FOREIGN_TENANT_ID.into()),
        ..MintRequest::default()
    }));
    assert_eq!(claims["tid"], FOREIGN_TENANT_ID);
}

#[tokio::test]
async fn verifier_accepts_graph_tokens_and_names_the_caller() {
    let h = start().await;
    let token = h.mint(MintRequest {
        audience: Some("https://graph.microsoft.com".into()),
        scope: Some("Mail.Read Mail.ReadWrite".into()),
        ..alice()
    });
    let claims = claims_of(&token);
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["appid"], h.seed.addin_client_id);
    let caller = h.sim.verifier().verify_graph_token(&token).unwrap();
    assert_eq!(caller.tenant_id, h.seed.tenant_id);
    assert_eq!(caller.oid, h.seed.users[0].oid);
    assert_eq!(caller.upn, "alice@contoso.com");
    assert_eq!(caller.scopes, vec!["Mail.Read", "Mail.ReadWrite"]);
}

#[tokio::test]
async fn verifier_rejects_what_graph_rejects() {
    let h = start().await;
    let verifier = h.sim.verifier();
    let graph = |extra: MintRequest| {
        h.mint(MintRequest {
            audience: Some("https://graph.microsoft.com".into()),
            ..extra
        })
    };
    let err = verifier.verify_graph_token(&h.user_token()).unwrap_err();
    assert_eq!(err, "Invalid audience.");
    let expired = graph(MintRequest {
        lifetime_secs: Some(-5),
        ..alice()
    });
    assert_eq!(
        verifier.verify_graph_token(&expired).unwrap_err(),
        "Access token has expired or is not yet valid."
    );
    let early = graph(MintRequest {
        not_before_offset_secs: Some(600),
        ..alice()
    });
    assert_eq!(
        verifier.verify_graph_token(&early).unwrap_err(),
        "Access token has expired or is not yet valid."
    );
    let good = graph(alice());
    let mut tampered = good.clone();
    tampered.replace_range(tampered.len() - 6.., "AAAAAA");
    assert_eq!(
        verifier.verify_graph_token(&tampered).unwrap_err(),
        "Access token validation failure. Invalid signature."
    );
    assert!(
        verifier
            .verify_graph_token("not-a-token")
            .unwrap_err()
            .contains("80049217")
    );
}

#[tokio::test]
async fn verifier_keeps_the_previous_key_for_one_rotation() {
    let h = start().await;
    let verifier = h.sim.verifier();
    let token = h.mint(MintRequest {
        audience: Some("https://graph.microsoft.com".into()),
        ..alice()
    });
    h.sim.rotate_keys();
    assert!(verifier.verify_graph_token(&token).is_ok());
    h.sim.rotate_keys();
    assert_eq!(
        verifier.verify_graph_token(&token).unwrap_err(),
        "Access token validation failure. Invalid signature."
    );
}
