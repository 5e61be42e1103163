//! `POST /EWS/Exchange.asmx`: EWS SOAP operations translated to Graph.
//! (Interface skeleton; the implementation replaces it.)

use axum::Router;

use crate::state::AppState;

/// Routes of the EWS front end.
pub fn router() -> Router<AppState> {
    Router::new()
}
