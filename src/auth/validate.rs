//! Pure validation of an Entra ID access token: parsing, Microsoft's claim rules, the signature.
//!
//! Nothing here does I/O or reads the clock; `now` is a parameter, so every rule is testable.
//! The claim rules run on the still-unverified payload before any key is looked up: they can
//! only reject, so reading unverified claims is safe, and a token that is expired or meant for
//! Graph never makes the gateway fetch keys. Acceptance always requires the signature.
//!
//! Telling an access token from other tokens (claims per protocols.md §3.2):
//! - a payload `nonce` only appears in ID tokens → ID token;
//! - `idtyp` = `app` is Entra's explicit app-only marker → app-only;
//! - without `scp` (delegated scopes), a token naming no client application (`azp` in v2,
//!   `appid` in v1) and carrying no `roles` is an ID token: every access token names the app it
//!   was issued to, ID tokens never do;
//! - without `scp` but with `roles` or a client application → app-only (client credentials).

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::{
    Caller,
    error::{AuthError, RejectReason},
    keys::KeySet,
};
use crate::config::Config;

/// Audiences of Microsoft Graph: a Graph token sent to the gateway is the commonest mistake.
const GRAPH_AUDIENCES: [&str; 3] = [
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
    "00000003-0000-0000-c000-000000000000",
];

/// Tokens longer than this are refused unparsed (Entra tokens are a few kilobytes).
const MAX_TOKEN_LEN: usize = 32 * 1024;

/// Longest header `alg` quoted back in an error description.
const MAX_ALG_ECHO: usize = 32;

/// Which tenants may call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantPolicy {
    /// Any tenant (`allowed_tenants = ["*"]`).
    Any,
    /// Only these tenant GUIDs (lowercase).
    Only(Vec<String>),
}

/// The inbound token rules, taken once from configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Accepted `aud` values: the client id and the configured extras (App ID URI).
    pub audiences: Vec<String>,
    /// Allowed tenants.
    pub tenants: TenantPolicy,
    /// Delegated scope `scp` must contain (short name, e.g. `access_as_user`); empty: none.
    pub required_scope: String,
    /// Allowed calling applications (lowercase); empty allows any.
    pub allowed_client_apps: Vec<String>,
    /// Accept app-only tokens.
    pub allow_app_only: bool,
    /// Tolerated clock skew on `nbf`/`exp`, in seconds.
    pub clock_skew_secs: i64,
}

/// A verification key: the public RSA key and the issuer the JWKS binds it to.
pub struct SigningKey {
    /// Key id (`kid`).
    pub kid: String,
    /// The RSA public key.
    pub key: DecodingKey,
    /// The key's `issuer` from the JWKS, possibly templated with `{tenantid}`.
    pub issuer: Option<String>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// A token split and decoded, not yet trusted.
#[derive(Debug)]
pub struct Unverified<'t> {
    /// Header `kid`.
    pub kid: Option<String>,
    /// The payload's claims.
    pub claims: Claims,
    signing_input: &'t str,
    signature: &'t str,
}

