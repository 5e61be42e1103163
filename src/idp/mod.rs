//! The Entra ID token endpoint client: OBO requests with the gateway's client credential.
//! (Interface skeleton; the implementation replaces the bodies.)

use crate::config::{Config, ResolvedCredential};

/// Talks to `{authority}/{tenant}/oauth2/v2.0/token`.
pub struct EntraClient;

impl EntraClient {
    /// Builds the client.
    pub fn new(_config: &Config, _credential: ResolvedCredential, _http: reqwest::Client) -> EntraClient {
        EntraClient
    }
}
