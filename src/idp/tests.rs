use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{test_support::*, *};
use crate::config::{AssertionAlgorithm, ResolvedCredentialKind};

const ASSERTION: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.user-token.signature";

/// Independently computed: `openssl x509 -outform der | openssl dgst -sha1 -binary | base64url`.
const X5T_SHA1: &str = "EBfTa9h5PrbqOFTjFfFMcraqW6M";
/// Same with `-sha256`.
const X5T_SHA256: &str = "PF_ADP_iPtczqj_dRL4Tcyiwjig6UtB5My6PCS2Y8pc";

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    aud: String,
    iss: String,
    sub: String,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

fn scopes() -> Vec<String> {
    vec![
        "https://graph.microsoft.com/Mail.ReadWrite".into(),
        "offline_access".into(),
    ]
}

async fn client_with(credential: ResolvedCredential) -> (FakeEntra, EntraClient) {
    let entra = FakeEntra::start().await;
    let client = EntraClient::new(&config(&entra.authority, 120, 5), credential, http());
    (entra, client)
}

async fn exchange(client: &EntraClient) -> Result<TokenResponse, IdpError> {
    client
        .exchange_obo(
            TENANT,
            ASSERTION,
            &scopes(),
            None,
            "3f2a1c4e-0000-4000-8000-000000000001",
        )
        .await
}

fn endpoint(entra: &FakeEntra) -> String {
    format!("{}/{TENANT}/oauth2/v2.0/token", entra.authority)
}

/// Verifies the assertion's signature with the certificate's public key and returns header and claims.
fn verify_assertion(jwt: &str, alg: Algorithm, aud: &str) -> (jsonwebtoken::Header, AssertionClaims) {
    let key = DecodingKey::from_rsa_pem(CERT_PEM.as_bytes()).unwrap();
    let mut validation = Validation::new(alg);
    validation.set_audience(&[aud]);
    validation.set_issuer(&[CLIENT_ID]);
    validation.validate_nbf = true;
    let data = jsonwebtoken::decode::<AssertionClaims>(jwt, &key, &validation).unwrap();
    (data.header, data.claims)
}