/// The claims the gateway reads (others are ignored).
#[derive(Debug, Default, Deserialize)]
pub struct Claims {
    iss: Option<String>,
    aud: Option<Audience>,
    /// Tenant id; read before verification only to choose the key set.
    pub tid: Option<String>,
    oid: Option<String>,
    sub: Option<String>,
    ver: Option<String>,
    scp: Option<String>,
    roles: Option<Vec<String>>,
    azp: Option<String>,
    appid: Option<String>,
    idtyp: Option<String>,
    nonce: Option<serde_json::Value>,
    exp: Option<serde_json::Number>,
    nbf: Option<serde_json::Number>,
    preferred_username: Option<String>,
    upn: Option<String>,
    unique_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct JoseHeader {
    alg: Option<String>,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

// === impl Policy ===

impl Policy {
    /// The rules configured under `[entra]`.
    pub fn from_config(config: &Config) -> Policy {
        let e = &config.entra;
        let tenants = if e.allowed_tenants.iter().any(|t| t == "*") {
            TenantPolicy::Any
        } else {
            TenantPolicy::Only(e.allowed_tenants.iter().map(|t| t.to_ascii_lowercase()).collect())
        };
        Policy {
            audiences: config.accepted_audiences(),
            tenants,
            required_scope: short_scope(&e.required_scope).to_string(),
            allowed_client_apps: e.allowed_client_apps.iter().map(|a| a.to_ascii_lowercase()).collect(),
            allow_app_only: e.allow_app_only,
            clock_skew_secs: i64::try_from(e.clock_skew_secs).unwrap_or(i64::MAX),
        }
    }

    /// Whether `tid` may call (it must be a GUID either way).
    pub fn tenant_allowed(&self, tid: &str) -> bool {
        if !is_guid(tid) {
            return false;
        }
        match &self.tenants {
            TenantPolicy::Any => true,
            TenantPolicy::Only(list) => list.iter().any(|t| t.eq_ignore_ascii_case(tid)),
        }
    }
}

/// `api://…/access_as_user` → `access_as_user`: `scp` carries short scope names.
fn short_scope(scope: &str) -> &str {
    scope.trim().rsplit('/').next().unwrap_or_default()
}

// === validation ===

/// Validates `token` completely against one tenant's `keys` at time `now` (Unix seconds).
///
/// The same steps [`super::Authenticator`] runs, with the keys given instead of fetched.
pub fn validate_token(token: &str, policy: &Policy, keys: &KeySet, now: i64) -> Result<Caller, AuthError> {
    let unverified = parse(token)?;
    let caller = check_claims(&unverified, policy, now, token)?;
    let kid = unverified.require_kid()?;
    let key = keys.get(kid).ok_or_else(unknown_key)?;
    verify_signature(&unverified, &key, &caller.tenant_id)?;
    Ok(caller)
}

/// The value of an `Authorization` header → the bearer token (scheme case-insensitive).
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let Some(value) = authorization.map(str::trim) else {
        return Err(AuthError::missing_token());
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // RFC 6750 §3.1: another scheme counts as no bearer credentials at all.
        return Err(AuthError::missing_token());
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(AuthError::malformed("empty bearer token"));
    }
    if token.contains(char::is_whitespace) {
        return Err(AuthError::malformed("bearer token contains whitespace"));
    }
    Ok(token)
}

/// Splits and decodes `token`; refuses any algorithm but RS256 before looking further.
pub fn parse(token: &str) -> Result<Unverified<'_>, AuthError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::malformed("token too long"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::malformed(
            "expected three dot-separated parts (encrypted tokens are not supported)",
        ));
    };
    let header: JoseHeader = decode_json(header, "header")?;
    match header.alg.as_deref() {
        Some("RS256") => {}
        Some(other) => {
            let alg: String = other.chars().take(MAX_ALG_ECHO).collect();
            return Err(AuthError::rejected(
                RejectReason::UnsupportedAlgorithm,
                format!("unsupported algorithm {alg}; only RS256 is accepted"),
            ));
        }
        None => return Err(AuthError::malformed("header has no alg")),
    }
    if header.crit.is_some() {
        return Err(AuthError::malformed("critical header parameters are not supported"));
    }
    let claims: Claims = decode_json(payload, "payload")?;
    if signature.is_empty() {
        return Err(AuthError::malformed("token is not signed"));
    }
    let signing_input = &token[..header_payload_len(token)];
    Ok(Unverified {
        kid: header.kid,
        claims,
        signing_input,
        signature,
    })
}

/// Length of `header.payload` (the signed part) in a token already known to have two dots.
fn header_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str, what: &str) -> Result<T, AuthError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::malformed(format!("{what} is not base64url")))?;
    serde_json::from_slice(&bytes).map_err(|e| AuthError::malformed(format!("{what} is not a valid JSON object: {e}")))
}

