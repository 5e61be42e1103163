//! The two grants the gateway uses: on-behalf-of (user assertion checks, Graph scope and
//! consent checks, Graph token issuance) and client credentials (app-only Graph token).

use jsonwebtoken::Algorithm;
use serde::Serialize;

use super::{
    Inner,
    claims::{self, GRAPH_RESOURCE, Kind, Times, TokenSpec},
    client_auth::AuthKind,
    directory::{Person, Tenant},
    errors::{AadError, message_time},
    jwt::{self, Jwt},
    now,
    token_endpoint::Form,
};

/// Graph delegated permissions the gateway's registration has consent for.
const CONSENTED: [&str; 3] = ["Mail.Read", "Mail.ReadWrite", "User.Read"];

/// Graph delegated permissions that exist but were never consented for the gateway.
const NOT_CONSENTED: [&str; 20] = [
    "Mail.ReadBasic",
    "Mail.Send",
    "Mail.Read.Shared",
    "Mail.ReadWrite.Shared",
    "Mail.Send.Shared",
    "MailboxSettings.Read",
    "MailboxSettings.ReadWrite",
    "Calendars.Read",
    "Calendars.ReadWrite",
    "Contacts.Read",
    "Contacts.ReadWrite",
    "Files.Read",
    "Files.ReadWrite",
    "Files.Read.All",
    "User.ReadBasic.All",
    "User.Read.All",
    "Directory.Read.All",
    "People.Read",
    "Tasks.ReadWrite",
    "EWS.AccessAsUser.All",
];

/// Application permissions (app roles) granted to the gateway for client credentials.
const APP_ROLES: [&str; 1] = ["Mail.Read"];

/// Clock skew Entra tolerates on the user assertion's `nbf`.
const SKEW_SECS: i64 = 300;

/// A successful token response.
#[derive(Debug, Serialize)]
pub(super) struct TokenAnswer {
    token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    expires_in: i64,
    ext_expires_in: i64,
    access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// Whether `grant` (as recorded) is counted as an exchange.
pub(super) fn counted(grant: &str) -> bool {
    matches!(grant, "obo" | "client_credentials")
}

/// Required on-behalf-of parameters (AADSTS900144 / 9002313).
pub(super) fn check_obo_parameters(form: &Form) -> Result<(), AadError> {
    check_claims(form)?;
    for name in ["requested_token_use", "assertion", "scope"] {
        if form.get(name).is_none() {
            return Err(AadError::missing(name));
        }
    }
    match form.get("requested_token_use") {
        Some("on_behalf_of") => Ok(()),
        _ => Err(AadError::malformed(
            "The 'requested_token_use' parameter must be 'on_behalf_of' for the jwt-bearer grant.",
        )),
    }
}

/// Required client-credentials parameters.
pub(super) fn check_client_credentials_parameters(form: &Form) -> Result<(), AadError> {
    check_claims(form)?;
    form.get("scope").map(|_| ()).ok_or_else(|| AadError::missing("scope"))
}

/// A `claims` parameter (answering a claims challenge) must be the decoded JSON object, not
/// the base64 form the resource's `WWW-Authenticate` carried.
fn check_claims(form: &Form) -> Result<(), AadError> {
    let Some(claims) = form.get("claims") else {
        return Ok(());
    };
    match serde_json::from_str::<serde_json::Value>(claims) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        _ => Err(AadError::malformed(
            "The 'claims' parameter is not a valid JSON object.",
        )),
    }
}

/// The on-behalf-of exchange: user assertion in, v1 Graph token out.
pub(super) fn on_behalf_of(
    inner: &Inner,
    tenant: &Tenant,
    form: &Form,
    client_id: &str,
    auth: AuthKind,
) -> Result<TokenAnswer, AadError> {
    let assertion = form.get("assertion").unwrap_or_default();
    let user = verify_assertion(inner, tenant, assertion, client_id)?;
    let requested = parse_scopes(form.get("scope").unwrap_or_default(), client_id)?;
    if !inner.state.lock().consent {
        return Err(AadError::canned(65001, client_id, &tenant.id));
    }
    let grant = GraphGrant {
        tenant,
        user: Some(user),
        client_id,
        auth,
        scopes: &requested.granted,
        roles: &[],
    };
    let (access_token, lifetime) = grant.issue(inner)?;
    let scope = requested
        .granted
        .iter()
        .map(|s| format!("{GRAPH_RESOURCE}/{s}"))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(TokenAnswer {
        token_type: "Bearer",
        scope: Some(scope),
        expires_in: lifetime,
        ext_expires_in: lifetime,
        access_token,
        refresh_token: requested
            .offline_access
            .then(|| format!("1.A{}", claims::random_b64url(240))),
    })
}

