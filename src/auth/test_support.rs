//! Test fixtures: the simulator's RSA signing keys, token minting, and a stand-in for Entra ID's
//! discovery and JWKS endpoints that counts requests and can be told to fail.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use figment::{
    Figment,
    providers::{Format, Toml},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::{Authenticator, Clock, KeySet, Policy};
use crate::{
    config::{Config, DEFAULTS},
    telemetry::Metrics,
};

pub(super) const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub(super) const OTHER_TENANT: &str = "3c5a1d2e-8b4f-4a6c-9e0d-1f2a3b4c5d6e";
pub(super) const CLIENT_ID: &str = "6e0b7a4c-3f1d-4b8e-9a2c-5d7f1e3b9c04";
pub(super) const APP_ID_URI: &str = "api://6e0b7a4c-3f1d-4b8e-9a2c-5d7f1e3b9c04";
pub(super) const ADDIN: &str = "c1f2e3d4-5a6b-4c7d-8e9f-0a1b2c3d4e05";
pub(super) const OID: &str = "0a9d1d3e-4c8b-4f6e-9b1a-3f5e2d7c8a01";
/// A fixed "now" for pure validation tests.
pub(super) const NOW: i64 = 1_750_000_000;

const PEMS: [&str; 3] = [
    include_str!("../../sim/keys/entra-signing-1.pem"),
    include_str!("../../sim/keys/entra-signing-2.pem"),
    include_str!("../../sim/keys/entra-signing-3.pem"),
];

pub(super) fn encoding_key(index: usize) -> EncodingKey {
    EncodingKey::from_rsa_pem(PEMS[index].as_bytes()).unwrap()
}

pub(super) fn kid(index: usize) -> String {
    format!("test-key-{}", index + 1)
}

/// The public JWK of test key `index`, as Entra publishes it (templated issuer).
pub(super) fn jwk(index: usize) -> Value {
    let jwk = Jwk::from_encoding_key(&encoding_key(index), Algorithm::RS256).unwrap();
    let mut v = serde_json::to_value(jwk).unwrap();
    v["kid"] = json!(kid(index));
    v["use"] = json!("sig");
    v["issuer"] = json!("https://login.microsoftonline.com/{tenantid}/v2.0");
    v
}

pub(super) fn jwks(indices: &[usize]) -> Value {
    json!({ "keys": indices.iter().map(|i| jwk(*i)).collect::<Vec<_>>() })
}

pub(super) fn key_set(indices: &[usize]) -> KeySet {
    KeySet::from_jwks(&serde_json::to_vec(&jwks(indices)).unwrap()).unwrap()
}

/// A v2 access token's claims as Entra issues them for the add-in calling the gateway.
pub(super) fn v2_claims() -> Value {
    json!({
        "aud": CLIENT_ID,
        "iss": format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
        "iat": NOW - 60, "nbf": NOW - 60, "exp": NOW + 3600,
        "aio": "opaque", "azp": ADDIN, "azpacr": "0",
        "name": "Alice Anders", "oid": OID, "preferred_username": "alice@contoso.com",
        "rh": "opaque", "scp": "access_as_user", "sub": "pairwise-subject-alice",
        "tid": TENANT, "uti": "AbCdEf", "ver": "2.0"
    })
}

/// A v1 access token's claims (App ID URI audience, `appid`, `upn`).
pub(super) fn v1_claims() -> Value {
    json!({
        "aud": APP_ID_URI,
        "iss": format!("https://sts.windows.net/{TENANT}/"),
        "iat": NOW - 60, "nbf": NOW - 60, "exp": NOW + 3600,
        "acr": "1", "amr": ["pwd"], "appid": ADDIN, "appidacr": "0",
        "name": "Alice Anders", "oid": OID, "upn": "alice@contoso.com", "unique_name": "alice@contoso.com",
        "scp": "access_as_user", "sub": "v1-subject-alice", "tid": TENANT, "ver": "1.0"
    })
}

