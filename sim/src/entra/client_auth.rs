//! Client authentication at the token endpoint: client secret (form or HTTP Basic),
//! certificate client assertions (RS256 + `x5t`, PS256 + `x5t#S256`) and federated
//! (workload identity) assertions, each verified the way Entra does.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::Algorithm;

use super::{
    Inner,
    directory::Tenant,
    errors::{AadError, message_time},
    jwt::{self, Jwt},
    now,
    token_endpoint::TokenRequest,
};

/// `client_assertion_type` of JWT client assertions.
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Clock skew Entra tolerates on `nbf`/`iat` of client assertions.
const SKEW_SECS: i64 = 300;

const CERT_DOCS: &str =
    "https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials";
const FIC_HINT: &str = "Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation";

/// How the client proved its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuthKind {
    Secret,
    CertificateRs256,
    CertificatePs256,
    Federated,
}

impl AuthKind {
    /// The name used in recorded requests.
    pub fn label(self) -> &'static str {
        match self {
            AuthKind::Secret => "secret",
            AuthKind::CertificateRs256 => "certificate_rs256",
            AuthKind::CertificatePs256 => "certificate_ps256",
            AuthKind::Federated => "federated",
        }
    }

    /// `appidacr`/`azpacr`: 1 for a secret, 2 for a certificate or federated assertion.
    pub fn acr(self) -> &'static str {
        match self {
            AuthKind::Secret => "1",
            _ => "2",
        }
    }
}

/// The kind of credential a request presents, before any verification.
pub(super) fn presented(request: &TokenRequest<'_>) -> Option<AuthKind> {
    if request.form.get("client_secret").is_some() || request.basic.is_some() {
        return Some(AuthKind::Secret);
    }
    let assertion = jwt::parse(request.form.get("client_assertion")?).ok()?;
    Some(assertion_kind(&assertion, request.client_id()?))
}

/// A certificate assertion is the app's own (`iss` = client id); anything else is federated.
fn assertion_kind(assertion: &Jwt, client_id: &str) -> AuthKind {
    let own = assertion
        .claim_str("iss")
        .is_some_and(|iss| iss.eq_ignore_ascii_case(client_id));
    match (own, assertion.header_str("alg")) {
        (true, Some("PS256")) => AuthKind::CertificatePs256,
        (true, _) => AuthKind::CertificateRs256,
        (false, _) => AuthKind::Federated,
    }
}

/// Verifies the client credential of `request` for the gateway's registration.
pub(super) fn authenticate(
    inner: &Inner,
    tenant: &Tenant,
    request: &TokenRequest<'_>,
    client_id: &str,
) -> Result<AuthKind, AadError> {
    let secret = request
        .form
        .get("client_secret")
        .or(request.basic.as_ref().map(|b| b.secret.as_str()));
    match (secret, request.form.get("client_assertion")) {
        (Some(_), Some(_)) => Err(AadError::malformed(
            "Only one client credential may be presented: 'client_secret' or 'client_assertion'.",
        )),
        (None, None) => Err(AadError::canned(7000218, client_id, &tenant.id)),
        (Some(secret), None) => {
            if constant_time_eq(secret.as_bytes(), inner.seed.gateway_client_secret.as_bytes()) {
                Ok(AuthKind::Secret)
            } else {
                Err(AadError::canned(7000215, client_id, &tenant.id))
            }
        }
        (None, Some(assertion)) => {
            match request.form.get("client_assertion_type") {
                None => return Err(AadError::missing("client_assertion_type")),
                Some(ASSERTION_TYPE) => {}
                Some(other) => {
                    return Err(AadError::malformed(&format!(
                        "The client_assertion_type '{other}' is not supported; use '{ASSERTION_TYPE}'."
                    )));
                }
            }
            let assertion = jwt::parse(assertion).map_err(|e| malformed_jwt(&e.to_string()))?;
            match assertion_kind(&assertion, client_id) {
                AuthKind::Federated => federated(inner, &assertion),
                kind => certificate(inner, tenant, request.segment, &assertion, client_id, kind),
            }
        }
    }
}

