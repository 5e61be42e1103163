//! What a failed on-behalf-of exchange means for the caller, and how it is answered over HTTP.
//!
//! Entra ID's answers are mapped by `error` first and AADSTS number second (protocols.md
//! §4.5–4.6: the numbers and texts change over time, so they only refine the OAuth error).

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Map, Value, json};

use crate::{
    error::Source,
    idp::{CredentialKind, EntraError, IdpError},
};

/// Seconds a caller is told to wait when Entra ID gave no `Retry-After`.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 5;

/// Longest `Retry-After` passed on; a larger value from upstream is more likely a glitch than advice.
const MAX_RETRY_AFTER_SECS: u64 = 300;

/// What the caller is told when the gateway's own credential fails; details go to the log.
const CREDENTIAL_MESSAGE: &str =
    "Entra ID rejected the gateway's client credential; the gateway's administrator must fix its configuration";

/// Claims-challenge answers: the user must act (multi-factor, password change, sign-in again).
const INTERACTION_CODES: &[u64] = &[50055, 50058, 50072, 50074, 50076, 50078, 50079, 50158, 50173, 70043];
/// MSAL's interaction-required sub-errors (consent_required is handled as consent).
const INTERACTION_SUBERRORS: &[&str] = &[
    "message_only",
    "additional_action",
    "basic_action",
    "user_password_expired",
    "bad_token",
];
/// Consent or provisioning missing in the caller's tenant.
const CONSENT_CODES: &[u64] = &[65001, 65004, 700016, 500011];
/// The caller's token cannot serve as the assertion (expired, malformed, an ID token).
const ASSERTION_CODES: &[u64] = &[500133, 50013, 240002];
/// The gateway's own client credential was rejected.
const CREDENTIAL_CODES: &[u64] = &[7000215, 7000222, 700027, 700024, 7000218, 700211, 700212, 700213];
/// Conditional Access denies outright; no interaction can help.
const BLOCKED_CODES: &[u64] = &[53000, 53001, 53002, 53003];
/// Entra ID asks the gateway to slow down.
const THROTTLE_CODES: &[u64] = &[90055, 50196];

/// Why no Graph token could be had. Cloned to every request that waited on the same exchange.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OboError {
    /// The user must sign in interactively, possibly answering a claims challenge: 401.
    #[error("{}", .context.message)]
    InteractionRequired {
        /// The claims challenge JSON to pass to MSAL `acquireTokenPopup({claims})`.
        claims: Option<String>,
        /// Common details.
        context: Box<ErrorContext>,
    },
    /// The tenant has not consented to the gateway's Graph permissions: 403.
    #[error("{}", .context.message)]
    ConsentRequired {
        /// Where a tenant administrator grants consent.
        admin_consent_url: String,
        /// Common details.
        context: Box<ErrorContext>,
    },
    /// Conditional Access blocks the user or device; only the tenant can change that: 403.
    #[error("{}", .context.message)]
    AccessBlocked {
        /// Common details.
        context: Box<ErrorContext>,
    },
    /// The caller's token cannot be exchanged (expired, malformed, wrong kind): 401.
    #[error("{}", .context.message)]
    InvalidAssertion {
        /// Common details.
        context: Box<ErrorContext>,
    },
    /// The gateway's client credential is wrong or expired: 502, an operator must act.
    #[error("{}", .context.message)]
    ClientCredential {
        /// The configuration key to fix.
        config_key: &'static str,
        /// What the operator must fix (logged, not sent to the caller).
        problem: String,
        /// Common details.
        context: Box<ErrorContext>,
    },
    /// Entra ID is throttling, failing or unreachable: 503 with `Retry-After`.
    #[error("{}", .context.message)]
    Unavailable {
        /// Seconds to wait before retrying.
        retry_after_secs: u64,
        /// Common details.
        context: Box<ErrorContext>,
    },
    /// Any other refusal or malformed answer: 502.
    #[error("{}", .context.message)]
    Upstream {
        /// Common details.
        context: Box<ErrorContext>,
    },
}

/// What every failure carries for the caller and for an administrator looking it up.
#[derive(Debug, Clone)]
pub struct ErrorContext {
    /// The caller's tenant.
    pub tenant: String,
    /// Human-readable explanation (no secrets).
    pub message: String,
    /// The `client-request-id` sent to Entra ID.
    pub client_request_id: String,
    /// Entra ID's error body, when it answered with one.
    pub entra: Option<EntraError>,
}

/// What the mapping needs to know about the exchange that failed.
pub(crate) struct Exchange<'a> {
    pub(crate) tenant: &'a str,
    pub(crate) client_request_id: &'a str,
    pub(crate) authority: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) scopes: &'a [String],
    pub(crate) credential: CredentialKind,
}

// === impl OboError ===

