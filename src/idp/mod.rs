//! The only Entra ID token endpoint client: on-behalf-of requests authenticated with the gateway's credential.
//!
//! [`EntraClient::exchange_obo`] (and [`EntraClient::client_credentials`], the app-only request
//! used to check the credential) sends one request to `{authority}/{tid}/oauth2/v2.0/token` and
//! reports Entra's answer as it is; deciding what a failure means for the caller is the `obo`
//! module's job. Nothing here logs a token, a secret or a client assertion.

mod credential;
mod response;

use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderMap, RETRY_AFTER};

use credential::ClientAuth;
pub(crate) use credential::unix_now;
pub use credential::{CLIENT_ASSERTION_TYPE, CredentialKind};
pub use response::{EntraError, TokenResponse};

use crate::config::{Config, ResolvedCredential};

/// The OAuth grant type of the on-behalf-of flow.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The OAuth grant type of an app-only token request.
pub const CLIENT_CREDENTIALS_GRANT: &str = "client_credentials";

/// The scope of an app-only Microsoft Graph token: every application permission granted.
pub const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Longest error-body excerpt kept when the answer is not Entra's JSON.
const BODY_EXCERPT_CHARS: usize = 200;

/// Talks to `{authority}/{tenant}/oauth2/v2.0/token`.
pub struct EntraClient {
    authority: String,
    client_id: String,
    auth: ClientAuth,
    http: reqwest::Client,
    timeout: Duration,
}

/// Why a token request produced no token.
#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    /// The tenant id is not a GUID (the exchange must use the caller's own tenant).
    #[error("tenant id {0:?} is not a GUID")]
    InvalidTenant(String),
    /// The gateway could not produce its client credential (unreadable token file, bad key).
    #[error("{config_key}: {detail}")]
    Credential {
        /// The configuration key to fix.
        config_key: &'static str,
        /// What went wrong, without secret material.
        detail: String,
    },
    /// No answer within the configured timeout.
    #[error("the token endpoint did not answer within {0:?}")]
    Timeout(Duration),
    /// Connection or transfer failure.
    #[error("cannot reach the token endpoint: {}", error_chain(.0))]
    Network(#[source] reqwest::Error),
    /// Entra ID answered with its error body.
    #[error("Entra ID answered HTTP {status} {}: {}", .body.error, .body.label())]
    Entra {
        /// HTTP status.
        status: u16,
        /// `Retry-After` in seconds, when sent.
        retry_after: Option<u64>,
        /// The parsed error body.
        body: Box<EntraError>,
    },
    /// A non-success answer that is not Entra's error JSON (a proxy or load balancer page).
    #[error("the token endpoint answered HTTP {status}: {detail}")]
    UnexpectedStatus {
        /// HTTP status.
        status: u16,
        /// `Retry-After` in seconds, when sent.
        retry_after: Option<u64>,
        /// The start of the body.
        detail: String,
    },
    /// A success status whose body is not a usable token response.
    #[error("invalid token response: {0}")]
    InvalidResponse(String),
}

// === impl EntraClient ===

impl EntraClient {
    /// Builds the client from the validated configuration and the resolved credential.
    pub fn new(config: &Config, credential: ResolvedCredential, http: reqwest::Client) -> EntraClient {
        EntraClient {
            authority: config.entra.authority.trim_end_matches('/').to_string(),
            client_id: config.entra.client_id.clone(),
            auth: ClientAuth::from_resolved(credential),
            http,
            timeout: Duration::from_secs(config.obo.timeout_secs.max(1)),
        }
    }

    /// The authority without a trailing slash, e.g. `https://login.microsoftonline.com`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The gateway's application (client) id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Which credential kind authenticates the gateway.
    pub fn credential_kind(&self) -> CredentialKind {
        self.auth.kind()
    }

    /// The token endpoint of `tenant_id`, which must be a tenant GUID (never `common`).
    pub fn token_endpoint(&self, tenant_id: &str) -> Result<String, IdpError> {
        if tenant_id.len() != 36 || uuid::Uuid::try_parse(tenant_id).is_err() {
            return Err(IdpError::InvalidTenant(tenant_id.to_string()));
        }
        Ok(format!("{}/{tenant_id}/oauth2/v2.0/token", self.authority))
    }

