//! Validation rules (pure, fixed `now`) and the authenticator's answers, counters and cache.

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::IntoResponse,
};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{test_support::*, *};

fn validate(token: &str) -> Result<Caller, AuthError> {
    validate_token(token, &policy(), &key_set(&[0, 1]), NOW)
}

fn validate_with(token: &str, policy: &Policy, now: i64) -> Result<Caller, AuthError> {
    validate_token(token, policy, &key_set(&[0, 1]), now)
}

#[track_caller]
fn assert_rejected(result: Result<Caller, AuthError>, reason: RejectReason, description: &str) {
    match result {
        Ok(caller) => panic!("expected {reason}, token was accepted: {caller:?}"),
        Err(e) => {
            assert_eq!(e.reject_reason(), Some(reason), "{e}");
            assert!(
                e.to_string().contains(description),
                "description {:?} lacks {description:?}",
                e.to_string()
            );
        }
    }
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with an arbitrary header JSON, payload and signature text.
fn raw_token(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

// === acceptance ===

#[test]
fn a_v2_access_token_is_accepted_with_its_caller() {
    let token = mint(&v2_claims(), 0);
    let caller = validate(&token).unwrap();
    assert_eq!(caller.tenant_id, TENANT);
    assert_eq!(caller.oid, OID);
    assert_eq!(caller.subject, "pairwise-subject-alice");
    assert_eq!(caller.client_app.as_deref(), Some(ADDIN));
    assert_eq!(caller.scopes, vec!["access_as_user".to_string()]);
    assert_eq!(caller.username.as_deref(), Some("alice@contoso.com"));
    assert_eq!(caller.version, 2);
    assert_eq!(caller.expires_at, NOW + 3600);
    assert_eq!(&*caller.assertion, token.as_str());
    assert_eq!(caller.mailbox_key(), format!("{TENANT}/{OID}"));
}

#[test]
fn a_v1_access_token_with_the_app_id_uri_audience_is_accepted() {
    let caller = validate(&mint(&v1_claims(), 1)).unwrap();
    assert_eq!(caller.version, 1);
    assert_eq!(caller.client_app.as_deref(), Some(ADDIN));
    assert_eq!(caller.username.as_deref(), Some("alice@contoso.com"));
    assert_eq!(caller.subject, "v1-subject-alice");
}

#[test]
fn the_required_scope_may_be_one_of_several_and_configured_by_full_uri() {
    let token = mint(&with(v2_claims(), json!({"scp": "Mail.Read access_as_user"})), 0);
    assert!(validate(&token).is_ok());
    let mut config = config("https://login.microsoftonline.com");
    config.entra.required_scope = format!("{APP_ID_URI}/access_as_user");
    assert!(validate_with(&token, &Policy::from_config(&config), NOW).is_ok());
}

#[test]
fn the_caller_never_shows_its_token_in_debug_output() {
    let token = mint(&v2_claims(), 0);
    let caller = validate(&token).unwrap();
    let signature = token.rsplit('.').next().unwrap();
    assert!(!format!("{caller:?}").contains(signature));
}

// === algorithm and shape ===

#[test]
fn alg_none_is_refused_before_anything_else() {
    let token = raw_token(&json!({"alg": "none", "typ": "JWT"}), &v2_claims(), "");
    assert_rejected(
        validate(&token),
        RejectReason::UnsupportedAlgorithm,
        "unsupported algorithm none",
    );
}

#[test]
fn hs256_is_refused_even_when_keyed_with_the_public_key() {
    // The classic confusion attack: HMAC keyed with the RSA public key's bytes.
    let public_n = jwk(0)["n"].as_str().unwrap().to_string();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid(0));
    let key = EncodingKey::from_secret(public_n.as_bytes()).unwrap();
    let token = jsonwebtoken::encode(&header, &v2_claims(), &key).unwrap();
    assert_rejected(
        validate(&token),
        RejectReason::UnsupportedAlgorithm,
        "unsupported algorithm HS256",
    );
}

#[test]
fn other_asymmetric_algorithms_are_refused() {
    for alg in ["PS256", "RS512", "ES256", "EdDSA"] {
        let token = raw_token(&json!({"alg": alg, "kid": kid(0)}), &v2_claims(), "c2ln");
        assert_rejected(validate(&token), RejectReason::UnsupportedAlgorithm, alg);
    }
}

#[test]
fn malformed_tokens_are_named_as_such() {
    let good = mint(&v2_claims(), 0);
    let parts: Vec<&str> = good.split('.').collect();
    let cases = [
        ("not-a-jwt".to_string(), "three dot-separated parts"),
        (format!("{good}.extra.parts"), "three dot-separated parts"),
        (format!("!!!.{}.{}", parts[1], parts[2]), "header is not base64url"),
        (
            format!("{}.{}.{}", parts[0], b64(b"not json"), parts[2]),
            "payload is not a valid JSON object",
        ),
        (format!("{}.{}.", parts[0], parts[1]), "token is not signed"),
        (
            raw_token(&json!({"alg": "RS256"}), &v2_claims(), parts[2]),
            "header has no kid",
        ),
        (
            raw_token(&json!({"kid": "x"}), &v2_claims(), parts[2]),
            "header has no alg",
        ),
        (
            raw_token(
                &json!({"alg": "RS256", "kid": kid(0), "crit": ["exp"]}),
                &v2_claims(),
                parts[2],
            ),
            "critical",
        ),
        (
            format!("{}.{}.{}", parts[0], parts[1], "%%%"),
            "signature is not base64url",
        ),
    ];
    for (token, why) in cases {
        assert_rejected(validate(&token), RejectReason::Malformed, why);
    }
}

#[test]
fn claims_of_the_wrong_type_are_malformed_not_a_panic() {
    let token = mint(&with(v2_claims(), json!({"tid": 42})), 0);
    assert_rejected(validate(&token), RejectReason::Malformed, "payload");
    let token = mint(&with(v2_claims(), json!({"exp": "tomorrow"})), 0);
    assert_rejected(validate(&token), RejectReason::Malformed, "payload");
}

#[test]
fn oid_sub_tid_and_exp_are_required() {
    for (claim, why) in [
        ("oid", "no oid claim"),
        ("sub", "no sub claim"),
        ("tid", "no tid claim"),
        ("exp", "exp"),
    ] {
        let token = mint(&with(v2_claims(), json!({ claim: null })), 0);
        assert_rejected(validate(&token), RejectReason::Malformed, why);
    }
}

// === tenant, issuer, audience ===

#[test]
fn a_tenant_outside_the_allow_list_is_refused() {
    let claims = with(
        v2_claims(),
        json!({"tid": OTHER_TENANT, "iss": format!("https://login.microsoftonline.com/{OTHER_TENANT}/v2.0")}),
    );
    assert_rejected(
        validate(&mint(&claims, 0)),
        RejectReason::TenantNotAllowed,
        "tenant not allowed",
    );
}

#[test]
fn a_tid_that_is_not_a_guid_is_refused_even_when_every_tenant_is_allowed() {
    let mut config = config("https://login.microsoftonline.com");
    config.entra.allowed_tenants = vec!["*".into()];
    let policy = Policy::from_config(&config);
    for tid in ["common", "../../evil", "72f988bf86f141af91ab2d7cd011db47"] {
        let claims = with(
            v2_claims(),
            json!({"tid": tid, "iss": format!("https://login.microsoftonline.com/{tid}/v2.0")}),
        );
        assert_rejected(
            validate_with(&mint(&claims, 0), &policy, NOW),
            RejectReason::TenantNotAllowed,
            "tenant",
        );
    }
}

#[test]
fn any_guid_tenant_is_accepted_with_a_wildcard_and_tenants_compare_case_insensitively() {
    let mut config = config("https://login.microsoftonline.com");
    config.entra.allowed_tenants = vec!["*".into()];
    let claims = with(
        v2_claims(),
        json!({"tid": OTHER_TENANT, "iss": format!("https://login.microsoftonline.com/{OTHER_TENANT}/v2.0")}),
    );
    assert!(validate_with(&mint(&claims, 0), &Policy::from_config(&config), NOW).is_ok());

    config.entra.allowed_tenants = vec![TENANT.to_uppercase()];
    assert!(validate_with(&mint(&v2_claims(), 0), &Policy::from_config(&config), NOW).is_ok());
}

#[test]
fn the_issuer_must_name_the_tokens_own_tenant_in_v1_or_v2_form() {
    let cases = [
        json!({"iss": format!("https://login.microsoftonline.com/{OTHER_TENANT}/v2.0")}),
        json!({"iss": "https://login.microsoftonline.com/common/v2.0"}),
        json!({"iss": format!("https://login.microsoftonline.com/{TENANT}/v2.0/")}),
        json!({"iss": format!("https://evil.example/{TENANT}/v2.0")}),
        // A v2 issuer on a token claiming to be v1 is inconsistent.
        json!({"ver": "1.0"}),
    ];
    for changes in cases {
        assert_rejected(
            validate(&mint(&with(v2_claims(), changes), 0)),
            RejectReason::WrongIssuer,
            "wrong issuer",
        );
    }
    let v1_as_v2 = with(v1_claims(), json!({"ver": "2.0"}));
    assert_rejected(validate(&mint(&v1_as_v2, 0)), RejectReason::WrongIssuer, "wrong issuer");
}

#[test]
fn a_foreign_audience_is_refused() {
    for aud in [
        json!("api://someone-else"),
        json!("00000002-0000-0000-c000-000000000000"),
        json!([]),
    ] {
        let token = mint(&with(v2_claims(), json!({ "aud": aud })), 0);
        assert_rejected(validate(&token), RejectReason::WrongAudience, "wrong audience");
    }
}

#[test]
fn a_graph_token_is_refused_with_a_clear_description() {
    for aud in ["https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"] {
        let claims = with(v1_claims(), json!({"aud": aud, "scp": "Mail.ReadWrite User.Read"}));
        assert_rejected(
            validate(&mint(&claims, 0)),
            RejectReason::WrongAudience,
            "token is for Microsoft Graph, not this API",
        );
    }
}

#[test]
fn an_audience_array_is_accepted_when_it_contains_ours() {
    let token = mint(&with(v2_claims(), json!({"aud": ["api://other", CLIENT_ID]})), 0);
    assert!(validate(&token).is_ok());
}

// === lifetime ===

#[test]
fn expiry_honours_the_clock_skew_to_the_second() {
    let token = mint(&v2_claims(), 0);
    let exp = NOW + 3600;
    let skew = 120;
    assert!(validate_with(&token, &policy(), exp + skew - 1).is_ok());
    assert_rejected(
        validate_with(&token, &policy(), exp + skew),
        RejectReason::Expired,
        "expired",
    );
}

#[test]
fn not_before_honours_the_clock_skew_to_the_second() {
    let token = mint(&v2_claims(), 0);
    let nbf = NOW - 60;
    assert!(validate_with(&token, &policy(), nbf - 120).is_ok());
    assert_rejected(
        validate_with(&token, &policy(), nbf - 121),
        RejectReason::NotYetValid,
        "not yet valid",
    );
}

#[test]
fn a_zero_skew_is_exact_and_fractional_dates_are_read() {
    let mut config = config("https://login.microsoftonline.com");
    config.entra.clock_skew_secs = 0;
    let policy = Policy::from_config(&config);
    let token = mint(&with(v2_claims(), json!({"exp": (NOW + 10) as f64 + 0.5})), 0);
    assert!(validate_with(&token, &policy, NOW + 9).is_ok());
    assert_rejected(
        validate_with(&token, &policy, NOW + 10),
        RejectReason::Expired,
        "expired",
    );
}

// === token kind ===

#[test]
fn id_tokens_are_refused() {
    let id_token = json!({
        "aud": CLIENT_ID, "iss": format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
        "iat": NOW - 60, "nbf": NOW - 60, "exp": NOW + 3600,
        "name": "Alice Anders", "oid": OID, "preferred_username": "alice@contoso.com",
        "sub": "pairwise-subject-alice", "tid": TENANT, "ver": "2.0"
    });
    assert_rejected(
        validate(&mint(&id_token, 0)),
        RejectReason::IdToken,
        "ID tokens are not accepted",
    );
    let with_nonce = with(id_token, json!({"nonce": "abc123"}));
    assert_rejected(
        validate(&mint(&with_nonce, 0)),
        RejectReason::IdToken,
        "ID tokens are not accepted",
    );
    // A nonce never appears in access tokens, whatever else the token carries.
    let access_with_nonce = with(v2_claims(), json!({"nonce": "abc123"}));
    assert_rejected(
        validate(&mint(&access_with_nonce, 0)),
        RejectReason::IdToken,
        "ID tokens",
    );
}

#[test]
fn app_only_tokens_are_refused_unless_allowed() {
    let app_only = with(
        v2_claims(),
        json!({"scp": null, "roles": ["Mail.Read"], "idtyp": "app"}),
    );
    let no_roles = with(v2_claims(), json!({"scp": null}));
    let marked = with(v2_claims(), json!({"idtyp": "app"}));
    for claims in [&app_only, &no_roles, &marked] {
        assert_rejected(
            validate(&mint(claims, 0)),
            RejectReason::AppOnly,
            "app-only tokens are not accepted",
        );
    }
    let mut config = config("https://login.microsoftonline.com");
    config.entra.allow_app_only = true;
    let caller = validate_with(&mint(&app_only, 0), &Policy::from_config(&config), NOW).unwrap();
    assert!(caller.scopes.is_empty());
}

#[test]
fn a_user_token_marked_idtyp_user_is_accepted() {
    assert!(validate(&mint(&with(v2_claims(), json!({"idtyp": "user"})), 0)).is_ok());
}

// === scope and client ===

#[test]
fn a_token_without_the_required_scope_is_refused_naming_it() {
    for scp in ["Mail.Read", "access_as_user2", "ACCESS_AS_USER"] {
        let token = mint(&with(v2_claims(), json!({ "scp": scp })), 0);
        assert_rejected(
            validate(&token),
            RejectReason::MissingScope,
            "missing scope access_as_user",
        );
    }
}

#[test]
fn the_client_allow_list_applies_to_azp_and_appid() {
    let mut config = config("https://login.microsoftonline.com");
    config.entra.allowed_client_apps = vec![ADDIN.to_uppercase()];
    let policy = Policy::from_config(&config);
    assert!(validate_with(&mint(&v2_claims(), 0), &policy, NOW).is_ok());
    assert!(validate_with(&mint(&v1_claims(), 0), &policy, NOW).is_ok());
    let other = with(v2_claims(), json!({"azp": "99999999-9999-4999-8999-999999999999"}));
    assert_rejected(
        validate_with(&mint(&other, 0), &policy, NOW),
        RejectReason::ClientNotAllowed,
        "client application not allowed",
    );
}

// === keys and signature ===

#[test]
fn a_tampered_payload_fails_the_signature() {
    let token = mint(&v2_claims(), 0);
    let parts: Vec<&str> = token.split('.').collect();
    let forged = b64(with(v2_claims(), json!({"oid": "someone-else"})).to_string().as_bytes());
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    assert_rejected(validate(&tampered), RejectReason::BadSignature, "bad signature");
}

#[test]
fn a_token_signed_by_another_key_than_its_kid_fails_the_signature() {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid(0));
    let token = jsonwebtoken::encode(&header, &v2_claims(), &encoding_key(1)).unwrap();
    assert_rejected(validate(&token), RejectReason::BadSignature, "bad signature");
}

