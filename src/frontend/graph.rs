//! `/v1.0/me/messages/...`: an authenticated Graph pass-through in Graph's own shape.
//! (Interface skeleton; the implementation replaces it.)

use axum::Router;

use crate::state::AppState;

/// Routes of the Graph-shaped front end.
pub fn router() -> Router<AppState> {
    Router::new()
}