    /// Exchanges the caller's `assertion` on behalf of the user for a token with `scopes`.
    ///
    /// `claims` is the JSON of a claims challenge being answered; `client_request_id` is sent
    /// as `client-request-id` so Entra's logs and ours can be matched.
    pub async fn exchange_obo(
        &self,
        tenant_id: &str,
        assertion: &str,
        scopes: &[String],
        claims: Option<&str>,
        client_request_id: &str,
    ) -> Result<TokenResponse, IdpError> {
        let endpoint = self.token_endpoint(tenant_id)?;
        let form = obo_form(&self.client_id, assertion, scopes, claims);
        self.request_token(tenant_id, &endpoint, form, client_request_id).await
    }

    /// Asks for an app-only Graph token (`client_credentials`, scope `{graph}/.default`).
    ///
    /// The gateway never uses app-only tokens for mail; this request exists so that `doctor` can
    /// learn whether Entra ID accepts the client credential without needing a user's token: a
    /// wrong or expired secret, an unregistered certificate or an unmatched federated credential
    /// is reported by Entra ID before anything else is judged.
    pub async fn client_credentials(
        &self,
        tenant_id: &str,
        client_request_id: &str,
    ) -> Result<TokenResponse, IdpError> {
        let endpoint = self.token_endpoint(tenant_id)?;
        let form = vec![
            ("grant_type", CLIENT_CREDENTIALS_GRANT.to_string()),
            ("client_id", self.client_id.clone()),
            ("scope", GRAPH_DEFAULT_SCOPE.to_string()),
        ];
        self.request_token(tenant_id, &endpoint, form, client_request_id).await
    }

    /// Adds the client authentication to `form`, posts it to `endpoint` and reports Entra's answer.
    async fn request_token(
        &self,
        tenant_id: &str,
        endpoint: &str,
        mut form: Vec<(&'static str, String)>,
        client_request_id: &str,
    ) -> Result<TokenResponse, IdpError> {
        form.extend(self.auth.form_fields(&self.client_id, endpoint).await?);
        let response = self
            .http
            .post(endpoint)
            .timeout(self.timeout)
            .header(ACCEPT, "application/json")
            .header("client-request-id", client_request_id)
            .header("return-client-request-id", "true")
            .form(&form)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let retry_after = retry_after_secs(response.headers());
        let body = response.bytes().await.map_err(|e| self.transport_error(e))?;
        tracing::debug!(
            tenant = tenant_id,
            client_request_id,
            status = status.as_u16(),
            "token endpoint answered"
        );
        if status.is_success() {
            return TokenResponse::parse(&body).map_err(IdpError::InvalidResponse);
        }
        let status = status.as_u16();
        Err(match EntraError::parse(&body) {
            Some(entra) => IdpError::Entra {
                status,
                retry_after,
                body: Box::new(entra),
            },
            None => IdpError::UnexpectedStatus {
                status,
                retry_after,
                detail: excerpt(&body),
            },
        })
    }

    fn transport_error(&self, e: reqwest::Error) -> IdpError {
        if e.is_timeout() {
            IdpError::Timeout(self.timeout)
        } else {
            IdpError::Network(e)
        }
    }
}

impl std::fmt::Debug for EntraClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraClient")
            .field("authority", &self.authority)
            .field("client_id", &self.client_id)
            .field("credential", &self.auth)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The on-behalf-of grant's own fields (client authentication is added separately).
fn obo_form(client_id: &str, assertion: &str, scopes: &[String], claims: Option<&str>) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("grant_type", JWT_BEARER_GRANT.to_string()),
        ("client_id", client_id.to_string()),
        ("assertion", assertion.to_string()),
        ("scope", scope_param(scopes)),
        ("requested_token_use", "on_behalf_of".to_string()),
    ];
    if let Some(claims) = claims {
        form.push(("claims", claims.to_string()));
    }
    form
}

/// The `scope` parameter: the scopes trimmed, blanks and repeats dropped, space separated.
fn scope_param(scopes: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::with_capacity(scopes.len());
    for scope in scopes.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if !seen.contains(&scope) {
            seen.push(scope);
        }
    }
    seen.join(" ")
}

/// The error and its causes, because reqwest's own message omits the reason (refused, reset, DNS).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After` as delta-seconds (the form Entra ID sends); dates are ignored.
fn retry_after_secs(headers: &HeaderMap) -> Option<u64> {
    headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text: String = text.chars().take(BODY_EXCERPT_CHARS).collect();
    if text.trim().is_empty() {
        "(empty body)".to_string()
    } else {
        text.trim().to_string()
    }
}

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
