//! On-behalf-of: turns a [`Caller`] into a Graph token, cached and coalesced.
//! (Interface skeleton; the implementation replaces the bodies.)

use std::sync::Arc;

use axum::response::{IntoResponse, Response};

use crate::{auth::Caller, config::Config, idp::EntraClient, telemetry::Metrics};

/// A Graph access token (opaque; never validated, never logged).
pub struct GraphToken {
    /// The bearer value.
    pub access_token: secrecy::SecretString,
    /// Expiry (Unix seconds) from the exchange's `expires_in`.
    pub expires_at: i64,
}

/// Exchanges and caches.
pub struct OboBroker;

/// Why no Graph token could be had.
#[derive(Debug, thiserror::Error)]
pub enum OboError {
    /// Placeholder.
    #[error("exchange failed")]
    Failed,
}

impl IntoResponse for OboError {
    fn into_response(self) -> Response {
        axum::http::StatusCode::BAD_GATEWAY.into_response()
    }
}

impl OboBroker {
    /// Builds the broker.
    pub fn new(_config: &Config, _idp: EntraClient, _metrics: Arc<Metrics>) -> OboBroker {
        OboBroker
    }

    /// A Graph token for `caller`; `claims` (a claims challenge answer) bypasses the cache.
    pub async fn graph_token(&self, _caller: &Caller, _claims: Option<&str>) -> Result<Arc<GraphToken>, OboError> {
        Err(OboError::Failed)
    }
}
