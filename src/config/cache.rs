//! `[cache]` and `[admin]`: the shared token cache and the admin listener.

use std::net::SocketAddr;

use serde::Deserialize;

/// Token cache settings beyond the in-process tier.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {}

impl CacheConfig {
    /// Rule violations, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The admin listener (`/metrics`, `/healthz`, `/readyz`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the admin listener; unset means no admin listener.
    pub listen: Option<SocketAddr>,
}