#[test]
fn an_unknown_kid_is_refused() {
    assert_rejected(
        validate(&mint(&v2_claims(), 2)),
        RejectReason::UnknownKey,
        "signing key not found",
    );
}

#[test]
fn a_key_bound_to_another_tenant_does_not_verify_this_tenants_tokens() {
    let mut key = jwk(0);
    key["issuer"] = json!(format!("https://login.microsoftonline.com/{OTHER_TENANT}/v2.0"));
    let keys = KeySet::from_jwks(json!({ "keys": [key] }).to_string().as_bytes()).unwrap();
    let result = validate_token(&mint(&v2_claims(), 0), &policy(), &keys, NOW);
    assert_rejected(result, RejectReason::WrongIssuer, "wrong issuer");

    let mut exact = jwk(0);
    exact["issuer"] = json!(format!("https://login.microsoftonline.com/{TENANT}/v2.0"));
    let keys = KeySet::from_jwks(json!({ "keys": [exact] }).to_string().as_bytes()).unwrap();
    assert!(validate_token(&mint(&v1_claims(), 0), &policy(), &keys, NOW).is_ok());
}

#[test]
fn jwks_parsing_keeps_only_rsa_signature_keys() {
    let mut enc = jwk(1);
    enc["use"] = json!("enc");
    let mut ps = jwk(2);
    ps["kid"] = json!("ps-key");
    ps["alg"] = json!("PS256");
    let doc = json!({ "keys": [
        jwk(0), enc, ps,
        {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "RSA", "kid": "broken"},
        "not an object",
    ]});
    let keys = KeySet::from_jwks(doc.to_string().as_bytes()).unwrap();
    assert_eq!(keys.kids(), vec![kid(0)]);
    assert!(matches!(
        KeySet::from_jwks(br#"{"keys": []}"#),
        Err(KeyFetchError::NoKeys)
    ));
    assert!(matches!(
        KeySet::from_jwks(b"<html>"),
        Err(KeyFetchError::Invalid { .. })
    ));
}

// === bearer header ===

#[test]
fn the_bearer_scheme_is_case_insensitive_and_other_schemes_count_as_no_token() {
    assert_eq!(bearer_token(Some("Bearer abc.def.ghi")).unwrap(), "abc.def.ghi");
    assert_eq!(bearer_token(Some("bearer   abc.def.ghi ")).unwrap(), "abc.def.ghi");
    assert_eq!(bearer_token(Some("BEARER abc.def.ghi")).unwrap(), "abc.def.ghi");
    for missing in [None, Some(""), Some("Basic dXNlcjpwYXNz"), Some("Bearerabc")] {
        assert_eq!(
            bearer_token(missing).unwrap_err().reject_reason(),
            Some(RejectReason::MissingToken)
        );
    }
    for malformed in [Some("Bearer"), Some("Bearer   "), Some("Bearer a b")] {
        assert_eq!(
            bearer_token(malformed).unwrap_err().reject_reason(),
            Some(RejectReason::Malformed)
        );
    }
}

// === responses ===

async fn body_json(response: axum::response::Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_refusal_is_a_401_with_an_rfc6750_challenge_and_a_json_body() {
    let response = AuthError::rejected(RejectReason::Expired, "expired").into_response();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Bearer error=\"invalid_token\", error_description=\"expired\""
    );
    assert_eq!(
        body_json(response).await,
        json!({"error": "invalid_token", "error_description": "expired"})
    );
}

#[tokio::test]
async fn a_missing_token_gets_a_bare_bearer_challenge() {
    let response = AuthError::missing_token().into_response();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
}

#[test]
fn descriptions_are_escaped_and_stripped_of_control_characters() {
    let e = AuthError::rejected(RejectReason::UnsupportedAlgorithm, "alg \"x\\y\"\r\nInjected: 1 é");
    assert_eq!(
        e.www_authenticate().unwrap(),
        "Bearer error=\"invalid_token\", error_description=\"alg \\\"x\\\\y\\\"??Injected: 1 ?\""
    );
    let response = e.into_response();
    assert!(response.headers().get("injected").is_none());
    assert!(response.headers()[header::WWW_AUTHENTICATE].to_str().is_ok());
}

#[tokio::test]
async fn unavailable_keys_are_a_503_with_retry_after_and_no_challenge() {
    let e = AuthError::KeysUnavailable {
        tenant_id: TENANT.into(),
        retry_after_secs: 30,
    };
    assert_eq!(e.reason(), "keys_unavailable");
    let response = e.into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "30");
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    assert_eq!(body_json(response).await["error"], "temporarily_unavailable");
}