/// Signs `claims` with test key `index`, naming it in `kid`.
pub(super) fn mint(claims: &Value, index: usize) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid(index));
    header.typ = Some("JWT".into());
    jsonwebtoken::encode(&header, claims, &encoding_key(index)).unwrap()
}

/// A configuration accepting `TENANT`, with Entra ID at `authority`.
pub(super) fn config(authority: &str) -> Config {
    let toml = format!(
        r#"
[entra]
authority = "{authority}"
client_id = "{CLIENT_ID}"
audiences = ["{APP_ID_URI}"]
allowed_tenants = ["{TENANT}"]

[entra.credential]
kind = "secret"
secret = {{ value = "test-secret" }}
"#
    );
    Config::from_figment(Figment::new().merge(Toml::string(DEFAULTS)).merge(Toml::string(&toml))).unwrap()
}

pub(super) fn policy() -> Policy {
    Policy::from_config(&config("https://login.microsoftonline.com"))
}

/// A clock tests move by hand.
#[derive(Clone)]
pub(super) struct TestClock(Arc<AtomicI64>);

impl TestClock {
    pub(super) fn at(now: i64) -> TestClock {
        TestClock(Arc::new(AtomicI64::new(now)))
    }

    pub(super) fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }

    pub(super) fn clock(&self) -> Clock {
        let inner = self.0.clone();
        Arc::new(move || inner.load(Ordering::SeqCst))
    }
}

pub(super) fn authenticator(config: &Config, clock: &TestClock) -> (Authenticator, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    let http = crate::http::client(Duration::from_secs(5)).unwrap();
    (
        Authenticator::with_clock(config, http, metrics.clone(), clock.clock()),
        metrics,
    )
}

// === FakeEntra ===

#[derive(Default)]
struct FakeState {
    base: String,
    jwks: Value,
    jwks_failing: bool,
    jwks_delay: Duration,
    discovery_hits: Vec<String>,
    jwks_hits: usize,
}

/// Serves `/{tid}/v2.0/.well-known/openid-configuration` and the JWKS it points to.
pub(super) struct FakeEntra {
    pub(super) base: String,
    state: Arc<Mutex<FakeState>>,
}

impl FakeEntra {
    pub(super) async fn start(keys: &[usize]) -> FakeEntra {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(FakeState {
            base: base.clone(),
            jwks: jwks(keys),
            ..FakeState::default()
        }));
        let app = Router::new()
            .route("/{tid}/v2.0/.well-known/openid-configuration", get(discovery))
            .route("/{tid}/discovery/v2.0/keys", get(keys_endpoint))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeEntra { base, state }
    }

    pub(super) fn set_keys(&self, keys: &[usize]) {
        self.state.lock().jwks = jwks(keys);
    }

    pub(super) fn set_jwks_failing(&self, failing: bool) {
        self.state.lock().jwks_failing = failing;
    }

    pub(super) fn set_jwks_delay(&self, delay: Duration) {
        self.state.lock().jwks_delay = delay;
    }

    pub(super) fn jwks_hits(&self) -> usize {
        self.state.lock().jwks_hits
    }

    /// Tenants whose discovery document was requested, in order.
    pub(super) fn discovery_hits(&self) -> Vec<String> {
        self.state.lock().discovery_hits.clone()
    }
}

async fn discovery(State(state): State<Arc<Mutex<FakeState>>>, Path(tid): Path<String>) -> Json<Value> {
    let mut s = state.lock();
    s.discovery_hits.push(tid.clone());
    Json(json!({
        "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
        "jwks_uri": format!("{}/{tid}/discovery/v2.0/keys", s.base),
        "token_endpoint": format!("{}/{tid}/oauth2/v2.0/token", s.base),
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn keys_endpoint(State(state): State<Arc<Mutex<FakeState>>>) -> Response {
    let delay = {
        let mut s = state.lock();
        s.jwks_hits += 1;
        s.jwks_delay
    };
    tokio::time::sleep(delay).await;
    let s = state.lock();
    if s.jwks_failing {
        return (StatusCode::INTERNAL_SERVER_ERROR, "upstream failure").into_response();
    }
    Json(s.jwks.clone()).into_response()
}
