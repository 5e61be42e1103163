//! Wiring: builds the shared state from a [`Config`], binds the listener, serves until stopped.
//!
//! Public endpoints besides the front ends: `GET /healthz` (live), `GET /readyz` (signing keys
//! loaded for every configured tenant). Every response carries `request-id`.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderName, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::{
    admin,
    auth::Authenticator,
    config::Config,
    frontend,
    graph::GraphClient,
    idp::EntraClient,
    obo::OboBroker,
    policy::PolicyEngine,
    state::AppState,
    telemetry::{Metrics, RequestId},
};

/// Header carrying the id of each request in responses (Graph's name for it).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
/// Header a caller may send to choose the request id (Graph and Entra honour it too).
pub const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");

/// A gateway bound to its listener, ready to serve.
pub struct Application {
    listener: TcpListener,
    admin_listener: Option<TcpListener>,
    state: AppState,
    router: Router,
}

// === impl Application ===

impl Application {
    /// Builds the state and binds `config.server.listen` (port 0 picks a free port).
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        Self::build_with_listener(config, listener).await
    }

    /// Builds the state on an already-bound listener.
    pub async fn build_with_listener(config: Config, listener: TcpListener) -> anyhow::Result<Application> {
        let admin_listener = match config.admin.listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (admin.listen)"))?,
            ),
            None => None,
        };
        let state = build_state(config)?;
        let router = router(state.clone());
        Ok(Application {
            listener,
            admin_listener,
            state,
            router,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// The address of the admin listener, if configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The shared state (tests read counters from it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Loads signing keys, starts background refresh, and serves until `shutdown` completes;
    /// in-flight requests then get `server.shutdown_grace_secs` to finish.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Application {
            listener,
            admin_listener,
            state,
            router,
        } = self;
        if let Some(admin_listener) = admin_listener {
            let admin = admin::router(state.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(admin_listener, admin).await {
                    tracing::error!(error = %e, "admin listener failed");
                }
            });
        }
        if !state.auth.warm_up().await {
            tracing::warn!(
                "signing keys could not be loaded for every configured tenant yet; /readyz reports not ready"
            );
        }
        state.auth.spawn_refresher();
        state.policy.spawn_sighup_reload();
        let grace = Duration::from_secs(state.config.server.shutdown_grace_secs);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let service = tower::ServiceExt::<Request>::map_request(router, canonical_ews_path);
        // Small streamed answers (SOAP envelopes, JSON) must not wait for Nagle's algorithm.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        let serve = axum::serve(listener, axum::ServiceExt::<Request>::into_make_service(service))
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("shutting down: finishing in-flight requests");
                let _ = stop_tx.send(true);
            });
        let mut stop_rx2 = stop_rx.clone();
        tokio::select! {
            result = serve => result.context("server failed")?,
            _ = async move {
                let _ = stop_rx2.wait_for(|stopped| *stopped).await;
                tokio::time::sleep(grace).await;
            } => tracing::warn!("grace period over; dropping remaining requests"),
        }
        Ok(())
    }
}

/// Builds every shared handle from the configuration.
pub fn build_state(config: Config) -> anyhow::Result<AppState> {
    let credential = config
        .resolve_credential()
        .map_err(|problems| anyhow::anyhow!("invalid credential: {}", problems.join("; ")))?;
    let policy = Arc::new(
        PolicyEngine::load(&config).map_err(|problems| anyhow::anyhow!("invalid policies: {}", problems.join("; ")))?,
    );
    let config = narrow_scopes_to_policy(config, &policy);
    let metrics = Arc::new(Metrics::default());
    let http = crate::http::client(Duration::from_secs(5)).context("cannot build the HTTP client")?;
    let auth = Arc::new(Authenticator::new(&config, http.clone(), metrics.clone()));
    let idp = EntraClient::new(&config, credential, http.clone());
    let obo = Arc::new(OboBroker::new(&config, idp, metrics.clone()));
    let graph = Arc::new(GraphClient::new(&config, http, metrics.clone()));
    let limits = Arc::new(
        crate::limits::RateLimits::new(&config.limits, &config.cache, metrics.clone())
            .context("invalid [cache.redis] for rate limits")?,
    );
    Ok(AppState {
        config: Arc::new(config),
        auth,
        obo,
        graph,
        policy,
        limits,
        metrics,
    })
}

/// When no policy can permit a write, the exchange asks Graph for `Mail.Read` only, so a
/// leaked Graph token could not write either. Scopes are fixed at start-up.
fn narrow_scopes_to_policy(mut config: Config, policy: &PolicyEngine) -> Config {
    if !policy.may_write() {
        for scope in &mut config.obo.scopes {
            if let Some(prefix) = scope.strip_suffix("Mail.ReadWrite") {
                *scope = format!("{prefix}Mail.Read");
            }
        }
        tracing::info!("no policy permits a write: asking Graph for Mail.Read only");
    }
    config
}

/// The public router with its layers.
pub fn router(state: AppState) -> Router {
    let cors = frontend::cors::layer(&state.config);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(frontend::graph::router())
        .merge(frontend::rest::router())
        .merge(frontend::ews::router())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::telemetry::track_requests,
        ))
        .with_state(state)
        .layer(cors)
        .layer(middleware::from_fn(frontend::cors::strip_unallowed))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.extensions().get::<RequestId>().map(|r| r.0.as_str()).unwrap_or("");
            tracing::info_span!(
                "request",
                method = %req.method(),
                path = %req.uri().path(),
                request_id = %id,
                tenant = tracing::field::Empty,
                operation = tracing::field::Empty,
            )
        }))
        .layer(middleware::from_fn(request_id))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.auth.is_ready() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "signing keys not loaded").into_response()
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": {"code": "NotFound", "message": "No such endpoint on this gateway."}})),
    )
        .into_response()
}

/// Takes the caller's `client-request-id` when it is sane, else a new UUID; stores it in the
/// request and answers it as `request-id` (and echoes `client-request-id` as Graph does).
async fn request_id(mut req: Request, next: Next) -> Response {
    let incoming = req
        .headers()
        .get(&CLIENT_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane_request_id(v))
        .map(str::to_string);
    let id = incoming.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = next.run(req).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, value.clone());
        if incoming.is_some() {
            res.headers_mut().insert(CLIENT_REQUEST_ID, value);
        }
    }
    res
}

/// IIS matches paths case-insensitively: `/ews/exchange.asmx` reaches the EWS front end too.
pub fn canonical_ews_path(mut req: Request) -> Request {
    const EWS_PATH: &str = "/EWS/Exchange.asmx";
    let path = req.uri().path();
    if path != EWS_PATH && path.eq_ignore_ascii_case(EWS_PATH) {
        let rewritten = match req.uri().query() {
            Some(q) => format!("{EWS_PATH}?{q}"),
            None => EWS_PATH.to_string(),
        };
        if let Ok(uri) = rewritten.parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}

fn is_sane_request_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}
