//! The handles every request handler shares: cheap to clone, immutable after start.

use std::sync::Arc;

use crate::{
    auth::Authenticator, config::Config, graph::GraphClient, obo::OboBroker, policy::PolicyEngine, telemetry::Metrics,
};

/// Shared state of the public router.
#[derive(Clone)]
pub struct AppState {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Inbound token validation.
    pub auth: Arc<Authenticator>,
    /// On-behalf-of exchange and cache.
    pub obo: Arc<OboBroker>,
    /// The Graph client.
    pub graph: Arc<GraphClient>,
    /// Authorization policies.
    pub policy: Arc<PolicyEngine>,
    /// Per-user and per-tenant request rate limits.
    pub limits: Arc<crate::limits::RateLimits>,
    /// Counters.
    pub metrics: Arc<Metrics>,
}
