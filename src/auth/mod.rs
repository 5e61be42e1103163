//! Inbound authentication: validates the NAA access token and yields the [`Caller`].
//! (Interface skeleton; the implementation replaces the bodies.)

use std::sync::Arc;

use axum::response::{IntoResponse, Response};

use crate::{config::Config, telemetry::Metrics};

/// The authenticated user behind a request.
#[derive(Clone)]
pub struct Caller {
    /// Tenant id (`tid`, a GUID).
    pub tenant_id: String,
    /// User object id (`oid`); with `tenant_id` it names the mailbox.
    pub oid: String,
    /// Subject (`sub`).
    pub subject: String,
    /// Calling add-in's client id (`azp` in v2, `appid` in v1), if present.
    pub client_app: Option<String>,
    /// Delegated scopes from `scp`.
    pub scopes: Vec<String>,
    /// `preferred_username` (v2) or `upn`/`unique_name` (v1): display and logs only, never authorization.
    pub username: Option<String>,
    /// Token version: 1 or 2.
    pub version: u8,
    /// `exp` (Unix seconds).
    pub expires_at: i64,
    /// The inbound token, needed as the OBO assertion. Never logged, never in `Debug`.
    pub assertion: Arc<str>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("tenant_id", &self.tenant_id)
            .field("oid", &self.oid)
            .field("client_app", &self.client_app)
            .field("scopes", &self.scopes)
            .field("version", &self.version)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// Key naming the caller's mailbox for concurrency limits: `{tenant_id}/{oid}`.
    pub fn mailbox_key(&self) -> String {
        format!("{}/{}", self.tenant_id, self.oid)
    }
}

/// Validates inbound tokens.
pub struct Authenticator;

/// Why a request was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Placeholder.
    #[error("unauthenticated")]
    Invalid,
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        axum::http::StatusCode::UNAUTHORIZED.into_response()
    }
}

impl Authenticator {
    /// Builds the validator.
    pub fn new(_config: &Config, _http: reqwest::Client, _metrics: Arc<Metrics>) -> Authenticator {
        Authenticator
    }

    /// Validates an `Authorization` header value.
    pub async fn authenticate(&self, _authorization: Option<&str>) -> Result<Caller, AuthError> {
        Err(AuthError::Invalid)
    }

    /// Loads keys for the configured tenants; true when every configured tenant has keys.
    pub async fn warm_up(&self) -> bool {
        false
    }

    /// True once keys for every configured tenant are loaded.
    pub fn is_ready(&self) -> bool {
        false
    }

    /// Starts the background key refresher.
    pub fn spawn_refresher(self: &Arc<Self>) {}
}