// === the authenticator (keys from a local stand-in for Entra ID) ===

#[tokio::test]
async fn tokens_are_verified_once_then_served_from_the_cache_until_expiry() {
    let entra = FakeEntra::start(&[0, 1]).await;
    let clock = TestClock::at(NOW);
    let (auth, metrics) = authenticator(&config(&entra.base), &clock);
    let token = mint(&v2_claims(), 0);
    let header = format!("Bearer {token}");

    let first = auth.authenticate(Some(&header)).await.unwrap();
    assert_eq!(first.oid, OID);
    let second = auth.authenticate(Some(&header)).await.unwrap();
    assert_eq!(second.oid, OID);
    assert_eq!(metrics.get("inbound_token_accepted_total", &[]), 2);
    assert_eq!(metrics.get("inbound_token_cache_hits_total", &[]), 1);
    assert_eq!(entra.jwks_hits(), 1);

    clock.set(NOW + 3600 + 119);
    assert!(auth.authenticate(Some(&header)).await.is_ok());
    clock.set(NOW + 3600 + 120);
    let err = auth.authenticate(Some(&header)).await.unwrap_err();
    assert_eq!(err.reject_reason(), Some(RejectReason::Expired));
    assert_eq!(metrics.get("inbound_token_rejected_total", &[("reason", "expired")]), 1);
}

