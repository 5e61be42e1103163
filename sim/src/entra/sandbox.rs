//! Sandbox-only endpoints: minting the tokens NAA would hand an add-in (or deliberately wrong
//! ones), minting workload-identity tokens, reading counters and recorded requests, and
//! turning the knobs (rotation, scripted failures, latency, availability, consent).

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value, json};

use super::{
    Inner,
    claims::{self, Kind, Times, TokenSpec},
    jwt, keys, now,
};

/// Default lifetime of minted tokens.
const DEFAULT_LIFETIME_SECS: i64 = 3600;
/// Default lifetime of minted workload-identity tokens (Kubernetes projects 1 h tokens).
const DEFAULT_FEDERATED_LIFETIME_SECS: i64 = 3600;

/// Body of `POST /sandbox/token`: what token to mint. Only `user` is needed for the token NAA
/// would give the add-in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MintRequest {
    /// UPN of the signed-in user (ignored for `kind: "app"`).
    pub user: String,
    /// Space-separated scopes for `scp` (default `access_as_user`; for a Graph audience
    /// `Mail.ReadWrite`); for `kind: "app"` the app roles.
    pub scope: Option<String>,
    /// `aud` (default: gateway client id for v2, App ID URI for v1, the client for ID tokens).
    /// `https://graph.microsoft.com` makes a Graph token the Graph simulator accepts.
    pub audience: Option<String>,
    /// Tenant id or domain (default: the seeded tenant).
    pub tenant: Option<String>,
    /// The client the token is issued to, `azp`/`appid` (default: the add-in).
    pub client_id: Option<String>,
    /// Token version, 1 or 2 (default 2; Graph tokens are always v1).
    pub version: Option<u8>,
    /// Seconds until `exp`; negative mints an expired token (default 3600).
    pub lifetime_secs: Option<i64>,
    /// Seconds from now to `nbf` (default 0; positive mints a not-yet-valid token).
    pub not_before_offset_secs: Option<i64>,
    /// `access` (default), `id` (an ID token) or `app` (an app-only token).
    pub kind: Option<String>,
}

/// A minted token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MintedToken {
    /// The compact JWT.
    pub access_token: String,
    /// Seconds until it expires (as requested).
    pub expires_in: i64,
}

/// What workload-identity token to mint; unset fields come from the seeded federated
/// credential.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FederatedTokenRequest {
    /// `iss` (default: the seed's federated issuer).
    pub issuer: Option<String>,
    /// `sub` (default: the seed's federated subject).
    pub subject: Option<String>,
    /// The single `aud` entry (default: the seed's federated audience).
    pub audience: Option<String>,
    /// Seconds until `exp` (default 3600; negative mints an expired token).
    pub lifetime_secs: Option<i64>,
}

/// The `/sandbox/*` routes.
pub(super) fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/sandbox/token", post(mint_handler))
        .route("/sandbox/federated-token", post(federated_handler))
        .route("/sandbox/stats", get(stats_handler))
        .route("/sandbox/token-requests", get(recorded_handler))
        .route("/sandbox/rotate-keys", post(rotate_handler))
        .route("/sandbox/fail", post(fail_handler))
        .route("/sandbox/latency", post(latency_handler))
        .route("/sandbox/available", post(available_handler))
        .route("/sandbox/consent", post(consent_handler))
        .route("/sandbox/graph-token-lifetime", post(lifetime_handler))
}