impl OboError {
    /// Stable code for response bodies.
    pub fn code(&self) -> &'static str {
        match self {
            OboError::InteractionRequired { .. } => "interaction_required",
            OboError::ConsentRequired { .. } => "consent_required",
            OboError::AccessBlocked { .. } => "access_blocked",
            OboError::InvalidAssertion { .. } => "invalid_assertion",
            OboError::ClientCredential { .. } => "client_credential",
            OboError::Unavailable { .. } => "idp_unavailable",
            OboError::Upstream { .. } => "obo_failed",
        }
    }

    /// Label of the `obo_exchanges_total` counter.
    pub fn outcome(&self) -> &'static str {
        match self {
            OboError::InteractionRequired { .. } => "interaction_required",
            OboError::ConsentRequired { .. } => "consent_required",
            OboError::InvalidAssertion { .. } => "invalid_assertion",
            OboError::ClientCredential { .. } => "client_credential",
            OboError::Unavailable { .. } => "unavailable",
            OboError::AccessBlocked { .. } | OboError::Upstream { .. } => "other",
        }
    }

    /// HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            OboError::InteractionRequired { .. } | OboError::InvalidAssertion { .. } => StatusCode::UNAUTHORIZED,
            OboError::ConsentRequired { .. } | OboError::AccessBlocked { .. } => StatusCode::FORBIDDEN,
            OboError::ClientCredential { .. } | OboError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            OboError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Who is at fault: the caller (4xx) or an upstream (5xx).
    pub fn fault(&self) -> Source {
        match self.status().is_client_error() {
            true => Source::Downstream,
            false => Source::Upstream,
        }
    }

    /// The details shared by every variant.
    pub fn context(&self) -> &ErrorContext {
        match self {
            OboError::InteractionRequired { context, .. }
            | OboError::ConsentRequired { context, .. }
            | OboError::AccessBlocked { context }
            | OboError::InvalidAssertion { context }
            | OboError::ClientCredential { context, .. }
            | OboError::Unavailable { context, .. }
            | OboError::Upstream { context } => context,
        }
    }

    /// The `WWW-Authenticate` value for 401 answers.
    pub fn www_authenticate(&self) -> Option<String> {
        let description = quoted(&self.context().message);
        match self {
            OboError::InteractionRequired {
                claims: Some(claims), ..
            } => Some(format!(
                "Bearer error=\"insufficient_claims\", error_description=\"{description}\", claims=\"{}\"",
                STANDARD.encode(claims)
            )),
            OboError::InteractionRequired { claims: None, .. } => Some(format!(
                "Bearer error=\"insufficient_claims\", error_description=\"{description}\""
            )),
            OboError::InvalidAssertion { .. } => Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"{description}\""
            )),
            _ => None,
        }
    }

    /// The JSON body: our code and message plus Entra's identifiers for the sign-in logs.
    pub fn body(&self) -> Value {
        let context = self.context();
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code()));
        error.insert("message".into(), json!(context.message));
        error.insert("tenant".into(), json!(context.tenant));
        error.insert("client_request_id".into(), json!(context.client_request_id));
        match self {
            OboError::ConsentRequired { admin_consent_url, .. } => {
                error.insert("admin_consent_url".into(), json!(admin_consent_url));
            }
            OboError::InteractionRequired {
                claims: Some(claims), ..
            } => {
                error.insert("claims".into(), json!(claims));
            }
            OboError::Unavailable { retry_after_secs, .. } => {
                error.insert("retry_after_secs".into(), json!(retry_after_secs));
            }
            _ => {}
        }
        if let Some(entra) = &context.entra {
            error.insert("entra".into(), entra_json(entra));
        }
        json!({ "error": error })
    }

    /// Logs the failure once, at a level matching who must act.
    pub(crate) fn log(&self) {
        let c = self.context();
        let (codes, trace_id, correlation_id) = match &c.entra {
            Some(e) => (
                format!("{:?}", e.error_codes),
                e.trace_id.as_deref(),
                e.correlation_id.as_deref(),
            ),
            None => (String::new(), None, None),
        };
        match self {
            OboError::ClientCredential {
                config_key, problem, ..
            } => tracing::error!(
                tenant = %c.tenant, config_key, client_request_id = %c.client_request_id,
                error_codes = %codes, trace_id, correlation_id, "{problem}"
            ),
            OboError::Unavailable { .. } | OboError::Upstream { .. } => tracing::warn!(
                tenant = %c.tenant, client_request_id = %c.client_request_id,
                error_codes = %codes, trace_id, correlation_id, "{}", c.message
            ),
            _ => tracing::info!(
                tenant = %c.tenant, code = self.code(), client_request_id = %c.client_request_id,
                error_codes = %codes, trace_id, correlation_id, "{}", c.message
            ),
        }
    }
}

