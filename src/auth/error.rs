//! Why a request was not authenticated, and how that is said on the wire (RFC 6750).
//!
//! Every refusal of a token is a 401 with `WWW-Authenticate: Bearer error="invalid_token"` and a
//! human `error_description`; a request without a bearer token gets a bare `Bearer` challenge
//! (RFC 6750 §3.1: no error code when no credentials were sent). When no signing keys can be had
//! for the caller's tenant the answer is 503 with `Retry-After`: the token may be fine, so telling
//! the add-in to sign the user in again would be wrong.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

/// Longest `error_description` sent, so an attacker-chosen value cannot bloat the header.
const MAX_DESCRIPTION_LEN: usize = 200;

/// Stable, bounded reason of a 401, used as the `reason` label of `inbound_token_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// No `Authorization: Bearer` header.
    MissingToken,
    /// Not a well-formed JWS compact token, or a required claim is missing or mistyped.
    Malformed,
    /// The header asks for anything but RS256 (`none`, HS256, ES256…).
    UnsupportedAlgorithm,
    /// `tid` is not a GUID or not an allowed tenant.
    TenantNotAllowed,
    /// `iss` (or `ver`, or the signing key's issuer) does not match the token's tenant.
    WrongIssuer,
    /// `aud` is not one of the accepted audiences (a Graph token, typically).
    WrongAudience,
    /// `exp` (plus skew) has passed.
    Expired,
    /// `nbf` (minus skew) is still ahead.
    NotYetValid,
    /// An ID token was sent instead of an access token.
    IdToken,
    /// An app-only token, while only user tokens are accepted.
    AppOnly,
    /// `scp` lacks the required delegated scope.
    MissingScope,
    /// The calling application (`azp`/`appid`) is not in the allow-list.
    ClientNotAllowed,
    /// No signing key with the token's `kid`, even after a refresh.
    UnknownKey,
    /// The signature does not verify with the key named by `kid`.
    BadSignature,
}

impl RejectReason {
    /// The snake_case label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::MissingToken => "missing_token",
            RejectReason::Malformed => "malformed",
            RejectReason::UnsupportedAlgorithm => "unsupported_algorithm",
            RejectReason::TenantNotAllowed => "tenant_not_allowed",
            RejectReason::WrongIssuer => "wrong_issuer",
            RejectReason::WrongAudience => "wrong_audience",
            RejectReason::Expired => "expired",
            RejectReason::NotYetValid => "not_yet_valid",
            RejectReason::IdToken => "id_token",
            RejectReason::AppOnly => "app_only",
            RejectReason::MissingScope => "missing_scope",
            RejectReason::ClientNotAllowed => "client_not_allowed",
            RejectReason::UnknownKey => "unknown_key",
            RejectReason::BadSignature => "bad_signature",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token (or its absence) is not acceptable: 401.
    #[error("{description}")]
    Rejected {
        /// Bounded reason, for metrics and tests.
        reason: RejectReason,
        /// Human explanation sent as `error_description` (never contains the token).
        description: String,
    },
    /// No signing keys could be loaded for the tenant: 503 with `Retry-After`.
    #[error("signing keys for tenant {tenant_id} are unavailable")]
    KeysUnavailable {
        /// The caller's tenant (already checked to be an allowed GUID).
        tenant_id: String,
        /// Seconds the caller should wait before retrying.
        retry_after_secs: u64,
    },
}

// === impl AuthError ===

impl AuthError {
    /// A 401 refusal with `reason` and `description`.
    pub fn rejected(reason: RejectReason, description: impl Into<String>) -> AuthError {
        AuthError::Rejected {
            reason,
            description: description.into(),
        }
    }

    /// The 401 for a request without a bearer token.
    pub fn missing_token() -> AuthError {
        AuthError::rejected(RejectReason::MissingToken, "missing bearer token")
    }

    /// A 401 for a token that cannot be parsed; `what` says which part is wrong.
    pub fn malformed(what: impl std::fmt::Display) -> AuthError {
        AuthError::rejected(RejectReason::Malformed, format!("malformed token: {what}"))
    }

    /// The 401 reason, or `None` for the 503.
    pub fn reject_reason(&self) -> Option<RejectReason> {
        match self {
            AuthError::Rejected { reason, .. } => Some(*reason),
            AuthError::KeysUnavailable { .. } => None,
        }
    }

    /// Metric label: the reject reason, or `keys_unavailable`.
    pub fn reason(&self) -> &'static str {
        self.reject_reason().map_or("keys_unavailable", RejectReason::as_str)
    }

    /// HTTP status: 401, or 503 when keys are unavailable.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::Rejected { .. } => StatusCode::UNAUTHORIZED,
            AuthError::KeysUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `WWW-Authenticate` challenge of a 401 (`None` for the 503).
    pub fn www_authenticate(&self) -> Option<String> {
        match self {
            AuthError::Rejected {
                reason: RejectReason::MissingToken,
                ..
            } => Some("Bearer".to_string()),
            AuthError::Rejected { description, .. } => Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                quoted_string_content(description)
            )),
            AuthError::KeysUnavailable { .. } => None,
        }
    }

    /// `Retry-After` seconds of the 503.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AuthError::KeysUnavailable { retry_after_secs, .. } => Some(*retry_after_secs),
            AuthError::Rejected { .. } => None,
        }
    }

    /// The OAuth error code of the JSON body.
    pub fn error_code(&self) -> &'static str {
        match self {
            AuthError::Rejected { .. } => "invalid_token",
            AuthError::KeysUnavailable { .. } => "temporarily_unavailable",
        }
    }

    /// The human description of the JSON body.
    pub fn description(&self) -> String {
        match self {
            AuthError::Rejected { description, .. } => sanitize(description),
            AuthError::KeysUnavailable { .. } => format!("{self}; retry later"),
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.error_code(), "error_description": self.description() });
        let mut response = (self.status(), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(challenge) = self.www_authenticate().and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(secs) = self.retry_after_secs() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Printable ASCII only, bounded: descriptions may quote attacker-chosen values (an `alg`).
fn sanitize(s: &str) -> String {
    s.chars()
        .take(MAX_DESCRIPTION_LEN)
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect()
}

/// Content of an RFC 7230 quoted-string: `"` and `\` escaped with a backslash.
fn quoted_string_content(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in sanitize(s).chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
