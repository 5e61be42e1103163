//! Tests of the simulated Entra ID through its real HTTP endpoints.

mod client_auth;
mod discovery;
mod knobs;
mod obo;
mod tokens;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::{EntraSim, MintRequest, keys::pem_body};
use crate::seed::{GATEWAY_CERT_KEY_PEM, GATEWAY_CERT_PEM, SeedTenant};

pub(super) const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub(super) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A running simulator and a client for it.
pub(super) struct Harness {
    pub sim: EntraSim,
    pub http: reqwest::Client,
    pub seed: SeedTenant,
}

pub(super) async fn start() -> Harness {
    let seed = SeedTenant::contoso();
    let sim = EntraSim::start(seed.clone()).await.unwrap();
    Harness {
        sim,
        http: crate::test_http_client(),
        seed,
    }
}

pub(super) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The claims of a JWT, without verifying it.
pub(super) fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The header of a JWT.
pub(super) fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

impl Harness {
    pub fn tid(&self) -> &str {
        &self.seed.tenant_id
    }

    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.sim.url(), self.tid())
    }

    /// A v2 NAA access token for alice (what the add-in sends the gateway).
    pub fn user_token(&self) -> String {
        self.mint(MintRequest {
            user: "alice@contoso.com".into(),
            ..MintRequest::default()
        })
    }

    pub fn mint(&self, req: MintRequest) -> String {
        self.sim.mint(req).unwrap().access_token
    }

    /// POSTs a form to the token endpoint of `tenant`.
    pub async fn post_form_to(&self, tenant: &str, fields: &[(&str, &str)]) -> (StatusCode, Value) {
        let url = format!("{}/{}/oauth2/v2.0/token", self.sim.url(), tenant);
        let response = self.http.post(url).form(fields).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    pub async fn post_form(&self, fields: &[(&str, &str)]) -> (StatusCode, Value) {
        let tid = self.tid().to_owned();
        self.post_form_to(&tid, fields).await
    }

    /// An on-behalf-of request with the client secret.
    pub async fn obo_with_secret(&self, assertion: &str, scope: &str) -> (StatusCode, Value) {
        self.post_form(&[
            ("grant_type", JWT_BEARER),
            ("client_id", &self.seed.gateway_client_id),
            ("client_secret", &self.seed.gateway_client_secret),
            ("assertion", assertion),
            ("scope", scope),
            ("requested_token_use", "on_behalf_of"),
        ])
        .await
    }

    /// An on-behalf-of request authenticated with a client assertion.
    pub async fn obo_with_assertion(&self, client_assertion: &str) -> (StatusCode, Value) {
        let user = self.user_token();
        self.post_form(&[
            ("grant_type", JWT_BEARER),
            ("client_id", &self.seed.gateway_client_id),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", client_assertion),
            ("assertion", &user),
            ("scope", "https://graph.microsoft.com/Mail.ReadWrite"),
            ("requested_token_use", "on_behalf_of"),
        ])
        .await
    }

    /// Claims of a valid certificate client assertion, with `overrides` applied
    /// (`null` removes a claim).
    pub fn assertion_claims(&self, overrides: Value) -> Value {
        let now = now();
        let mut claims = json!({
            "aud": self.token_url(),
            "iss": self.seed.gateway_client_id,
            "sub": self.seed.gateway_client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + 600,
        });
        for (k, v) in overrides.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }
}

/// Which thumbprint header a test certificate assertion carries.
pub(super) enum Thumbprint {
    /// The thumbprint matching `alg` (x5t for RS256, x5t#S256 for PS256).
    Matching,
    /// `x5t` (SHA-1) whatever the algorithm.
    Sha1,
    /// A thumbprint of some other certificate.
    Foreign,
}

/// A certificate client assertion signed with the gateway's certificate key.
pub(super) fn cert_assertion(alg: Algorithm, thumbprint: Thumbprint, claims: &Value) -> String {
    cert_assertion_signed(alg, thumbprint, claims, GATEWAY_CERT_KEY_PEM)
}

pub(super) fn cert_assertion_signed(alg: Algorithm, thumbprint: Thumbprint, claims: &Value, key_pem: &str) -> String {
    let der = pem_body(GATEWAY_CERT_PEM, "CERTIFICATE").unwrap();
    let mut header = Header::new(alg);
    match (thumbprint, alg) {
        (Thumbprint::Matching, Algorithm::PS256) => {
            header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(Sha256::digest(&der)));
        }
        (Thumbprint::Matching | Thumbprint::Sha1, _) => {
            header.x5t = Some(URL_SAFE_NO_PAD.encode(Sha1::digest(&der)));
        }
        (Thumbprint::Foreign, _) => {
            header.x5t = Some(URL_SAFE_NO_PAD.encode(Sha1::digest(b"another certificate")));
        }
    }
    let key = EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// Asserts Entra's error shape: status, `error`, the AADSTS code and every field.
pub(super) fn assert_aad_error(status: StatusCode, body: &Value, expected: StatusCode, code: u32, error: &str) {
    assert_eq!(status, expected, "status for {body}");
    assert_eq!(body["error"], error, "error for {body}");
    assert_eq!(body["error_codes"], json!([code]), "error_codes for {body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "description {description}"
    );
    let trace = body["trace_id"].as_str().unwrap();
    let correlation = body["correlation_id"].as_str().unwrap();
    let timestamp = body["timestamp"].as_str().unwrap();
    uuid::Uuid::parse_str(trace).unwrap();
    uuid::Uuid::parse_str(correlation).unwrap();
    assert!(description.ends_with(&format!(
        " Trace ID: {trace} Correlation ID: {correlation} Timestamp: {timestamp}"
    )));
    // yyyy-mm-dd hh:mm:ssZ
    assert_eq!(timestamp.len(), 20, "timestamp {timestamp}");
    assert_eq!(&timestamp[10..11], " ");
    assert!(timestamp.ends_with('Z'));
    assert_eq!(
        body["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
}
