//! The Microsoft Graph client: `/me/...` only, per-mailbox concurrency cap, Retry-After.
//! (Interface skeleton; the implementation replaces the bodies.)

use std::sync::Arc;

use crate::{config::Config, telemetry::Metrics};

/// The Graph client.
pub struct GraphClient;

impl GraphClient {
    /// Builds the client.
    pub fn new(_config: &Config, _http: reqwest::Client, _metrics: Arc<Metrics>) -> GraphClient {
        GraphClient
    }
}