impl IntoResponse for OboError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        let headers = response.headers_mut();
        if let Some(value) = self.www_authenticate().and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let OboError::Unavailable { retry_after_secs, .. } = &self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        response
    }
}

fn entra_json(entra: &EntraError) -> Value {
    let mut map = Map::new();
    map.insert("error".into(), json!(entra.error));
    map.insert("error_codes".into(), json!(entra.error_codes));
    let optional = [
        ("error_description", &entra.error_description),
        ("suberror", &entra.suberror),
        ("timestamp", &entra.timestamp),
        ("trace_id", &entra.trace_id),
        ("correlation_id", &entra.correlation_id),
        ("error_uri", &entra.error_uri),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            map.insert(name.into(), json!(value));
        }
    }
    Value::Object(map)
}

/// Makes `text` safe inside a quoted-string of a header (no quotes, backslashes or line breaks).
fn quoted(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            c if c.is_control() || !c.is_ascii() => ' ',
            c => c,
        })
        .collect()
}

// === classification ===

/// Maps what the token endpoint said to what the caller can act on.
pub(crate) fn classify(error: IdpError, exchange: &Exchange<'_>) -> OboError {
    let context = |message: String, entra: Option<EntraError>| {
        Box::new(ErrorContext {
            tenant: exchange.tenant.to_string(),
            message,
            client_request_id: exchange.client_request_id.to_string(),
            entra,
        })
    };
    match error {
        IdpError::Entra {
            status,
            retry_after,
            body,
        } => classify_entra(status, retry_after, *body, exchange),
        IdpError::InvalidTenant(tenant) => OboError::InvalidAssertion {
            context: context(format!("the token's tenant id {tenant:?} is not a tenant GUID"), None),
        },
        IdpError::Credential { config_key, detail } => OboError::ClientCredential {
            config_key,
            problem: format!("{config_key}: {detail}"),
            context: context(CREDENTIAL_MESSAGE.to_string(), None),
        },
        e @ (IdpError::Timeout(_) | IdpError::Network(_)) => unavailable(None, context(e.to_string(), None)),
        IdpError::UnexpectedStatus {
            status,
            retry_after,
            detail,
        } if status == 429 || status >= 500 => unavailable(
            retry_after,
            context(format!("the token endpoint answered HTTP {status}: {detail}"), None),
        ),
        e @ (IdpError::UnexpectedStatus { .. } | IdpError::InvalidResponse(_)) => OboError::Upstream {
            context: context(e.to_string(), None),
        },
    }
}

/// What an Entra ID error body means, decided by `error` first and AADSTS numbers second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    ClaimsChallenge,
    Consent,
    Interaction,
    Assertion,
    Credential,
    Blocked,
    Unavailable,
    Other,
}

fn meaning(status: u16, entra: &EntraError) -> Meaning {
    let error = entra.error.as_str();
    let suberror = entra.suberror.as_deref().unwrap_or("");
    if entra.claims.as_deref().is_some_and(|c| !c.trim().is_empty()) {
        Meaning::ClaimsChallenge
    } else if error == "consent_required" || suberror == "consent_required" || entra.has_code(CONSENT_CODES) {
        Meaning::Consent
    } else if matches!(error, "interaction_required" | "login_required")
        || entra.has_code(INTERACTION_CODES)
        || INTERACTION_SUBERRORS.contains(&suberror)
    {
        Meaning::Interaction
    } else if entra.has_code(ASSERTION_CODES) {
        Meaning::Assertion
    } else if error == "invalid_client" || entra.has_code(CREDENTIAL_CODES) {
        Meaning::Credential
    } else if entra.has_code(BLOCKED_CODES) {
        Meaning::Blocked
    } else if status == 429 || status >= 500 || error == "temporarily_unavailable" || entra.has_code(THROTTLE_CODES) {
        Meaning::Unavailable
    } else {
        Meaning::Other
    }
}