impl Unverified<'_> {
    /// The header `kid`, which every Entra token carries.
    pub fn require_kid(&self) -> Result<&str, AuthError> {
        self.kid
            .as_deref()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| AuthError::malformed("header has no kid"))
    }

    /// The `tid` claim if it names an allowed tenant; the reason otherwise.
    pub fn allowed_tenant(&self, policy: &Policy) -> Result<&str, AuthError> {
        let tid = self
            .claims
            .tid
            .as_deref()
            .ok_or_else(|| AuthError::malformed("no tid claim"))?;
        if policy.tenant_allowed(tid) {
            Ok(tid)
        } else {
            Err(AuthError::rejected(
                RejectReason::TenantNotAllowed,
                "tenant not allowed",
            ))
        }
    }
}

/// Every claim rule, in order: tenant, issuer, audience, lifetime, token kind, scope, client,
/// subject. Returns the caller the token describes, still pending the signature check.
pub fn check_claims(u: &Unverified<'_>, policy: &Policy, now: i64, token: &str) -> Result<Caller, AuthError> {
    let c = &u.claims;
    let tid = u.allowed_tenant(policy)?;
    let version = check_issuer(c, tid)?;
    check_audience(c, policy)?;
    let expires_at = check_lifetime(c, policy.clock_skew_secs, now)?;
    let delegated = check_token_kind(c, policy)?;
    if delegated {
        check_scope(c, policy)?;
    }
    let client_app = c.azp.clone().or_else(|| c.appid.clone());
    check_client(client_app.as_deref(), policy)?;
    let oid = c
        .oid
        .clone()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| AuthError::malformed("no oid claim"))?;
    let subject = c
        .sub
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AuthError::malformed("no sub claim"))?;
    Ok(Caller {
        tenant_id: tid.to_string(),
        oid,
        subject,
        client_app,
        scopes: c
            .scp
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        username: c
            .preferred_username
            .clone()
            .or_else(|| c.upn.clone())
            .or_else(|| c.unique_name.clone()),
        version,
        expires_at,
        assertion: token.into(),
    })
}

/// The two issuers Entra ID uses for tenant `tid`: v2 and v1.
pub fn issuers_for(tid: &str) -> [String; 2] {
    [
        format!("https://login.microsoftonline.com/{tid}/v2.0"),
        format!("https://sts.windows.net/{tid}/"),
    ]
}

/// `iss` must be the token's own tenant's v2 or v1 issuer, consistent with `ver`; → version.
fn check_issuer(c: &Claims, tid: &str) -> Result<u8, AuthError> {
    let wrong = || AuthError::rejected(RejectReason::WrongIssuer, "wrong issuer");
    let iss = c.iss.as_deref().ok_or_else(|| AuthError::malformed("no iss claim"))?;
    let [v2, v1] = issuers_for(tid);
    let (version, ver) = if iss == v2 {
        (2, "2.0")
    } else if iss == v1 {
        (1, "1.0")
    } else {
        return Err(wrong());
    };
    match c.ver.as_deref() {
        Some(v) if v != ver => Err(wrong()),
        _ => Ok(version),
    }
}

fn check_audience(c: &Claims, policy: &Policy) -> Result<(), AuthError> {
    let auds: Vec<&str> = match &c.aud {
        Some(Audience::One(a)) => vec![a.as_str()],
        Some(Audience::Many(list)) => list.iter().map(String::as_str).collect(),
        None => return Err(AuthError::malformed("no aud claim")),
    };
    if auds.iter().any(|a| policy.audiences.iter().any(|ok| ok == a)) {
        return Ok(());
    }
    if auds
        .iter()
        .any(|a| GRAPH_AUDIENCES.iter().any(|g| g.eq_ignore_ascii_case(a)))
    {
        return Err(AuthError::rejected(
            RejectReason::WrongAudience,
            "token is for Microsoft Graph, not this API",
        ));
    }
    Err(AuthError::rejected(RejectReason::WrongAudience, "wrong audience"))
}

