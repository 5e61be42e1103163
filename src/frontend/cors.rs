//! CORS for add-ins calling from the browser (task pane origins).
//!
//! Allowed origins come from `[cors]`: global, or per tenant. A preflight (`OPTIONS`) has no
//! token, so it is answered for any origin some tenant allows. An actual request gets
//! `Access-Control-Allow-Origin` only when its origin is global or allowed for the tenant named
//! by its bearer token; the `tid` is read without verifying the token here, which is sound
//! because the handler then authenticates the token and a forged one gets nothing but a 401.
//! The front ends also refuse (403) a request whose `Origin` is not allowed for the verified
//! tenant, so a write cannot succeed unseen. Unknown origins get no `Access-Control-Allow-Origin`.
//!
//! Preflights allow `GET`, `PATCH`, `POST` (EWS) and `OPTIONS` with `Authorization`, `Prefer`,
//! `Content-Type`, `client-request-id`, `If-Match` and `SOAPAction`; answers expose `request-id`,
//! `client-request-id`, `WWW-Authenticate` (the claims challenge), `Preference-Applied`,
//! `Retry-After` and `ETag`.

use std::time::Duration;

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue, Method, header, request::Parts},
    middleware::Next,
    response::Response,
};
use base64::Engine as _;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::{Config, CorsConfig};

/// Request headers a browser may send.
const ALLOWED_HEADERS: [HeaderName; 6] = [
    header::AUTHORIZATION,
    HeaderName::from_static("prefer"),
    header::CONTENT_TYPE,
    HeaderName::from_static("client-request-id"),
    header::IF_MATCH,
    HeaderName::from_static("soapaction"),
];

/// Response headers a page may read.
const EXPOSED_HEADERS: [HeaderName; 6] = [
    HeaderName::from_static("request-id"),
    HeaderName::from_static("client-request-id"),
    header::WWW_AUTHENTICATE,
    HeaderName::from_static("preference-applied"),
    header::RETRY_AFTER,
    header::ETAG,
];

/// Preflight answers are cached this long unless `cors.max_age_secs` says otherwise.
const DEFAULT_MAX_AGE_SECS: u64 = 600;

/// The CORS layer for the configured origins; unknown origins get no CORS headers.
pub fn layer(config: &Config) -> CorsLayer {
    layer_for(&config.cors)
}

fn layer_for(config: &CorsConfig) -> CorsLayer {
    let cors = config.clone();
    let allow = AllowOrigin::predicate(move |origin: &HeaderValue, parts: &Parts| {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        match token_tenant(parts) {
            Some(tenant) if parts.method != Method::OPTIONS => cors.allows(origin, &tenant),
            _ => cors.allows_any(origin),
        }
    });
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::PATCH, Method::POST, Method::OPTIONS])
        .allow_headers(ALLOWED_HEADERS)
        .expose_headers(EXPOSED_HEADERS)
        .max_age(Duration::from_secs(config.max_age_secs.unwrap_or(DEFAULT_MAX_AGE_SECS)))
}

/// Whether a request from `origin` may be served for a user of `tenant`; requests without an
/// `Origin` (servers, scripts) always may.
pub fn origin_allowed_for_tenant(config: &Config, origin: Option<&HeaderValue>, tenant: &str) -> bool {
    match origin {
        None => true,
        Some(origin) => origin.to_str().is_ok_and(|o| config.cors.allows(o, tenant)),
    }
}

/// Removes every `Access-Control-*` header from an answer that does not allow the request's
/// origin, so unknown origins get no CORS headers at all: the CORS layer itself adds the
/// preflight's method and header lists whatever the origin. Apply around [`layer`].
pub async fn strip_unallowed(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if !response.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        let names: Vec<HeaderName> = response
            .headers()
            .keys()
            .filter(|n| n.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in names {
            response.headers_mut().remove(name);
        }
    }
    response
}

/// The unverified `tid` claim of the request's bearer token, if it has one.
fn token_tenant(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let payload = token.trim().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("tid")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, authorization: Option<String>) -> Parts {
        let mut builder = axum::http::Request::builder().method(method).uri("/v2.0/me/messages/x");
        if let Some(a) = authorization {
            builder = builder.header("authorization", a);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn token(tid: &str) -> String {
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(r#"{{"tid":"{tid}"}}"#));
        format!("Bearer eyJhbGciOiJSUzI1NiJ9.{claims}.sig")
    }

    #[tokio::test]
    async fn unknown_origins_get_no_cors_headers_at_all() {
        use tower::ServiceExt as _;
        let config = CorsConfig {
            allowed_origins: vec!["https://addin.contoso.com".into()],
            ..CorsConfig::default()
        };
        let app = axum::Router::new()
            .route("/x", axum::routing::get(|| async { "ok" }))
            .layer(layer_for(&config))
            .layer(axum::middleware::from_fn(strip_unallowed));
        let preflight = |origin: &'static str| {
            axum::http::Request::options("/x")
                .header("origin", origin)
                .header("access-control-request-method", "GET")
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let allowed = app
            .clone()
            .oneshot(preflight("https://addin.contoso.com"))
            .await
            .unwrap();
        assert_eq!(
            allowed.headers()["access-control-allow-origin"],
            "https://addin.contoso.com"
        );
        assert!(allowed.headers().contains_key("access-control-allow-methods"));
        let unknown = app.oneshot(preflight("https://evil.example")).await.unwrap();
        let cors: Vec<_> = unknown
            .headers()
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "{cors:?}");
    }

    #[test]
    fn the_tenant_is_read_from_the_bearer_token() {
        assert_eq!(
            token_tenant(&parts(Method::GET, Some(token("t1")))).as_deref(),
            Some("t1")
        );
        assert_eq!(token_tenant(&parts(Method::GET, None)), None);
        assert_eq!(token_tenant(&parts(Method::GET, Some("Basic abc".into()))), None);
        assert_eq!(token_tenant(&parts(Method::GET, Some("Bearer garbage".into()))), None);
    }
}
