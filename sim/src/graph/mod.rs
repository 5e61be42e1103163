//! Simulated Microsoft Graph mail: seeded mailboxes served under `/v1.0` with Graph's shapes,
//! error codes, scope checks and MailboxConcurrency throttling, plus `/sandbox` endpoints.
//!
//! Tests script it through [`GraphSim`] knobs (latency, injected failures) and inspect it
//! through [`GraphSim::stats`] and [`GraphSim::messages`].

mod attachments;
mod content;
mod convert;
mod dispatch;
mod error;
mod extprops;
mod extra;
mod files;
mod folders;
mod handlers;
mod headers;
mod mime;
mod odata;
mod patch;
mod render;
mod reply;
mod sandbox_api;
mod store;
mod throttle;
mod translate;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{any, get, post};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::GraphTokenVerifier;
use crate::seed::SeedTenant;
use error::GraphError;
use reply::RequestContext;
use store::Mailbox;
use throttle::Throttle;

pub use content::LARGE_ATTACHMENT_BYTES;

/// Failures to answer instead of serving (`fail_next`).
#[derive(Debug, Clone)]
struct PlannedFailure {
    remaining: u32,
    status: StatusCode,
    code: String,
}

/// State shared by the handle and the server.
pub(crate) struct Shared {
    verifier: Arc<dyn GraphTokenVerifier>,
    mailboxes: Vec<Arc<Mailbox>>,
    throttle: Arc<Throttle>,
    latency: Mutex<Duration>,
    failure: Mutex<Option<PlannedFailure>>,
}

impl Shared {
    /// The mailbox of a UPN (case-insensitive).
    fn mailbox_of(&self, upn: &str) -> Option<Arc<Mailbox>> {
        self.mailboxes
            .iter()
            .find(|m| m.user.upn.eq_ignore_ascii_case(upn))
            .cloned()
    }

    fn latency(&self) -> Duration {
        *self.latency.lock()
    }

    /// The next planned failure, if any remain.
    fn take_failure(&self) -> Option<GraphError> {
        let mut slot = self.failure.lock();
        let planned = slot.as_mut()?;
        planned.remaining = planned.remaining.saturating_sub(1);
        let err = GraphError::new(planned.status, &planned.code, error::message_for_code(&planned.code));
        if planned.remaining == 0 {
            *slot = None;
        }
        Some(err)
    }
}

/// Aborts the server task when the last handle goes away.
struct ServerTask(JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A running Graph simulator. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone)]
pub struct GraphSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _server: Arc<ServerTask>,
}

impl GraphSim {
    /// Starts on a free port of `127.0.0.1`.
    pub async fn start(seed: SeedTenant, verifier: Arc<dyn GraphTokenVerifier>) -> std::io::Result<GraphSim> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        GraphSim::start_on(seed, verifier, listener).await
    }

    /// Starts on `listener`.
    pub async fn start_on(
        seed: SeedTenant,
        verifier: Arc<dyn GraphTokenVerifier>,
        listener: TcpListener,
    ) -> std::io::Result<GraphSim> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            verifier,
            mailboxes: content::seed_mailboxes(&seed),
            throttle: Arc::new(Throttle::default()),
            latency: Mutex::new(Duration::ZERO),
            failure: Mutex::new(None),
        });
        let app = router_for(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(error = %err, "graph simulator stopped");
            }
        });
        Ok(GraphSim {
            shared,
            addr,
            _server: Arc::new(ServerTask(task)),
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:PORT`; the Graph API is under `/v1.0`, sandbox endpoints under `/sandbox`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The simulator's routes, sharing state with this handle (for mounting in another server).
    pub fn router(&self) -> Router {
        router_for(Arc::clone(&self.shared))
    }

    /// Counters, the same document as `GET /sandbox/stats`.
    pub fn stats(&self) -> serde_json::Value {
        self.shared.throttle.snapshot()
    }

    /// Delay before each Graph response, spent while the request counts as in flight.
    pub fn set_latency(&self, delay: Duration) {
        *self.shared.latency.lock() = delay;
    }

    /// The next `n` Graph calls (after authentication) answer `status` with error `code`;
    /// 429 and 503 carry `Retry-After: 1`.
    pub fn fail_next(&self, n: u32, status: u16, code: &str) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        *self.shared.failure.lock() = (n > 0).then(|| PlannedFailure {
            remaining: n,
            status,
            code: code.to_owned(),
        });
    }

    /// The seeded messages of `upn`, as `GET /sandbox/mailboxes/{upn}/messages` (empty if unknown).
    pub fn messages(&self, upn: &str) -> Vec<serde_json::Value> {
        self.shared
            .mailbox_of(upn)
            .map(|m| sandbox_api::listing(&m))
            .unwrap_or_default()
    }

    /// Zeroes the counters of [`GraphSim::stats`].
    pub fn reset_stats(&self) {
        self.shared.throttle.reset();
    }

    /// Requests of `upn`'s mailbox in flight right now.
    pub fn in_flight(&self, upn: &str) -> u32 {
        self.shared.throttle.in_flight(&upn.to_ascii_lowercase())
    }
}

fn router_for(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1.0/{*path}", any(dispatch::entry))
        .route("/sandbox/mailboxes/{upn}/messages", get(sandbox_api::messages))
        .route("/sandbox/stats", get(sandbox_api::stats))
        .route("/sandbox/reset-stats", post(sandbox_api::reset_stats))
        .fallback(unknown_version)
        .with_state(shared)
}

/// Paths outside `/v1.0` and `/sandbox`: Graph's answer to an unknown version segment.
async fn unknown_version(request: Request) -> Response {
    let ctx = RequestContext::from_headers(request.headers());
    let version = request
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_owned();
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!("Invalid version: {version}"),
    )
    .into_reply(&ctx)
    .into_response(&ctx, None)
}