#[tokio::test]
async fn secret_exchange_sends_exactly_the_obo_form_to_the_callers_tenant() {
    let (entra, client) = client_with(secret_credential()).await;
    let token = exchange(&client).await.unwrap();
    assert_eq!(token.access_token.expose_secret(), "graph-token-1");
    assert_eq!(token.expires_in, 3600);
    assert_eq!(token.token_type, "Bearer");
    assert_eq!(
        token.scope.as_deref(),
        Some("https://graph.microsoft.com/Mail.ReadWrite")
    );

    let requests = entra.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.tenant, TENANT);
    let mut names = r.field_names.clone();
    names.sort();
    assert_eq!(
        names,
        [
            "assertion",
            "client_id",
            "client_secret",
            "grant_type",
            "requested_token_use",
            "scope"
        ]
    );
    assert_eq!(r.form["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
    assert_eq!(r.form["client_id"], CLIENT_ID);
    assert_eq!(r.form["client_secret"], SECRET);
    assert_eq!(r.form["assertion"], ASSERTION);
    assert_eq!(
        r.form["scope"],
        "https://graph.microsoft.com/Mail.ReadWrite offline_access"
    );
    assert_eq!(r.form["requested_token_use"], "on_behalf_of");
    assert_eq!(r.headers["client-request-id"], "3f2a1c4e-0000-4000-8000-000000000001");
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn a_claims_challenge_answer_is_sent_as_the_claims_field() {
    let (entra, client) = client_with(secret_credential()).await;
    let claims = r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#;
    client
        .exchange_obo(TENANT, ASSERTION, &scopes(), Some(claims), "id")
        .await
        .unwrap();
    assert_eq!(entra.requests()[0].form["claims"], claims);
}

#[tokio::test]
async fn certificate_rs256_assertion_is_signed_and_carries_the_sha1_thumbprint() {
    let (entra, client) = client_with(certificate_credential(AssertionAlgorithm::Rs256)).await;
    exchange(&client).await.unwrap();
    let r = &entra.requests()[0];
    assert!(!r.form.contains_key("client_secret"));
    assert_eq!(
        r.form["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    let (header, claims) = verify_assertion(&r.form["client_assertion"], Algorithm::RS256, &endpoint(&entra));
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(header.x5t.as_deref(), Some(X5T_SHA1));
    assert_eq!(header.x5t_s256, None);
    assert_eq!(claims.aud, endpoint(&entra));
    assert_eq!((claims.iss.as_str(), claims.sub.as_str()), (CLIENT_ID, CLIENT_ID));
    assert!(uuid::Uuid::try_parse(&claims.jti).is_ok());
    assert_eq!(claims.nbf, claims.iat);
    assert_eq!(claims.exp - claims.iat, 600);
    assert!((claims.iat - unix_now()).abs() <= 5);
}

#[tokio::test]
async fn certificate_ps256_assertion_carries_the_sha256_thumbprint() {
    let (entra, client) = client_with(certificate_credential(AssertionAlgorithm::Ps256)).await;
    exchange(&client).await.unwrap();
    let r = &entra.requests()[0];
    let (header, claims) = verify_assertion(&r.form["client_assertion"], Algorithm::PS256, &endpoint(&entra));
    assert_eq!(header.alg, Algorithm::PS256);
    assert_eq!(header.x5t_s256.as_deref(), Some(X5T_SHA256));
    assert_eq!(header.x5t, None);
    assert_eq!(claims.aud, endpoint(&entra));
}

#[tokio::test]
async fn every_certificate_assertion_is_fresh() {
    let (entra, client) = client_with(certificate_credential(AssertionAlgorithm::Rs256)).await;
    exchange(&client).await.unwrap();
    exchange(&client).await.unwrap();
    let requests = entra.requests();
    let jti = |i: usize| {
        let jwt = &requests[i].form["client_assertion"];
        jsonwebtoken::dangerous::insecure_decode::<AssertionClaims>(jwt)
            .unwrap()
            .claims
            .jti
    };
    assert_ne!(jti(0), jti(1));
}

#[tokio::test]
async fn an_unusable_private_key_is_reported_with_its_configuration_key() {
    let credential = ResolvedCredential {
        kind: ResolvedCredentialKind::Certificate {
            certificate_der: certificate_der(),
            private_key_pem: SecretString::from("not a key"),
            algorithm: AssertionAlgorithm::Rs256,
        },
    };
    let (entra, client) = client_with(credential).await;
    let err = exchange(&client).await.unwrap_err();
    assert!(
        matches!(
            err,
            IdpError::Credential {
                config_key: "entra.credential.private_key",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(entra.count(), 0);
}

#[tokio::test]
async fn federated_token_file_is_read_at_every_use() {
    let path = std::env::temp_dir().join(format!("naa-federated-{}.jwt", uuid::Uuid::new_v4()));
    std::fs::write(&path, "federated-token-one\n").unwrap();
    let credential = ResolvedCredential {
        kind: ResolvedCredentialKind::Federated(path.clone()),
    };
    let (entra, client) = client_with(credential).await;
    exchange(&client).await.unwrap();
    std::fs::write(&path, "federated-token-two").unwrap();
    exchange(&client).await.unwrap();
    std::fs::remove_file(&path).unwrap();
    let err = exchange(&client).await.unwrap_err();

    let requests = entra.requests();
    assert_eq!(requests[0].form["client_assertion"], "federated-token-one");
    assert_eq!(requests[1].form["client_assertion"], "federated-token-two");
    assert_eq!(requests[1].form["client_assertion_type"], CLIENT_ASSERTION_TYPE);
    assert!(!requests[1].form.contains_key("client_secret"));
    assert!(
        matches!(
            err,
            IdpError::Credential {
                config_key: "entra.credential.token_file",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(requests.len(), 2, "no request without a credential");
}

#[tokio::test]
async fn entra_error_body_is_parsed_field_by_field() {
    let (entra, client) = client_with(secret_credential()).await;
    let claims = r#"{"access_token":{"polids":{"essential":true,"values":["9ab03e19"]}}}"#;
    entra.push(Reply::entra(400, "interaction_required", 50079, Some(claims)).with_header("retry-after", "9"));
    let IdpError::Entra {
        status,
        retry_after,
        body,
    } = exchange(&client).await.unwrap_err()
    else {
        panic!("expected an Entra error");
    };
    assert_eq!((status, retry_after), (400, Some(9)));
    assert_eq!(body.error, "interaction_required");
    assert_eq!(body.error_codes, [50079]);
    assert_eq!(body.trace_id.as_deref(), Some("0000aaaa-11bb-cccc-dd22-eeeeee333333"));
    assert_eq!(
        body.correlation_id.as_deref(),
        Some("aaaa0000-bb11-2222-33cc-444444dddddd")
    );
    assert_eq!(body.timestamp.as_deref(), Some("2026-12-04 10:00:00Z"));
    assert_eq!(body.claims.as_deref(), Some(claims));
    assert!(body.error_description.unwrap().starts_with("AADSTS50079:"));
    assert_eq!(
        body.error_uri.as_deref(),
        Some("https://login.microsoftonline.com/error?code=50079")
    );
}

#[tokio::test]
async fn aadsts_number_is_taken_from_the_text_when_error_codes_is_missing() {
    let (entra, client) = client_with(secret_credential()).await;
    let body =
        r#"{"error":"invalid_grant","error_description":"AADSTS65001: The user or administrator has not consented."}"#;
    entra.push(Reply {
        status: 400,
        headers: Vec::new(),
        body: body.into(),
    });
    let IdpError::Entra { body, .. } = exchange(&client).await.unwrap_err() else {
        panic!("expected an Entra error")
    };
    assert_eq!(body.error_codes, [65001]);
    assert_eq!(body.label(), "AADSTS65001");
}

#[tokio::test]
async fn a_non_json_failure_keeps_status_and_retry_after() {
    let (entra, client) = client_with(secret_credential()).await;
    entra.push(Reply {
        status: 502,
        headers: vec![("retry-after", "3".into())],
        body: "<html>Bad Gateway</html>".into(),
    });
    let err = exchange(&client).await.unwrap_err();
    let IdpError::UnexpectedStatus {
        status,
        retry_after,
        detail,
    } = err
    else {
        panic!("unexpected {err}")
    };
    assert_eq!((status, retry_after), (502, Some(3)));
    assert!(detail.contains("Bad Gateway"));
}

#[tokio::test]
async fn a_malformed_success_is_an_invalid_response() {
    let (entra, client) = client_with(secret_credential()).await;
    entra.push(Reply {
        status: 200,
        headers: Vec::new(),
        body: r#"{"token_type":"Bearer"}"#.into(),
    });
    assert!(matches!(
        exchange(&client).await.unwrap_err(),
        IdpError::InvalidResponse(_)
    ));
}

#[tokio::test]
async fn expires_in_sent_as_a_string_is_accepted() {
    let (entra, client) = client_with(secret_credential()).await;
    let body = r#"{"token_type":"Bearer","expires_in":"3599","access_token":"t"}"#;
    entra.push(Reply {
        status: 200,
        headers: Vec::new(),
        body: body.into(),
    });
    assert_eq!(exchange(&client).await.unwrap().expires_in, 3599);
}

#[tokio::test]
async fn a_slow_endpoint_times_out_after_obo_timeout_secs() {
    let entra = FakeEntra::start().await;
    entra.set_delay(Duration::from_secs(3));
    let client = EntraClient::new(&config(&entra.authority, 120, 1), secret_credential(), http());
    let started = tokio::time::Instant::now();
    let err = exchange(&client).await.unwrap_err();
    assert!(matches!(err, IdpError::Timeout(_)), "{err}");
    assert!(started.elapsed() < Duration::from_millis(2500));
}

#[tokio::test]
async fn common_and_other_non_guid_tenants_are_refused_before_any_request() {
    let (entra, client) = client_with(secret_credential()).await;
    for tenant in ["common", "organizations", "../evil", ""] {
        let err = client
            .exchange_obo(tenant, ASSERTION, &scopes(), None, "id")
            .await
            .unwrap_err();
        assert!(matches!(err, IdpError::InvalidTenant(_)), "{tenant}: {err}");
    }
    assert_eq!(entra.count(), 0);
}

#[test]
fn debug_output_never_contains_secret_material() {
    let config = config("http://127.0.0.1:9", 120, 5);
    for credential in [secret_credential(), certificate_credential(AssertionAlgorithm::Ps256)] {
        let text = format!("{:?}", EntraClient::new(&config, credential, http()));
        assert!(!text.contains(SECRET) && !text.contains("PRIVATE KEY"), "{text}");
    }
    let body = r#"{"token_type":"Bearer","expires_in":60,"access_token":"very-secret-token"}"#;
    let token = TokenResponse::parse(body.as_bytes()).unwrap();
    assert!(!format!("{token:?}").contains("very-secret-token"));
}

async fn app_only(client: &EntraClient) -> Result<TokenResponse, IdpError> {
    client
        .client_credentials(TENANT, "3f2a1c4e-0000-4000-8000-000000000002")
        .await
}

fn sorted_names(r: &Recorded) -> Vec<String> {
    let mut names = r.field_names.clone();
    names.sort();
    names
}

#[tokio::test]
async fn client_credentials_with_a_secret_sends_exactly_the_app_only_form() {
    let (entra, client) = client_with(secret_credential()).await;
    let token = app_only(&client).await.unwrap();
    assert_eq!(token.access_token.expose_secret(), "graph-token-1");

    let requests = entra.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.tenant, TENANT);
    assert_eq!(sorted_names(r), ["client_id", "client_secret", "grant_type", "scope"]);
    assert_eq!(r.form["grant_type"], "client_credentials");
    assert_eq!(r.form["client_id"], CLIENT_ID);
    assert_eq!(r.form["client_secret"], SECRET);
    assert_eq!(r.form["scope"], "https://graph.microsoft.com/.default");
    assert_eq!(r.headers["client-request-id"], "3f2a1c4e-0000-4000-8000-000000000002");
}

#[tokio::test]
async fn client_credentials_with_a_certificate_sends_a_signed_assertion_and_no_secret() {
    let (entra, client) = client_with(certificate_credential(AssertionAlgorithm::Rs256)).await;
    app_only(&client).await.unwrap();
    let r = &entra.requests()[0];
    assert_eq!(
        sorted_names(r),
        [
            "client_assertion",
            "client_assertion_type",
            "client_id",
            "grant_type",
            "scope"
        ]
    );
    assert_eq!(r.form["grant_type"], "client_credentials");
    assert_eq!(r.form["scope"], "https://graph.microsoft.com/.default");
    assert_eq!(r.form["client_assertion_type"], CLIENT_ASSERTION_TYPE);
    let (header, claims) = verify_assertion(&r.form["client_assertion"], Algorithm::RS256, &endpoint(&entra));
    assert_eq!(header.x5t.as_deref(), Some(X5T_SHA1));
    assert_eq!((claims.iss.as_str(), claims.sub.as_str()), (CLIENT_ID, CLIENT_ID));
}

#[tokio::test]
async fn client_credentials_with_a_federated_token_sends_the_file_as_the_assertion() {
    let path = std::env::temp_dir().join(format!("naa-federated-{}.jwt", uuid::Uuid::new_v4()));
    std::fs::write(&path, "federated-token-cc\n").unwrap();
    let credential = ResolvedCredential {
        kind: ResolvedCredentialKind::Federated(path.clone()),
    };
    let (entra, client) = client_with(credential).await;
    let result = app_only(&client).await;
    std::fs::remove_file(&path).unwrap();
    result.unwrap();
    let r = &entra.requests()[0];
    assert_eq!(
        sorted_names(r),
        [
            "client_assertion",
            "client_assertion_type",
            "client_id",
            "grant_type",
            "scope"
        ]
    );
    assert_eq!(r.form["grant_type"], "client_credentials");
    assert_eq!(r.form["client_assertion"], "federated-token-cc");
    assert_eq!(r.form["client_assertion_type"], CLIENT_ASSERTION_TYPE);
}

#[tokio::test]
async fn client_credentials_reports_entra_errors_and_refuses_non_guid_tenants() {
    let (entra, client) = client_with(secret_credential()).await;
    entra.push(Reply::entra(401, "invalid_client", 7000215, None));
    let IdpError::Entra { status, body, .. } = app_only(&client).await.unwrap_err() else {
        panic!("expected an Entra error")
    };
    assert_eq!((status, body.error.as_str()), (401, "invalid_client"));
    assert_eq!(body.error_codes, [7000215]);
    let err = client.client_credentials("common", "id").await.unwrap_err();
    assert!(matches!(err, IdpError::InvalidTenant(_)), "{err}");
    assert_eq!(entra.count(), 1);
}
