//! Every REST v2.0 failure in Outlook's error shape: `{"error":{"code","message"}}` with
//! Outlook's codes, plus the headers a client acts on (`WWW-Authenticate`, `Retry-After`).

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{calls::Failure, path::PathError};
use crate::{auth::AuthError, graph::GraphError, policy::Action};

/// Outlook's answer to a denied request.
pub(crate) const ACCESS_DENIED: &str = "Access is denied. Check credentials and try again.";

/// A REST error answer.
pub(crate) fn rest_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}

/// The answer to a refused token: status and challenge kept, body in REST's shape.
pub(crate) fn auth_error(error: AuthError) -> Response {
    let code = match error.status() {
        StatusCode::UNAUTHORIZED => "InvalidAuthenticationToken",
        _ => "ErrorServerBusy",
    };
    let mut response = rest_error(error.status(), code, &error.description());
    let headers = response.headers_mut();
    if let Some(challenge) = error.www_authenticate().and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::WWW_AUTHENTICATE, challenge);
    }
    if let Some(secs) = error.retry_after_secs() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The answer to a path the gateway does not serve or whose id is malformed.
pub(crate) fn path_error(error: &PathError) -> Response {
    match error {
        PathError::UnknownSegment(_) => rest_error(StatusCode::NOT_FOUND, "ErrorInvalidUrl", &error.to_string()),
        PathError::Id(_) => rest_error(StatusCode::BAD_REQUEST, "ErrorInvalidIdMalformed", "Id is malformed."),
    }
}

/// The answer to a policy denial.
pub(crate) fn denied(action: Action) -> Response {
    let message = format!("{ACCESS_DENIED} The gateway's policy does not allow {action:?} here.");
    rest_error(StatusCode::FORBIDDEN, "ErrorAccessDenied", &message)
}

/// The answer to a failed operation.
pub(crate) async fn failure(failure: Failure, request_id: &str) -> Response {
    match failure {
        // Already `{"error":{"code","message",…}}`, with the claims challenge and consent URL
        // the add-in needs and its `WWW-Authenticate`/`Retry-After`.
        Failure::Obo(e) => e.into_response(),
        Failure::Denied(action) => denied(action),
        Failure::BadRequest { code, message } => rest_error(StatusCode::BAD_REQUEST, code, &message),
        Failure::Graph(e) => no_answer(&e, request_id),
        Failure::Upstream(response) => upstream(*response).await,
        // 429 with `Retry-After` and `{"error":{"code":"TooManyRequests","message"}}`.
        Failure::RateLimited(limited) => limited.graph_response(),
    }
}

fn no_answer(error: &GraphError, request_id: &str) -> Response {
    tracing::warn!(client_request_id = %request_id, error = %error, kind = error.label(), "Graph call failed");
    match error.status_hint() {
        StatusCode::GATEWAY_TIMEOUT => rest_error(
            StatusCode::GATEWAY_TIMEOUT,
            "ErrorTimeoutExpired",
            "The mailbox did not answer in time.",
        ),
        StatusCode::FORBIDDEN => rest_error(StatusCode::FORBIDDEN, "ErrorAccessDenied", ACCESS_DENIED),
        _ => rest_error(
            StatusCode::BAD_GATEWAY,
            "ErrorInternalServerTransientError",
            "The mailbox could not be reached.",
        ),
    }
}

/// Graph's error answer with its code and message, without Graph's `innerError`.
async fn upstream(response: crate::graph::GraphResponse) -> Response {
    let status = response.status;
    let retry_after = response.headers.get(header::RETRY_AFTER).cloned();
    let graph_code = match response.error_for_status().await {
        Err(GraphError::Status { code, message, .. }) => (code, message),
        _ => (None, None),
    };
    let code = graph_code.0.unwrap_or_else(|| default_code(status).to_owned());
    let message = graph_code
        .1
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_owned());
    let mut out = rest_error(status, &code, &message);
    if let Some(value) = retry_after {
        out.headers_mut().insert(header::RETRY_AFTER, value);
    }
    out
}

fn default_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "ErrorItemNotFound",
        StatusCode::FORBIDDEN => "ErrorAccessDenied",
        StatusCode::TOO_MANY_REQUESTS => "ApplicationThrottled",
        StatusCode::PRECONDITION_FAILED => "ErrorIrresolvableConflict",
        s if s.is_server_error() => "ErrorInternalServerError",
        _ => "ErrorInvalidRequest",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn errors_have_outlooks_shape_and_nothing_else() {
        let json = body(rest_error(StatusCode::NOT_FOUND, "ErrorItemNotFound", "gone")).await;
        assert_eq!(
            json,
            serde_json::json!({"error": {"code": "ErrorItemNotFound", "message": "gone"}})
        );
    }

    #[tokio::test]
    async fn refused_tokens_keep_their_challenge() {
        let response = auth_error(AuthError::missing_token());
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let json = body(response).await;
        assert_eq!(json["error"]["code"], "InvalidAuthenticationToken");
    }

    #[tokio::test]
    async fn malformed_ids_and_unknown_segments() {
        let response = path_error(&PathError::UnknownSegment("events".into()));
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            body(response).await["error"]["message"],
            "Resource not found for the segment 'events'."
        );
        let id = crate::ids::ExchangeId::parse("nope").unwrap_err();
        let response = path_error(&PathError::Id(id));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(body(response).await["error"]["code"], "ErrorInvalidIdMalformed");
    }
}
