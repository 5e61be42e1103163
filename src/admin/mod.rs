//! The admin listener: `GET /metrics` (Prometheus text), `GET /healthz`, `GET /readyz`,
//! `POST /policies/reload` (validate and swap the policy set; a bad set is refused).
//!
//! Served on `admin.listen`, apart from the public listener, so metrics are never exposed
//! to callers of the front ends.

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};

use crate::state::AppState;

/// Routes of the admin listener.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/policies/reload", post(reload_policies))
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

async fn reload_policies(State(state): State<AppState>) -> Response {
    let policy = state.policy.clone();
    match tokio::task::spawn_blocking(move || policy.reload()).await {
        Ok(Ok(())) => {
            let s = state.policy.summary();
            axum::Json(serde_json::json!({
                "reloaded": true, "origin": s.origin, "policies": s.policy_ids, "may_write": s.may_write,
            }))
            .into_response()
        }
        Ok(Err(problems)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(serde_json::json!({
                "reloaded": false,
                "problems": problems,
                "message": "the policies were not replaced; the previous set stays in force",
            })),
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
