//! CORS for add-ins calling from the browser (task pane origins).
//! (Interface skeleton; the implementation replaces it.)

use tower_http::cors::CorsLayer;

use crate::config::Config;

/// The CORS layer for the configured origins; unknown origins get no CORS headers.
pub fn layer(_config: &Config) -> CorsLayer {
    CorsLayer::new()
}
