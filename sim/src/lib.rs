//! Simulators of Entra ID and Microsoft Graph mail that behave like the real services on the wire.
//!
//! They share no types with the gateway: everything here is written from Microsoft's
//! documentation of the wire protocols, so a serde mistake in the gateway fails loudly
//! against them. Each simulator is an axum app bound to `127.0.0.1:0` that tests can script
//! (knobs) and inspect (recorded requests, stats).

pub mod entra;
pub mod graph;
pub mod ids;
pub mod sandbox;
pub mod seed;

/// What the Graph simulator learns from a bearer token its Entra issued.
#[derive(Debug, Clone)]
pub struct GraphCaller {
    /// Tenant id (`tid`).
    pub tenant_id: String,
    /// User object id (`oid`).
    pub oid: String,
    /// UPN of the user (`upn`), which names the mailbox.
    pub upn: String,
    /// Client application the token was issued to (`appid`).
    pub app_id: String,
    /// Delegated scopes (`scp`, split).
    pub scopes: Vec<String>,
}

/// Verifies Graph access tokens; implemented by the Entra simulator, used by the Graph simulator.
pub trait GraphTokenVerifier: Send + Sync + 'static {
    /// `Ok` for a token the simulated Entra issued for `https://graph.microsoft.com`, unexpired;
    /// `Err` with Graph's error message otherwise (wrong audience, bad signature, expired…).
    fn verify_graph_token(&self, bearer: &str) -> Result<GraphCaller, String>;
}

/// An HTTP client for the simulators' own tests. reqwest is built without a bundled TLS
/// provider in this workspace, so one is installed first.
#[cfg(test)]
pub(crate) fn test_http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