#[tokio::test]
async fn rejections_are_counted_by_reason() {
    let entra = FakeEntra::start(&[0]).await;
    let (auth, metrics) = authenticator(&config(&entra.base), &TestClock::at(NOW));
    let graph = mint(&with(v1_claims(), json!({"aud": "https://graph.microsoft.com"})), 0);
    let err = auth.authenticate(Some(&format!("Bearer {graph}"))).await.unwrap_err();
    assert_eq!(err.to_string(), "token is for Microsoft Graph, not this API");
    assert_eq!(auth.authenticate(None).await.unwrap_err().reason(), "missing_token");
    let label = |r| metrics.get("inbound_token_rejected_total", &[("reason", r)]);
    assert_eq!(label("wrong_audience"), 1);
    assert_eq!(label("missing_token"), 1);
    assert_eq!(metrics.get("inbound_token_accepted_total", &[]), 0);
    // Refused on its claims: no reason to fetch keys.
    assert_eq!(entra.jwks_hits(), 0);
}

#[tokio::test]
async fn a_disallowed_tenant_never_makes_the_gateway_fetch_anything() {
    let entra = FakeEntra::start(&[0]).await;
    let mut config = config(&entra.base);
    config.entra.allowed_tenants = vec![TENANT.into()];
    let (auth, _) = authenticator(&config, &TestClock::at(NOW));
    let claims = with(
        v2_claims(),
        json!({"tid": OTHER_TENANT, "iss": format!("https://login.microsoftonline.com/{OTHER_TENANT}/v2.0")}),
    );
    let err = auth
        .authenticate(Some(&format!("Bearer {}", mint(&claims, 0))))
        .await
        .unwrap_err();
    assert_eq!(err.reject_reason(), Some(RejectReason::TenantNotAllowed));
    assert!(entra.discovery_hits().is_empty());
}

