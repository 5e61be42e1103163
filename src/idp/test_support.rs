//! A scriptable stand-in for the Entra ID token endpoint, for unit tests of `idp` and `obo`.
//!
//! It records every request (path, headers, form fields) and answers from a queue of scripted
//! replies, falling back to a fresh success token.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::Duration,
};

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use parking_lot::Mutex;
use secrecy::SecretString;
use serde_json::json;

use crate::config::{AssertionAlgorithm, Config, DEFAULTS, ResolvedCredential, ResolvedCredentialKind};

pub(crate) const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub(crate) const CLIENT_ID: &str = "6c7cf17b-1bd3-47d5-94c6-be2d3570e168";
pub(crate) const SECRET: &str = "gateway-client-secret-value";
pub(crate) const CERT_PEM: &str = include_str!("../../sim/keys/gateway-client-cert.pem");
pub(crate) const KEY_PEM: &str = include_str!("../../sim/keys/gateway-client-cert.key.pem");

/// One request as the endpoint saw it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) tenant: String,
    pub(crate) headers: HeaderMap,
    pub(crate) form: HashMap<String, String>,
    /// Field names in the order received, repeats included.
    pub(crate) field_names: Vec<String>,
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: String,
}

#[derive(Default)]
struct Inner {
    requests: Mutex<Vec<Recorded>>,
    replies: Mutex<VecDeque<Reply>>,
    delay: Mutex<Duration>,
    expires_in: Mutex<u64>,
}

/// The running endpoint; dropped with the test's runtime.
#[derive(Clone)]
pub(crate) struct FakeEntra {
    /// Base URL to use as `entra.authority`.
    pub(crate) authority: String,
    inner: Arc<Inner>,
}

// === impl Reply ===

impl Reply {
    pub(crate) fn token(access_token: &str, expires_in: u64) -> Reply {
        let body = json!({
            "token_type": "Bearer",
            "scope": "https://graph.microsoft.com/Mail.ReadWrite",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": access_token,
        });
        Reply {
            status: 200,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    /// Entra's error shape: `error`, AADSTS text with trace ids, codes, ids, optional claims.
    pub(crate) fn entra(status: u16, error: &str, code: u64, claims: Option<&str>) -> Reply {
        let mut body = json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: Something the test scripted.\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\r\nCorrelation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2026-12-04 10:00:00Z"
            ),
            "error_codes": [code],
            "timestamp": "2026-12-04 10:00:00Z",
            "trace_id": "0000aaaa-11bb-cccc-dd22-eeeeee333333",
            "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd",
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        });
        if let Some(claims) = claims {
            body["claims"] = json!(claims);
        }
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }
}

// === impl FakeEntra ===

impl FakeEntra {
    /// Binds `127.0.0.1:0` and serves until the test's runtime ends.
    pub(crate) async fn start() -> FakeEntra {
        let inner = Arc::new(Inner {
            expires_in: Mutex::new(3600),
            ..Inner::default()
        });
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeEntra {
            authority: format!("http://{addr}"),
            inner,
        }
    }

    /// Answers the next request with `reply` (queued in order).
    pub(crate) fn push(&self, reply: Reply) {
        self.inner.replies.lock().push_back(reply);
    }

    /// Waits this long before answering each request.
    pub(crate) fn set_delay(&self, delay: Duration) {
        *self.inner.delay.lock() = delay;
    }

    /// `expires_in` of the default success answers.
    pub(crate) fn set_expires_in(&self, secs: u64) {
        *self.inner.expires_in.lock() = secs;
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.inner.requests.lock().clone()
    }

    pub(crate) fn count(&self) -> usize {
        self.inner.requests.lock().len()
    }
}

async fn token(
    State(inner): State<Arc<Inner>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let number = {
        let mut requests = inner.requests.lock();
        requests.push(Recorded {
            tenant,
            headers,
            field_names: pairs.iter().map(|(k, _)| k.clone()).collect(),
            form: pairs.into_iter().collect(),
        });
        requests.len()
    };
    let delay = *inner.delay.lock();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let scripted = inner.replies.lock().pop_front();
    let reply = scripted.unwrap_or_else(|| Reply::token(&format!("graph-token-{number}"), *inner.expires_in.lock()));
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    response
        .headers_mut()
        .insert("content-type", "application/json; charset=utf-8".parse().unwrap());
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// A validated configuration pointing at `authority`, with the given OBO knobs.
pub(crate) fn config(authority: &str, expiry_margin_secs: u64, timeout_secs: u64) -> Config {
    let overrides = format!(
        r#"
[entra]
authority = "{authority}"
client_id = "{CLIENT_ID}"
allowed_tenants = ["*"]
credential = {{ kind = "secret", secret = {{ value = "{SECRET}" }} }}

[obo]
scopes = [" https://graph.microsoft.com/Mail.ReadWrite", "https://graph.microsoft.com/User.Read ", "https://graph.microsoft.com/Mail.ReadWrite"]
expiry_margin_secs = {expiry_margin_secs}
timeout_secs = {timeout_secs}
"#
    );
    let figment = figment::Figment::new()
        .merge(<figment::providers::Toml as figment::providers::Format>::string(
            DEFAULTS,
        ))
        .merge(<figment::providers::Toml as figment::providers::Format>::string(
            &overrides,
        ));
    Config::from_figment(figment).unwrap()
}

pub(crate) fn secret_credential() -> ResolvedCredential {
    ResolvedCredential {
        kind: ResolvedCredentialKind::Secret(SecretString::from(SECRET)),
    }
}

pub(crate) fn certificate_der() -> Vec<u8> {
    pem::parse(CERT_PEM).unwrap().into_contents()
}

pub(crate) fn certificate_credential(algorithm: AssertionAlgorithm) -> ResolvedCredential {
    ResolvedCredential {
        kind: ResolvedCredentialKind::Certificate {
            certificate_der: certificate_der(),
            private_key_pem: SecretString::from(KEY_PEM),
            algorithm,
        },
    }
}

pub(crate) fn http() -> reqwest::Client {
    crate::http::client(Duration::from_secs(2)).unwrap()
}