/// Mints a token for `req` (the logic of `POST /sandbox/token`).
pub(super) fn mint(inner: &Inner, req: &MintRequest) -> Result<MintedToken, String> {
    let (kind, version) = kind_and_version(req)?;
    let tenant_name = req.tenant.as_deref().unwrap_or(&inner.seed.tenant_id);
    let tenant = inner
        .directory
        .find(tenant_name)
        .ok_or_else(|| format!("unknown tenant '{tenant_name}'"))?;
    let user = match kind {
        Kind::App => None,
        _ if req.user.is_empty() => return Err("the field 'user' (a UPN) is required".into()),
        _ => Some(
            tenant
                .user_by_upn(&req.user)
                .ok_or_else(|| format!("unknown user '{}' in tenant {}", req.user, tenant.id))?,
        ),
    };
    let client_id = req
        .client_id
        .clone()
        .unwrap_or_else(|| inner.seed.addin_client_id.clone());
    let audience = match (&req.audience, kind, version) {
        (Some(aud), _, _) => aud.clone(),
        (None, Kind::Id, _) => client_id.clone(),
        (None, _, 1) => inner.seed.gateway_app_id_uri.clone(),
        (None, _, _) => inner.seed.gateway_client_id.clone(),
    };
    let graph = claims::is_graph_audience(&audience);
    let (scopes, roles) = scopes_and_roles(req, kind, graph);
    let lifetime = req.lifetime_secs.unwrap_or(DEFAULT_LIFETIME_SECS);
    let spec = TokenSpec {
        version: if graph { 1 } else { version },
        kind,
        tenant_id: &tenant.id,
        user,
        audience: &audience,
        client_id: &client_id,
        client_acr: if kind == Kind::App { "1" } else { "0" },
        scopes: &scopes,
        roles: &roles,
        times: mint_times(lifetime, req.not_before_offset_secs),
    };
    let access_token = inner.issue(&spec).map_err(|e| e.to_string())?;
    Ok(MintedToken {
        access_token,
        expires_in: lifetime,
    })
}

fn kind_and_version(req: &MintRequest) -> Result<(Kind, u8), String> {
    let kind = match req.kind.as_deref().unwrap_or("access") {
        "access" => Kind::Access,
        "id" => Kind::Id,
        "app" => Kind::App,
        other => return Err(format!("unknown kind '{other}': use access, id or app")),
    };
    match req.version.unwrap_or(2) {
        v @ (1 | 2) => Ok((kind, v)),
        other => Err(format!("unsupported version {other}: use 1 or 2")),
    }
}

/// `scp` values for user tokens (with a default per audience), `roles` for app tokens.
fn scopes_and_roles(req: &MintRequest, kind: Kind, graph: bool) -> (Vec<String>, Vec<String>) {
    if kind == Kind::App {
        return (Vec::new(), req.scope.as_deref().map(scope_names).unwrap_or_default());
    }
    let default_scope = if graph { "Mail.ReadWrite" } else { "access_as_user" };
    (scope_names(req.scope.as_deref().unwrap_or(default_scope)), Vec::new())
}