#[tokio::test]
async fn headers_are_read_from_the_request() {
    let entra = FakeEntra::start(&[0]).await;
    let (auth, metrics) = authenticator(&config(&entra.base), &TestClock::at(NOW));
    let mut headers = HeaderMap::new();
    assert_eq!(
        auth.authenticate_headers(&headers).await.unwrap_err().reason(),
        "missing_token"
    );
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("bearer {}", mint(&v2_claims(), 0))).unwrap(),
    );
    assert!(auth.authenticate_headers(&headers).await.is_ok());
    headers.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer x.y.z"));
    assert_eq!(
        auth.authenticate_headers(&headers).await.unwrap_err().reason(),
        "malformed"
    );
    let mut binary = HeaderMap::new();
    binary.insert(header::AUTHORIZATION, HeaderValue::from_bytes(b"Bearer \xff").unwrap());
    assert_eq!(
        auth.authenticate_headers(&binary).await.unwrap_err().reason(),
        "malformed"
    );
    assert_eq!(
        metrics.get("inbound_token_rejected_total", &[("reason", "malformed")]),
        2
    );
}

#[tokio::test]
async fn readiness_follows_the_configured_tenants_keys() {
    let entra = FakeEntra::start(&[0]).await;
    let (auth, _) = authenticator(&config(&entra.base), &TestClock::at(NOW));
    assert!(!auth.is_ready());
    assert!(auth.warm_up().await);
    assert!(auth.is_ready());
    assert_eq!(auth.tenant_keys(TENANT).unwrap().kids(), vec![kid(0)]);
    assert_eq!(entra.discovery_hits(), vec![TENANT.to_string()]);

    let mut any = config(&entra.base);
    any.entra.allowed_tenants = vec!["*".into()];
    let (auth, _) = authenticator(&any, &TestClock::at(NOW));
    assert!(auth.is_ready());
    assert!(auth.warm_up().await);
    assert_eq!(
        entra.discovery_hits().len(),
        1,
        "a wildcard tenant list loads nothing ahead of time"
    );
}

#[tokio::test]
async fn warm_up_reports_failure_when_entra_is_unreachable() {
    let entra = FakeEntra::start(&[0]).await;
    entra.set_jwks_failing(true);
    let (auth, _) = authenticator(&config(&entra.base), &TestClock::at(NOW));
    assert!(!auth.warm_up().await);
    assert!(!auth.is_ready());
}
