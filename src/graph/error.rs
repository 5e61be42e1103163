//! What can go wrong calling Graph, and who is at fault for it.

use std::time::Duration;

use reqwest::StatusCode;

use crate::error::Source;

/// A failed Graph call. Front ends map it to their wire format via [`GraphError::origin`] and
/// [`GraphError::status_hint`].
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The path is not `/me` or below: the mailbox must always be the token's user.
    #[error("refused to call Graph path {path:?}: only /me and /me/... may be called")]
    ForbiddenPath {
        /// The refused path (without query).
        path: String,
    },
    /// The request could not be built (bad base URL, header value or path characters).
    #[error("invalid Graph request: {0}")]
    InvalidRequest(String),
    /// No response headers arrived in time.
    #[error("Graph sent no response within {0:?}")]
    Timeout(Duration),
    /// The response body stalled for longer than the timeout.
    #[error("Graph's response body stalled for {0:?}")]
    BodyTimeout(Duration),
    /// The connection to Graph could not be established.
    #[error("could not connect to Graph")]
    Connect(#[source] reqwest::Error),
    /// The request or the response body failed in transit.
    #[error("Graph request failed in transit")]
    Transport(#[source] reqwest::Error),
    /// Graph answered with an error status (from [`super::GraphResponse::error_for_status`]).
    #[error("Graph answered {status}: {}", .code.as_deref().unwrap_or("no error code"))]
    Status {
        /// Graph's status.
        status: StatusCode,
        /// `error.code` of Graph's body (`ErrorItemNotFound`, `ApplicationThrottled`, …).
        code: Option<String>,
        /// `error.message` of Graph's body.
        message: Option<String>,
        /// `Retry-After`, when Graph sent one.
        retry_after: Option<Duration>,
    },
    /// The body is not the JSON the caller expected.
    #[error("Graph's answer is not the expected JSON")]
    Decode(#[source] serde_json::Error),
}

impl GraphError {
    /// Who is at fault: Graph (upstream), the caller (Graph's 4xx answers), or the gateway.
    pub fn origin(&self) -> Source {
        match self {
            GraphError::ForbiddenPath { .. } | GraphError::InvalidRequest(_) => Source::Internal,
            GraphError::Status { status, .. }
                if status.is_client_error() && *status != StatusCode::TOO_MANY_REQUESTS =>
            {
                Source::Downstream
            }
            _ => Source::Upstream,
        }
    }

    /// The status a pass-through answers with: 504 for timeouts, 502 when Graph could not be
    /// reached or made no sense, Graph's own status for its error answers.
    pub fn status_hint(&self) -> StatusCode {
        match self {
            GraphError::ForbiddenPath { .. } => StatusCode::FORBIDDEN,
            GraphError::InvalidRequest(_) => StatusCode::INTERNAL_SERVER_ERROR,
            GraphError::Timeout(_) | GraphError::BodyTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            GraphError::Connect(_) | GraphError::Transport(_) | GraphError::Decode(_) => StatusCode::BAD_GATEWAY,
            GraphError::Status { status, .. } => *status,
        }
    }

    /// A stable label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            GraphError::ForbiddenPath { .. } => "forbidden_path",
            GraphError::InvalidRequest(_) => "invalid_request",
            GraphError::Timeout(_) => "timeout",
            GraphError::BodyTimeout(_) => "body_timeout",
            GraphError::Connect(_) => "connect",
            GraphError::Transport(_) => "transport",
            GraphError::Status { .. } => "status",
            GraphError::Decode(_) => "decode",
        }
    }

    /// Sorts a reqwest failure into connect or transit.
    pub(crate) fn from_reqwest(e: reqwest::Error) -> GraphError {
        if e.is_connect() {
            GraphError::Connect(e)
        } else {
            GraphError::Transport(e)
        }
    }
}