/// Scope values as they appear in `scp`: the part after the resource (`api://x/y` → `y`).
fn scope_names(raw: &str) -> Vec<String> {
    raw.split_whitespace()
        .map(|s| s.rsplit('/').next().unwrap_or(s).to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// An expired token looks like one issued an hour before it expired.
fn mint_times(lifetime: i64, not_before_offset: Option<i64>) -> Times {
    let now = now();
    let exp = now + lifetime;
    match not_before_offset {
        Some(offset) => Times {
            iat: now,
            nbf: now + offset,
            exp,
        },
        None if exp <= now => Times {
            iat: exp - DEFAULT_LIFETIME_SECS,
            nbf: exp - DEFAULT_LIFETIME_SECS,
            exp,
        },
        None => Times {
            iat: now,
            nbf: now,
            exp,
        },
    }
}

/// A Kubernetes-style projected service-account token signed by the cluster issuer key.
pub(super) fn mint_federated(inner: &Inner, req: &FederatedTokenRequest) -> String {
    let seed = &inner.seed;
    let now = now();
    let lifetime = req.lifetime_secs.unwrap_or(DEFAULT_FEDERATED_LIFETIME_SECS);
    let iat = if lifetime > 0 {
        now
    } else {
        now + lifetime - DEFAULT_FEDERATED_LIFETIME_SECS
    };
    let claims = json!({
        "aud": [req.audience.as_deref().unwrap_or(&seed.federated_audience)],
        "exp": now + lifetime,
        "iat": iat,
        "nbf": iat,
        "iss": req.issuer.as_deref().unwrap_or(&seed.federated_issuer),
        "jti": uuid::Uuid::new_v4().to_string(),
        "kubernetes.io": {
            "namespace": "naa",
            "serviceaccount": {"name": "naa-gateway", "uid": claims::derived_guid(&["serviceaccount"])},
        },
        "sub": req.subject.as_deref().unwrap_or(&seed.federated_subject),
    });
    let mut header = Map::new();
    header.insert("alg".into(), json!("RS256"));
    header.insert("kid".into(), json!(inner.keys.cluster.kid));
    let Value::Object(claims) = claims else {
        return String::new();
    };
    jwt::sign(&header, &claims, &inner.keys.cluster.encoding).unwrap_or_else(|e| {
        tracing::error!(error = %e, "entra simulator could not sign a federated token");
        String::new()
    })
}

// === Handlers ===

fn bad_request(description: impl Into<String>) -> Response {
    let body = json!({"error": "invalid_request", "error_description": description.into()});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// Parses a JSON body and hands it to `then`, or answers 400 naming the problem.
fn with_body<T: DeserializeOwned>(body: &[u8], then: impl FnOnce(T) -> Response) -> Response {
    match serde_json::from_slice(body) {
        Ok(parsed) => then(parsed),
        Err(e) => bad_request(format!("invalid JSON body: {e}")),
    }
}

async fn mint_handler(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    with_body(&body, |req: MintRequest| match mint(&inner, &req) {
        Ok(token) => Json(token).into_response(),
        Err(e) => bad_request(e),
    })
}

async fn federated_handler(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let body: &[u8] = if body.is_empty() { b"{}" } else { &body };
    with_body(body, |req: FederatedTokenRequest| {
        Json(json!({"token": mint_federated(&inner, &req)})).into_response()
    })
}

async fn stats_handler(State(inner): State<Arc<Inner>>) -> Response {
    Json(inner.stats_json()).into_response()
}

async fn recorded_handler(State(inner): State<Arc<Inner>>) -> Response {
    let recorded = inner.state.lock().recorded.clone();
    Json(recorded).into_response()
}

async fn rotate_handler(State(inner): State<Arc<Inner>>) -> Response {
    let generation = {
        let mut state = inner.state.lock();
        state.generation += 1;
        state.generation
    };
    let published: Vec<&str> = keys::published(generation)
        .iter()
        .map(|&i| inner.keys.signing[i].kid.as_str())
        .collect();
    let signing = &inner.keys.signing[keys::signing_index(generation)].kid;
    Json(json!({"signing_kid": signing, "published_kids": published})).into_response()
}

async fn fail_handler(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    with_body(&body, |req: FailRequest| {
        let queued = {
            let mut state = inner.state.lock();
            state.queue_failures(req.count, req.aadsts);
            state.queued_failures()
        };
        Json(json!({"queued": queued})).into_response()
    })
}

/// Body of `POST /sandbox/fail`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailRequest {
    count: u32,
    aadsts: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyRequest {
    millis: u64,
}

async fn latency_handler(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    with_body(&body, |req: LatencyRequest| {
        inner.state.lock().latency = Duration::from_millis(req.millis);
        Json(json!({"millis": req.millis})).into_response()
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AvailableRequest {
    up: bool,
}

async fn available_handler(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    with_body(&body, |req: AvailableRequest| {
        inner.state.lock().available = req.up;
        Json(json!({"up": req.up})).into_response()
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentRequest {
    granted: bool,
}

async fn consent_handler(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    with_body(&body, |req: ConsentRequest| {
        inner.state.lock().consent = req.granted;
        Json(json!({"granted": req.granted})).into_response()
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LifetimeRequest {
    secs: i64,
}

async fn lifetime_handler(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    with_body(&body, |req: LifetimeRequest| {
        inner.state.lock().graph_lifetime = req.secs;
        Json(json!({"secs": req.secs})).into_response()
    })
}
