//! `/api/v2.0/` and `/v2.0/`: the Outlook REST v2.0 API translated to Graph.
//! (Interface skeleton; the implementation replaces it.)

use axum::Router;

use crate::state::AppState;

/// Routes of the REST v2.0 front end.
pub fn router() -> Router<AppState> {
    Router::new()
}
