//! OpenID Connect discovery documents (v1 and v2) and JWKS, per tenant, plus how a `{tenant}`
//! path segment turns into an authority or an AADSTS error.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Value, json};

use super::{
    Inner,
    directory::{Tenant, TenantPath},
    errors::{AadError, Trace},
};

/// What a `{tenant}` path segment names, once known to exist.
pub(super) enum Authority<'a> {
    /// One tenant (by id or domain).
    Tenant(&'a Tenant),
    /// `common` or `organizations` (the lower-cased segment).
    Multi(&'static str),
}

/// Resolves `segment`, or the AADSTS error Entra answers for it.
pub(super) fn authority<'a>(inner: &'a Inner, segment: &str) -> Result<Authority<'a>, AadError> {
    match inner.directory.resolve(segment) {
        TenantPath::Tenant(t) => Ok(Authority::Tenant(t)),
        TenantPath::Common => Ok(Authority::Multi("common")),
        TenantPath::Organizations => Ok(Authority::Multi("organizations")),
        TenantPath::NotFound => Err(AadError::new(
            90002,
            format!(
                "Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        )),
        TenantPath::Malformed => Err(AadError::new(
            900023,
            format!(
                "Specified tenant identifier '{segment}' is neither a valid DNS name, nor a valid external domain."
            ),
        )),
    }
}

/// A fresh trace for answers that have no request correlation.
pub(super) fn fresh_trace() -> Trace {
    let id = uuid::Uuid::new_v4().to_string();
    Trace {
        trace_id: uuid::Uuid::new_v4().to_string(),
        correlation_id: id,
        client_request_id: None,
        return_client_request_id: false,
    }
}

/// AADSTS90033 with 503: what every Entra endpoint answers while the simulator is down.
pub(super) fn unavailable() -> Response {
    AadError::canned(90033, "", "").to_response(&fresh_trace())
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub(super) async fn openid_configuration_v2(State(inner): State<Arc<Inner>>, Path(tenant): Path<String>) -> Response {
    configuration(&inner, &tenant, 2)
}

/// `GET /{tenant}/.well-known/openid-configuration` (v1 metadata).
pub(super) async fn openid_configuration_v1(State(inner): State<Arc<Inner>>, Path(tenant): Path<String>) -> Response {
    configuration(&inner, &tenant, 1)
}

/// `GET /{tenant}/discovery/v2.0/keys`.
pub(super) async fn jwks_v2(State(inner): State<Arc<Inner>>, Path(tenant): Path<String>) -> Response {
    jwks(&inner, &tenant)
}

/// `GET /{tenant}/discovery/keys`.
pub(super) async fn jwks_v1(State(inner): State<Arc<Inner>>, Path(tenant): Path<String>) -> Response {
    jwks(&inner, &tenant)
}

fn configuration(inner: &Inner, segment: &str, version: u8) -> Response {
    let available = {
        let mut state = inner.state.lock();
        state.stats.discovery_requests += 1;
        state.available
    };
    if !available {
        return unavailable();
    }
    let document = match authority(inner, segment) {
        Ok(Authority::Tenant(t)) => document(&inner.url, &t.id, &t.id, version, true),
        Ok(Authority::Multi(name)) => document(&inner.url, name, "{tenantid}", version, false),
        Err(error) => return error.to_response(&fresh_trace()),
    };
    json_response(&document)
}

/// The metadata document; `path` is the tenant segment of endpoint URLs, `tid` the issuer's.
fn document(url: &str, path: &str, tid: &str, version: u8, tenant_specific: bool) -> Value {
    let base = format!("{url}/{path}");
    let region = if tenant_specific { json!("WW") } else { Value::Null };
    let mut doc = json!({
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "request_uri_parameter_supported": false,
        "kerberos_endpoint": format!("{base}/kerberos"),
        "tenant_region_scope": region,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    let specific = if version == 2 {
        json!({
            "issuer": format!("https://login.microsoftonline.com/{tid}/v2.0"),
            "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
            "token_endpoint": format!("{base}/oauth2/v2.0/token"),
            "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
            "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
            "jwks_uri": format!("{base}/discovery/v2.0/keys"),
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        })
    } else {
        json!({
            "issuer": format!("https://sts.windows.net/{tid}/"),
            "authorization_endpoint": format!("{base}/oauth2/authorize"),
            "token_endpoint": format!("{base}/oauth2/token"),
            "device_authorization_endpoint": format!("{base}/oauth2/devicecode"),
            "end_session_endpoint": format!("{base}/oauth2/logout"),
            "check_session_iframe": format!("{base}/oauth2/checksession"),
            "jwks_uri": format!("{base}/discovery/keys"),
            "userinfo_endpoint": format!("{base}/openid/userinfo"),
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "scopes_supported": ["openid"],
            "microsoft_multi_refresh_token": true,
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email", "given_name", "family_name", "nickname"],
        })
    };
    if let (Value::Object(doc_map), Value::Object(extra)) = (&mut doc, specific) {
        doc_map.extend(extra);
    }
    doc
}

#[derive(Serialize)]
struct Jwk<'a> {
    kty: &'static str,
    #[serde(rename = "use")]
    use_: &'static str,
    kid: &'a str,
    x5t: &'a str,
    n: &'a str,
    e: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    x5c: Option<[&'a str; 1]>,
    cloud_instance_name: &'static str,
    issuer: String,
}

fn jwks(inner: &Inner, segment: &str) -> Response {
    let available = {
        let mut state = inner.state.lock();
        state.stats.jwks_requests += 1;
        state.available
    };
    if !available {
        return unavailable();
    }
    let issuer_tid = match authority(inner, segment) {
        Ok(Authority::Tenant(t)) => t.id.clone(),
        Ok(Authority::Multi(_)) => "{tenantid}".to_owned(),
        Err(error) => return error.to_response(&fresh_trace()),
    };
    let keys: Vec<Jwk<'_>> = inner
        .published_keys()
        .into_iter()
        .map(|k| Jwk {
            kty: "RSA",
            use_: "sig",
            kid: &k.kid,
            x5t: &k.kid,
            n: &k.n,
            e: &k.e,
            x5c: k.x5c.as_deref().map(|c| [c]),
            cloud_instance_name: "microsoftonline.com",
            issuer: format!("https://login.microsoftonline.com/{issuer_tid}/v2.0"),
        })
        .collect();
    json_response(&json!({ "keys": keys }))
}

fn json_response(body: &Value) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=86400, private"),
    );
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    (StatusCode::OK, headers, body.to_string()).into_response()
}
