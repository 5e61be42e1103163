//! AADSTS errors and the exact JSON shape, status and headers Entra answers them with.

use axum::{
    Json,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use time::{OffsetDateTime, macros::format_description};

/// Display name of the gateway's app registration, as Entra quotes it in messages.
pub(super) const GATEWAY_APP_NAME: &str = "naa-gateway";

/// The Conditional Access policy id carried in simulated claims challenges.
const CA_POLICY_ID: &str = "9ab03e19-ed42-4168-b6b7-7001fb3e933a";

/// Seconds a throttled or unavailable answer asks the client to wait.
const RETRY_AFTER_SECS: u32 = 5;

/// An AADSTS error the token endpoint (or discovery) answers with.
#[derive(Debug, Clone, thiserror::Error)]
#[error("AADSTS{code}: {message}")]
pub(super) struct AadError {
    pub code: u32,
    /// The text after `AADSTSnnnnn: `, without the trace/correlation suffix.
    pub message: String,
    /// A claims challenge (JSON string) for interaction-required answers.
    pub claims: Option<String>,
}

/// Identifiers of one answer.
pub(super) struct Trace {
    pub trace_id: String,
    pub correlation_id: String,
    /// The caller's `client-request-id`.
    pub client_request_id: Option<String>,
    /// Whether the caller asked for `client-request-id` back (`return-client-request-id: true`).
    pub return_client_request_id: bool,
}

/// HTTP status, OAuth `error` and `suberror` Entra uses for a code.
struct Shape {
    status: StatusCode,
    error: &'static str,
    suberror: Option<&'static str>,
    retry_after: bool,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: String,
    error_codes: [u32; 1],
    timestamp: &'a str,
    trace_id: &'a str,
    correlation_id: &'a str,
    error_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    suberror: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    claims: Option<&'a str>,
}

impl AadError {
    pub fn new(code: u32, message: impl Into<String>) -> AadError {
        let claims = interaction_code(code).then(claims_challenge);
        AadError {
            code,
            message: message.into(),
            claims,
        }
    }

    /// AADSTS900144: a required form parameter is missing.
    pub fn missing(parameter: &str) -> AadError {
        AadError::new(
            900144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    /// AADSTS9002313: the request is malformed (with a hint naming what).
    pub fn malformed(detail: &str) -> AadError {
        AadError::new(
            9002313,
            format!("Invalid request. Request is malformed or invalid. {detail}"),
        )
    }

    /// The message Entra gives for `code`, used when a test scripts a failure.
    pub fn canned(code: u32, client_id: &str, tenant: &str) -> AadError {
        AadError::new(code, canned_message(code, client_id, tenant))
    }

    /// The HTTP answer, in Entra's exact shape.
    pub fn to_response(&self, trace: &Trace) -> Response {
        let shape = shape(self.code);
        let timestamp = entra_timestamp(OffsetDateTime::now_utc());
        let body = ErrorBody {
            error: shape.error,
            error_description: format!(
                "AADSTS{}: {} Trace ID: {} Correlation ID: {} Timestamp: {}",
                self.code, self.message, trace.trace_id, trace.correlation_id, timestamp
            ),
            error_codes: [self.code],
            timestamp: &timestamp,
            trace_id: &trace.trace_id,
            correlation_id: &trace.correlation_id,
            error_uri: format!("https://login.microsoftonline.com/error?code={}", self.code),
            suberror: shape.suberror,
            claims: self.claims.as_deref(),
        };
        let mut headers = response_headers(trace);
        if shape.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        (shape.status, headers, Json(body)).into_response()
    }
}

/// Headers Entra puts on every token-endpoint answer.
pub(super) fn response_headers(trace: &Trace) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&trace.trace_id) {
        headers.insert(HeaderName::from_static("x-ms-request-id"), v);
    }
    let echoed = trace
        .client_request_id
        .as_deref()
        .filter(|_| trace.return_client_request_id)
        .and_then(|id| HeaderValue::from_str(id).ok());
    if let Some(v) = echoed {
        headers.insert(HeaderName::from_static("client-request-id"), v);
    }
    headers
}

/// `2024-01-09 02:02:12Z`, the format of Entra's `timestamp`.
pub(super) fn entra_timestamp(at: OffsetDateTime) -> String {
    at.format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z"))
        .unwrap_or_default()
}

/// `2024-01-09T02:02:12.0000000Z`, the format of times inside AADSTS messages.
pub(super) fn message_time(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

fn interaction_code(code: u32) -> bool {
    matches!(code, 50076 | 50079 | 50074 | 50078)
}

fn claims_challenge() -> String {
    serde_json::json!({
        "access_token": {"capolids": {"essential": true, "values": [CA_POLICY_ID]}}
    })
    .to_string()
}

fn shape(code: u32) -> Shape {
    let (status, error, suberror, retry_after) = match code {
        7000215 | 7000222 | 7000218 | 700027 | 700024 | 700021 | 700023 | 700211 | 700212 | 700213 => {
            (StatusCode::UNAUTHORIZED, "invalid_client", None, false)
        }
        700016 | 7000114 => (StatusCode::BAD_REQUEST, "unauthorized_client", None, false),
        65001 => (
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            Some("consent_required"),
            false,
        ),
        53003 => (StatusCode::BAD_REQUEST, "invalid_grant", Some("message_only"), false),
        50173 | 70043 => (StatusCode::BAD_REQUEST, "invalid_grant", Some("bad_token"), false),
        500133 | 50013 | 240002 | 50034 | 65004 | 50058 => (StatusCode::BAD_REQUEST, "invalid_grant", None, false),
        c if interaction_code(c) => (StatusCode::BAD_REQUEST, "interaction_required", None, false),
        70011 | 1002012 | 28000 => (StatusCode::BAD_REQUEST, "invalid_scope", None, false),
        500011 => (StatusCode::BAD_REQUEST, "invalid_resource", None, false),
        70003 => (StatusCode::BAD_REQUEST, "unsupported_grant_type", None, false),
        90055 | 50196 => (StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable", None, true),
        90033 | 50000 | 90006 => (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", None, true),
        _ => (StatusCode::BAD_REQUEST, "invalid_request", None, false),
    };
    Shape {
        status,
        error,
        suberror,
        retry_after,
    }
}

fn canned_message(code: u32, client_id: &str, tenant: &str) -> String {
    let app = GATEWAY_APP_NAME;
    match code {
        65001 => format!(
            "The user or administrator has not consented to use the application with ID '{client_id}' named '{app}'. Send an interactive authorization request for this user and resource."
        ),
        500133 => "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token.".into(),
        50013 => "Assertion failed signature validation. [Reason - The key was not found.]".into(),
        240002 => "Input id_token cannot be used as 'urn:ietf:params:oauth:grant-type:jwt-bearer' grant.".into(),
        7000215 => format!(
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
        ),
        7000222 => format!(
            "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
        ),
        7000218 => "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".into(),
        700027 => "Client assertion failed signature validation.".into(),
        700024 => "Client assertion is not within its valid time range.".into(),
        700016 => format!(
            "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
        ),
        50076 => "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access 'https://graph.microsoft.com'.".into(),
        50079 => "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access 'https://graph.microsoft.com'.".into(),
        50074 => "Strong Authentication is required.".into(),
        50078 => "Presented multi-factor authentication has expired due to policies configured by your administrator, you must refresh your multi-factor authentication to access 'https://graph.microsoft.com'.".into(),
        53003 => "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.".into(),
        50173 => "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.".into(),
        70011 => "The provided value for the input parameter 'scope' is not valid.".into(),
        90055 => "The tenant is being throttled due to too many requests. Please retry after some time.".into(),
        50196 => "The server terminated an operation because it encountered a client request loop. Please contact your app vendor.".into(),
        90033 => "A transient error has occurred. Please try again.".into(),
        50000 => "There was an error issuing a token or an issue with our sign-in service.".into(),
        500011 => format!(
            "The resource principal named https://graph.microsoft.com was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
        ),
        7000114 => format!("Application '{client_id}' is not allowed to make application on-behalf-of calls."),
        _ => "The request could not be completed.".into(),
    }
}
