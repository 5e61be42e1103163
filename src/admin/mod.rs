//! The admin listener: `GET /metrics` (Prometheus text), `GET /healthz`, `GET /readyz`.
//!
//! Served on `admin.listen`, apart from the public listener, so metrics are never exposed
//! to callers of the front ends.

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

use crate::state::AppState;

/// Routes of the admin listener.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>) -> Response {
    // Sampled at scrape time: moka keeps the count itself.
    let entries = i64::try_from(state.obo.cache_stats().entries).unwrap_or(i64::MAX);
    state.metrics.gauge_set("obo_cache_entries", &[], entries);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.auth.is_ready() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "signing keys not loaded").into_response()
    }
}