/// `nbf - skew <= now < exp + skew`; returns `exp`.
fn check_lifetime(c: &Claims, skew: i64, now: i64) -> Result<i64, AuthError> {
    let exp = c
        .exp
        .as_ref()
        .and_then(numeric_date)
        .ok_or_else(|| AuthError::malformed("no numeric exp claim"))?;
    if now >= exp.saturating_add(skew) {
        return Err(AuthError::rejected(RejectReason::Expired, "expired"));
    }
    if let Some(nbf) = &c.nbf {
        let nbf = numeric_date(nbf).ok_or_else(|| AuthError::malformed("nbf is not a number"))?;
        if now < nbf.saturating_sub(skew) {
            return Err(AuthError::rejected(RejectReason::NotYetValid, "not yet valid"));
        }
    }
    Ok(exp)
}

fn numeric_date(n: &serde_json::Number) -> Option<i64> {
    // Fractional seconds are legal NumericDates; truncation loses under a second.
    n.as_i64()
        .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

/// Applies the ID-token and app-only rules of the module docs; `true` for a delegated token.
fn check_token_kind(c: &Claims, policy: &Policy) -> Result<bool, AuthError> {
    let id_token = || {
        AuthError::rejected(
            RejectReason::IdToken,
            "ID tokens are not accepted; send an access token",
        )
    };
    if c.nonce.is_some() {
        return Err(id_token());
    }
    let app_marked = c.idtyp.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("app"));
    let has_scp = c.scp.as_deref().is_some_and(|s| !s.trim().is_empty());
    if has_scp && !app_marked {
        return Ok(true);
    }
    let names_client = c.azp.is_some() || c.appid.is_some();
    if !app_marked && !names_client && c.roles.is_none() {
        return Err(id_token());
    }
    if policy.allow_app_only {
        Ok(false)
    } else {
        Err(AuthError::rejected(
            RejectReason::AppOnly,
            "app-only tokens are not accepted",
        ))
    }
}

fn check_scope(c: &Claims, policy: &Policy) -> Result<(), AuthError> {
    let wanted = policy.required_scope.as_str();
    if wanted.is_empty()
        || c.scp
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .any(|s| s == wanted)
    {
        return Ok(());
    }
    Err(AuthError::rejected(
        RejectReason::MissingScope,
        format!("missing scope {wanted}"),
    ))
}

fn check_client(client_app: Option<&str>, policy: &Policy) -> Result<(), AuthError> {
    if policy.allowed_client_apps.is_empty() {
        return Ok(());
    }
    match client_app {
        Some(app) if policy.allowed_client_apps.iter().any(|a| a.eq_ignore_ascii_case(app)) => Ok(()),
        _ => Err(AuthError::rejected(
            RejectReason::ClientNotAllowed,
            "client application not allowed",
        )),
    }
}

/// The 401 for a `kid` absent from the tenant's keys.
pub(super) fn unknown_key() -> AuthError {
    AuthError::rejected(RejectReason::UnknownKey, "signing key not found")
}

/// Checks the key belongs to the token's tenant, then the RS256 signature.
///
/// The algorithm is fixed by the key (the key store keeps RSA keys only), never taken from
/// the header; [`parse`] already refused headers asking for anything else.
pub fn verify_signature(u: &Unverified<'_>, key: &SigningKey, tid: &str) -> Result<(), AuthError> {
    if let Some(key_issuer) = &key.issuer {
        // protocols.md §3.4.3: a templated key issuer is resolved with the token's tenant; an
        // exact one (the MSA tenant's) must name the token's tenant itself.
        let resolved = key_issuer.replace("{tenantid}", tid);
        if !issuers_for(tid).contains(&resolved) {
            return Err(AuthError::rejected(RejectReason::WrongIssuer, "wrong issuer"));
        }
    }
    match jsonwebtoken::crypto::verify(u.signature, u.signing_input.as_bytes(), &key.key, Algorithm::RS256) {
        Ok(true) => Ok(()),
        Ok(false) => Err(AuthError::rejected(RejectReason::BadSignature, "bad signature")),
        Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::Base64(_)) => {
            Err(AuthError::malformed("signature is not base64url"))
        }
        Err(_) => Err(AuthError::rejected(RejectReason::BadSignature, "bad signature")),
    }
}

/// A hyphenated GUID (`tid` values and tenant allow-list entries).
pub fn is_guid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}
