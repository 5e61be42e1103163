//! Graph error answers: status, Outlook's error codes and the `{"error":{…,"innerError":{…}}}` body.

use axum::http::{HeaderValue, StatusCode, header};

use super::reply::{Reply, RequestContext};

/// An error answer in Graph's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GraphError {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
    /// Seconds for `Retry-After` (429 and 503).
    pub(crate) retry_after: Option<u32>,
    /// Adds Graph's `WWW-Authenticate` challenge (401).
    pub(crate) challenge: bool,
}

/// The challenge Graph sends with 401 answers.
const CHALLENGE: &str = "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"";

impl GraphError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> GraphError {
        let retry_after = matches!(status.as_u16(), 429 | 503).then_some(1);
        GraphError {
            status,
            code: code.to_owned(),
            message: message.into(),
            retry_after,
            challenge: false,
        }
    }

    /// 401 `InvalidAuthenticationToken`.
    pub(crate) fn unauthenticated(message: impl Into<String>) -> GraphError {
        GraphError {
            challenge: true,
            ..GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message)
        }
    }

    /// 403 `ErrorAccessDenied`.
    pub(crate) fn access_denied() -> GraphError {
        GraphError::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    }

    /// 400 `ErrorInvalidIdMalformed`.
    pub(crate) fn malformed_id() -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "ErrorInvalidIdMalformed", "Id is malformed.")
    }

    /// 404 `ErrorItemNotFound`.
    pub(crate) fn item_not_found() -> GraphError {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }

    /// 400 from the OData URI parser.
    pub(crate) fn parse_uri(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "RequestBroker--ParseUri", message)
    }

    /// 400 for a property name the type does not have.
    pub(crate) fn unknown_property(name: &str, type_name: &str) -> GraphError {
        GraphError::parse_uri(format!(
            "Could not find a property named '{name}' on type '{type_name}'."
        ))
    }

    /// 400 for a request body Graph cannot read.
    pub(crate) fn body_read(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "RequestBodyRead", message)
    }

    /// 400 for a path segment Graph does not know.
    pub(crate) fn no_segment(segment: &str) -> GraphError {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    /// 429 `ApplicationThrottled` for the per-mailbox concurrency limit.
    pub(crate) fn mailbox_concurrency() -> GraphError {
        GraphError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
        )
    }

    /// The answer, stamped with the request's ids.
    pub(crate) fn into_reply(self, ctx: &RequestContext) -> Reply {
        let body = serde_json::json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": ctx.date(),
                    "request-id": ctx.request_id,
                    "client-request-id": ctx.client_request_id,
                }
            }
        });
        let mut reply = Reply::json_value(self.status, &body);
        reply.set_header(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(secs) = self.retry_after {
            reply.set_header(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.challenge {
            reply.set_header(header::WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
        }
        reply
    }
}

/// The message a `fail_next` knob answers with for a code, as Graph words it.
pub(crate) fn message_for_code(code: &str) -> &'static str {
    match code {
        "ApplicationThrottled" => "Application is over its MailboxConcurrency limit.",
        "ErrorServerBusy" => "The server cannot service this request right now. Try again later.",
        "ServiceUnavailable" | "serviceNotAvailable" => "Service unavailable, please try again later.",
        "ErrorAccessDenied" => "Access is denied. Check credentials and try again.",
        "ErrorItemNotFound" => "The specified object was not found in the store.",
        "ErrorInvalidIdMalformed" => "Id is malformed.",
        "InvalidAuthenticationToken" => "Access token has expired or is not yet valid.",
        "ErrorInternalServerError" | "generalException" => "An internal server error occurred. The operation failed.",
        "ErrorTimeoutExpired" => "The request timed out.",
        "MailboxNotEnabledForRESTAPI" => "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        _ => "The request could not be completed.",
    }
}