fn classify_entra(status: u16, retry_after: Option<u64>, entra: EntraError, ex: &Exchange<'_>) -> OboError {
    let label = entra.label();
    let meaning = meaning(status, &entra);
    let message = match meaning {
        Meaning::ClaimsChallenge => {
            format!("the user must satisfy a claims challenge by signing in interactively ({label})")
        }
        Meaning::Consent => consent_message(ex.tenant, &entra, &label),
        Meaning::Interaction => {
            format!("the user must sign in interactively before the gateway can act for them ({label})")
        }
        Meaning::Assertion => assertion_message(&entra, &label),
        Meaning::Credential => format!("{CREDENTIAL_MESSAGE} ({label})"),
        Meaning::Blocked => {
            format!(
                "Conditional Access in tenant {} blocks this sign-in ({label})",
                ex.tenant
            )
        }
        Meaning::Unavailable => format!(
            "Entra ID is temporarily unavailable (HTTP {status}, {}: {label})",
            entra.error
        ),
        Meaning::Other => {
            format!("Entra ID refused the on-behalf-of exchange: {}", first_line(&entra))
        }
    };
    let claims = entra.claims.clone();
    let problem = credential_problem(ex.credential, &entra);
    let context = Box::new(ErrorContext {
        tenant: ex.tenant.to_string(),
        message,
        client_request_id: ex.client_request_id.to_string(),
        entra: Some(entra),
    });
    match meaning {
        Meaning::ClaimsChallenge => OboError::InteractionRequired { claims, context },
        Meaning::Interaction => OboError::InteractionRequired { claims: None, context },
        Meaning::Consent => OboError::ConsentRequired {
            admin_consent_url: admin_consent_url(ex.authority, ex.tenant, ex.client_id, ex.scopes),
            context,
        },
        Meaning::Assertion => OboError::InvalidAssertion { context },
        Meaning::Credential => OboError::ClientCredential {
            config_key: ex.credential.config_key(),
            problem,
            context,
        },
        Meaning::Blocked => OboError::AccessBlocked { context },
        Meaning::Unavailable => unavailable(retry_after, context),
        Meaning::Other => OboError::Upstream { context },
    }
}

fn unavailable(retry_after: Option<u64>, context: Box<ErrorContext>) -> OboError {
    let retry_after_secs = retry_after
        .unwrap_or(DEFAULT_RETRY_AFTER_SECS)
        .clamp(1, MAX_RETRY_AFTER_SECS);
    OboError::Unavailable {
        retry_after_secs,
        context,
    }
}

/// `{authority}/{tid}/v2.0/adminconsent?client_id=…&scope=…`, without `redirect_uri`, so Entra
/// ID returns the administrator to the redirect URI registered on the app.
/// The URL a tenant administrator opens to consent to the gateway's Graph permissions
/// (`{authority}/{tenant}/v2.0/adminconsent?client_id=…&scope=…`). Used by the runtime
/// consent answer and by `naa-gateway app-registration`/`doctor`, so both give the same link.
pub fn admin_consent_url(authority: &str, tenant: &str, client_id: &str, scopes: &[String]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("scope", &scopes.join(" "))
        .finish();
    format!("{}/{tenant}/v2.0/adminconsent?{query}", authority.trim_end_matches('/'))
}

fn consent_message(tenant: &str, entra: &EntraError, label: &str) -> String {
    if entra.has_code(&[65004]) {
        return format!("the user declined consent for the gateway ({label}); a tenant administrator can grant it");
    }
    if entra.has_code(&[700016]) {
        return format!(
            "the gateway's application is not provisioned in tenant {tenant} ({label}); a tenant \
             administrator must consent (or entra.client_id is wrong)"
        );
    }
    format!(
        "tenant {tenant} has not consented to the gateway's Microsoft Graph permissions ({label}); a tenant \
         administrator must open admin_consent_url"
    )
}

fn assertion_message(entra: &EntraError, label: &str) -> String {
    if entra.has_code(&[500133]) {
        format!("the access token has expired; acquire a new one ({label})")
    } else if entra.has_code(&[240002]) {
        format!("an ID token was sent instead of an access token ({label})")
    } else {
        format!("Entra ID does not accept the access token as an on-behalf-of assertion ({label})")
    }
}

/// The operator-facing problem, naming the configuration key (never its value).
fn credential_problem(kind: CredentialKind, entra: &EntraError) -> String {
    let key = kind.config_key();
    let label = entra.label();
    let code = entra.error_codes.first().copied().unwrap_or(0);
    match code {
        7000215 => format!("{key} is wrong ({label}): use the secret's value, not its id"),
        7000222 => format!("{key} has expired ({label}): create a new client secret and update {key}"),
        700027 => format!(
            "entra.credential.certificate_file / {key}: the certificate is not registered on the app \
             registration or the key does not match it ({label})"
        ),
        700024 => {
            format!("the client assertion is outside its valid time range ({label}): check the gateway host's clock")
        }
        700211..=700213 => format!(
            "{key}: no federated identity credential on the app registration matches the token's \
             issuer, subject or audience ({label})"
        ),
        7000218 => format!("{key}: the request carried no client credential ({label})"),
        _ => format!("{key} is wrong or expired ({label})"),
    }
}

/// Entra's description up to its first line break (the rest is trace and correlation ids).
fn first_line(entra: &EntraError) -> String {
    match entra.error_description.as_deref().and_then(|d| d.lines().next()) {
        Some(line) if !line.trim().is_empty() => format!("{}: {}", entra.error, line.trim()),
        _ => format!("{} ({})", entra.error, entra.label()),
    }
}