fn malformed_jwt(detail: &str) -> AadError {
    AadError::new(50027, format!("JWT token is invalid or malformed. {detail}"))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn certificate(
    inner: &Inner,
    tenant: &Tenant,
    segment: &str,
    assertion: &Jwt,
    client_id: &str,
    kind: AuthKind,
) -> Result<AuthKind, AadError> {
    let cert = &inner.keys.client_cert;
    let (header, registered, alg) = match kind {
        AuthKind::CertificatePs256 => ("x5t#S256", &cert.sha256, Algorithm::PS256),
        _ => ("x5t", &cert.sha1, Algorithm::RS256),
    };
    if !matches!(assertion.header_str("alg"), Some("RS256" | "PS256")) {
        return Err(AadError::new(
            700027,
            "Client assertion failed signature validation. [Reason - The client assertion must be signed with RS256 (with 'x5t') or PS256 (with 'x5t#S256').]",
        ));
    }
    let presented = assertion
        .header_str(header)
        .and_then(|t| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')).ok());
    let thumbprint = presented.as_deref().map(hex_upper).unwrap_or_default();
    if presented.as_ref() != Some(registered) {
        return Err(AadError::new(
            700027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'. The assertion header must name the certificate in '{header}'.]"
            ),
        ));
    }
    if !assertion.verify(&cert.decoding, &[alg]) {
        return Err(AadError::new(
            700027,
            format!(
                "Client assertion failed signature validation. [Reason - Key was found, but use of the key to verify the signature failed., Thumbprint of key used by client: '{thumbprint}']"
            ),
        ));
    }
    check_certificate_claims(inner, tenant, segment, assertion, client_id)?;
    Ok(kind)
}

fn check_certificate_claims(
    inner: &Inner,
    tenant: &Tenant,
    segment: &str,
    assertion: &Jwt,
    client_id: &str,
) -> Result<(), AadError> {
    for claim in ["exp", "jti"] {
        if assertion.claims.get(claim).is_none() {
            return Err(malformed_jwt(&format!("The client assertion has no '{claim}' claim.")));
        }
    }
    if !assertion
        .claim_str("sub")
        .is_some_and(|sub| sub.eq_ignore_ascii_case(client_id))
    {
        return Err(AadError::new(
            700021,
            format!(
                "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at {CERT_DOCS} ."
            ),
        ));
    }
    let expected = [
        format!("{}/{}/oauth2/v2.0/token", inner.url, segment),
        format!("{}/{}/oauth2/v2.0/token", inner.url, tenant.id),
    ];
    if !assertion.audiences().iter().any(|a| expected.iter().any(|e| e == a)) {
        return Err(AadError::new(
            700023,
            format!(
                "Client assertion audience claim does not match Realm issuer. Review the documentation at {CERT_DOCS} ."
            ),
        ));
    }
    check_assertion_times(assertion)
}

fn federated(inner: &Inner, assertion: &Jwt) -> Result<AuthKind, AadError> {
    let seed = &inner.seed;
    let issuer = assertion.claim_str("iss").unwrap_or_default();
    if issuer != seed.federated_issuer {
        return Err(AadError::new(
            700211,
            format!(
                "No matching federated identity record found for presented assertion issuer '{issuer}'. {FIC_HINT}"
            ),
        ));
    }
    let cluster = &inner.keys.cluster;
    let key_known = assertion.header_str("kid").is_some_and(|kid| kid == cluster.kid);
    if !key_known || !assertion.verify(&cluster.decoding, &[Algorithm::RS256]) {
        return Err(AadError::new(
            700027,
            format!(
                "Client assertion failed signature validation. [Reason - The assertion is not signed by a key published by issuer '{issuer}'.]"
            ),
        ));
    }
    if assertion.claims.get("exp").is_none() {
        return Err(malformed_jwt("The client assertion has no 'exp' claim."));
    }
    let subject = assertion.claim_str("sub").unwrap_or_default();
    if subject != seed.federated_subject {
        return Err(AadError::new(
            700213,
            format!(
                "No matching federated identity record found for presented assertion subject '{subject}'. {FIC_HINT}"
            ),
        ));
    }
    let audiences = assertion.audiences();
    if !audiences.contains(&seed.federated_audience.as_str()) {
        return Err(AadError::new(
            700212,
            format!(
                "No matching federated identity record found for presented assertion audience '{}'. {FIC_HINT}",
                audiences.join(",")
            ),
        ));
    }
    check_assertion_times(assertion)?;
    Ok(AuthKind::Federated)
}

/// `exp` in the future, `nbf`/`iat` not in the future beyond the skew (AADSTS700024).
fn check_assertion_times(assertion: &Jwt) -> Result<(), AadError> {
    let now = now();
    let exp = assertion.claim_time("exp").unwrap_or(0);
    let nbf = assertion.claim_time("nbf");
    let iat = assertion.claim_time("iat");
    let early = |t: Option<i64>| t.is_some_and(|t| t > now + SKEW_SECS);
    if now >= exp || early(nbf) || early(iat) {
        let from = nbf.or(iat).map(message_time).unwrap_or_else(|| "(not set)".into());
        return Err(AadError::new(
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {from}, expiry time of assertion {}. Review the documentation at {CERT_DOCS} .",
                message_time(now),
                message_time(exp)
            ),
        ));
    }
    Ok(())
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