/// Client credentials: an app-only Graph token with the gateway's app roles.
pub(super) fn client_credentials(
    inner: &Inner,
    tenant: &Tenant,
    form: &Form,
    client_id: &str,
    auth: AuthKind,
) -> Result<TokenAnswer, AadError> {
    let scope = form.get("scope").unwrap_or_default();
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    let [single] = scopes.as_slice() else {
        return Err(default_scope_required(scope));
    };
    let Some(resource) = single.strip_suffix("/.default") else {
        return Err(default_scope_required(scope));
    };
    if !claims::is_graph_audience(resource) {
        return Err(AadError::new(
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
                tenant.domain
            ),
        ));
    }
    let roles: Vec<String> = APP_ROLES.iter().map(|r| (*r).to_owned()).collect();
    let grant = GraphGrant {
        tenant,
        user: None,
        client_id,
        auth,
        scopes: &[],
        roles: &roles,
    };
    let (access_token, lifetime) = grant.issue(inner)?;
    Ok(TokenAnswer {
        token_type: "Bearer",
        scope: None,
        expires_in: lifetime,
        ext_expires_in: lifetime,
        access_token,
        refresh_token: None,
    })
}

/// A Graph token about to be issued (delegated when `user` is set, else app-only).
struct GraphGrant<'a> {
    tenant: &'a Tenant,
    user: Option<&'a Person>,
    client_id: &'a str,
    auth: AuthKind,
    scopes: &'a [String],
    roles: &'a [String],
}

impl GraphGrant<'_> {
    /// Signs the v1 Graph token; returns it with its lifetime.
    fn issue(&self, inner: &Inner) -> Result<(String, i64), AadError> {
        let lifetime = inner.state.lock().graph_lifetime;
        let now = now();
        let spec = TokenSpec {
            version: 1,
            kind: if self.user.is_some() { Kind::Access } else { Kind::App },
            tenant_id: &self.tenant.id,
            user: self.user,
            audience: GRAPH_RESOURCE,
            client_id: self.client_id,
            client_acr: self.auth.acr(),
            scopes: self.scopes,
            roles: self.roles,
            times: Times {
                iat: now,
                nbf: now,
                exp: now + lifetime,
            },
        };
        let token = inner.issue(&spec).map_err(|e| {
            tracing::error!(error = %e, "entra simulator could not sign a token");
            AadError::canned(50000, self.client_id, &self.tenant.id)
        })?;
        Ok((token, lifetime))
    }
}

fn default_scope_required(scope: &str) -> AadError {
    AadError::new(
        1002012,
        format!(
            "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
        ),
    )
}

// === The user assertion ===

/// Checks the on-behalf-of assertion as Entra does and returns its user.
fn verify_assertion<'t>(
    inner: &Inner,
    tenant: &'t Tenant,
    assertion: &str,
    client_id: &str,
) -> Result<&'t Person, AadError> {
    let token = jwt::parse(assertion).map_err(|e| AadError::new(50013, format!("Assertion is malformed: {e}.")))?;
    verify_assertion_signature(inner, &token)?;
    check_assertion_lifetime(&token)?;
    let has_scp = token.claim_str("scp").is_some_and(|s| !s.trim().is_empty());
    let has_client = token.claim_str("azp").or(token.claim_str("appid")).is_some();
    if !has_scp && !has_client {
        return Err(AadError::canned(240002, client_id, &tenant.id));
    }
    if !has_scp {
        return Err(AadError::new(
            50013,
            "Assertion is an application token. On-behalf-of requires a user access token with delegated scopes as the assertion.",
        ));
    }
    check_assertion_audience(inner, &token, client_id)?;
    check_assertion_tenant(&token, tenant)?;
    let oid = token.claim_str("oid").unwrap_or_default();
    tenant.user_by_oid(oid).ok_or_else(|| {
        AadError::new(
            50034,
            format!("The user account {oid} does not exist in the {} directory. To sign into this application, the account must be added to the directory.", tenant.id),
        )
    })
}

fn verify_assertion_signature(inner: &Inner, token: &Jwt) -> Result<(), AadError> {
    let kid = token.header_str("kid").unwrap_or_default();
    let published = inner.published_keys();
    let Some(key) = published.iter().find(|k| k.kid == kid) else {
        return Err(AadError::new(
            50013,
            format!(
                "Assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '{kid}']"
            ),
        ));
    };
    if token.verify(&key.decoding, &[Algorithm::RS256]) {
        Ok(())
    } else {
        Err(AadError::new(
            50013,
            "Assertion failed signature validation. [Reason - Key was found, but use of the key to verify the signature failed.]",
        ))
    }
}

fn check_assertion_lifetime(token: &Jwt) -> Result<(), AadError> {
    let now = now();
    let exp = token.claim_time("exp").unwrap_or(0);
    if now >= exp {
        return Err(AadError::new(
            500133,
            format!(
                "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: {}, expiry time of assertion {}.",
                message_time(now),
                message_time(exp)
            ),
        ));
    }
    if let Some(nbf) = token.claim_time("nbf").filter(|nbf| *nbf > now + SKEW_SECS) {
        return Err(AadError::new(
            500133,
            format!(
                "Assertion is not within its valid time range. Current time: {}, the assertion's not-before time is {}.",
                message_time(now),
                message_time(nbf)
            ),
        ));
    }
    Ok(())
}

fn check_assertion_audience(inner: &Inner, token: &Jwt, client_id: &str) -> Result<(), AadError> {
    let app_id_uri = &inner.seed.gateway_app_id_uri;
    let audiences = token.audiences();
    let ours = audiences
        .iter()
        .any(|a| a.eq_ignore_ascii_case(client_id) || a == app_id_uri);
    if ours {
        return Ok(());
    }
    let presented = audiences.first().copied().unwrap_or_default();
    Err(AadError::new(
        50013,
        format!(
            "Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '{presented}' and the expected audience is '{client_id}' or one of the Application Uris of this application with App ID '{client_id}'({}). The downstream client must request a token for the expected audience (the application that made the OBO request) and this application should use that token as the assertion.",
            super::errors::GATEWAY_APP_NAME
        ),
    ))
}

fn check_assertion_tenant(token: &Jwt, tenant: &Tenant) -> Result<(), AadError> {
    let tid = token.claim_str("tid").unwrap_or_default();
    let iss = token.claim_str("iss").unwrap_or_default();
    let issuer_ok = iss == claims::issuer(1, &tenant.id) || iss == claims::issuer(2, &tenant.id);
    if tid.eq_ignore_ascii_case(&tenant.id) && issuer_ok {
        return Ok(());
    }
    Err(AadError::new(
        50013,
        format!(
            "Assertion contains an invalid issuer. The assertion was issued by '{iss}' for tenant '{tid}', but this request is for tenant '{}'.",
            tenant.id
        ),
    ))
}

// === Scopes ===

/// What an on-behalf-of `scope` asks for.
struct Requested {
    /// Graph permissions to put in `scp`, canonical casing.
    granted: Vec<String>,
    offline_access: bool,
}

fn parse_scopes(raw: &str, client_id: &str) -> Result<Requested, AadError> {
    let mut named: Vec<String> = Vec::new();
    let (mut default, mut offline_access) = (false, false);
    for scope in raw.split_whitespace() {
        match classify_scope(scope, client_id)? {
            ScopeKind::Oidc => {}
            ScopeKind::OfflineAccess => offline_access = true,
            ScopeKind::Default => default = true,
            ScopeKind::Permission(p) if !named.iter().any(|n| n == p) => named.push(p.to_owned()),
            ScopeKind::Permission(_) => {}
        }
    }
    if default && !named.is_empty() {
        return Err(AadError::new(
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope '{raw}' is not valid: the .default scope can't be combined with resource-specific scopes."
            ),
        ));
    }
    if !default && named.is_empty() {
        return Err(AadError::new(
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope '{raw}' is not valid: it names no resource permission."
            ),
        ));
    }
    let granted = if default {
        CONSENTED.iter().map(|p| (*p).to_owned()).collect()
    } else {
        named
    };
    Ok(Requested {
        granted,
        offline_access,
    })
}

/// What one requested scope is.
enum ScopeKind {
    Oidc,
    OfflineAccess,
    Default,
    /// A consented Graph permission, canonical casing.
    Permission(&'static str),
}

/// Classifies one scope; unknown scopes are AADSTS70011, unconsented ones AADSTS65001.
fn classify_scope(scope: &str, client_id: &str) -> Result<ScopeKind, AadError> {
    match scope.to_ascii_lowercase().as_str() {
        "openid" | "profile" | "email" => return Ok(ScopeKind::Oidc),
        "offline_access" => return Ok(ScopeKind::OfflineAccess),
        _ => {}
    }
    let name = graph_permission(scope).ok_or_else(|| invalid_scope(scope))?;
    if name == ".default" {
        return Ok(ScopeKind::Default);
    }
    if let Some(p) = CONSENTED.iter().find(|p| p.eq_ignore_ascii_case(name)) {
        return Ok(ScopeKind::Permission(p));
    }
    if NOT_CONSENTED.iter().any(|p| p.eq_ignore_ascii_case(name)) {
        return Err(AadError::canned(65001, client_id, ""));
    }
    Err(invalid_scope(scope))
}

/// The Graph permission a scope names (bare names default to Graph), or `None` for
/// another resource.
fn graph_permission(scope: &str) -> Option<&str> {
    for prefix in ["https://graph.microsoft.com/", "00000003-0000-0000-c000-000000000000/"] {
        let head = scope.get(..prefix.len());
        if head.is_some_and(|h| h.eq_ignore_ascii_case(prefix)) && scope.len() > prefix.len() {
            return scope.get(prefix.len()..);
        }
    }
    (!scope.contains('/') && !scope.contains(':')).then_some(scope)
}

fn invalid_scope(scope: &str) -> AadError {
    AadError::new(
        70011,
        format!("The provided value for the input parameter 'scope' is not valid. The scope '{scope}' does not exist."),
    )
}
