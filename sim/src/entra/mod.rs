//! Simulated Entra ID: discovery, JWKS, the v2.0 token endpoint (on-behalf-of and client
//! credentials with secret, certificate and federated client authentication), sandbox minting
//! of NAA tokens, and the verifier the Graph simulator uses for the tokens issued here.
//!
//! Routes (`{tenant}` is a tenant id, a verified domain, `common` or `organizations`):
//! - `GET /{tenant}/v2.0/.well-known/openid-configuration`, `GET /{tenant}/.well-known/openid-configuration`
//! - `GET /{tenant}/discovery/v2.0/keys`, `GET /{tenant}/discovery/keys`
//! - `POST /{tenant}/oauth2/v2.0/token`
//! - `POST /sandbox/token`, `GET /sandbox/stats`, `GET /sandbox/token-requests`,
//!   `POST /sandbox/rotate-keys`, `POST /sandbox/fail`, `POST /sandbox/latency`,
//!   `POST /sandbox/available`, `POST /sandbox/consent`, `POST /sandbox/graph-token-lifetime`,
//!   `POST /sandbox/federated-token`
//!
//! Besides the seeded tenant, the directory holds a foreign tenant (Fabrikam, see
//! [`FOREIGN_TENANT_ID`]) whose users can be minted but where the gateway app is not
//! provisioned: on-behalf-of there answers AADSTS700016, as for an unconsented multi-tenant app.
//!
//! Deliberate choices where Entra's behaviour is not pinned down by its documentation:
//! - A token endpoint call on `common`/`organizations` fails with AADSTS50194: the gateway's
//!   registration is single-tenant, and on-behalf-of must use the caller's tenant anyway.
//! - A certificate assertion whose `aud` is not this token endpoint fails with AADSTS700023
//!   (the code Entra documents for certificate credentials); AADSTS700212 is reserved for
//!   federated assertions, as Entra does.
//! - `client-request-id` becomes `correlation_id` only when it is a GUID, and comes back as a
//!   response header only with `return-client-request-id: true`, as Entra does.
//! - Granted scopes are the requested Graph permissions (all consented ones for `.default`),
//!   so a gateway asking for too little fails at Graph rather than being rescued here.
//! - The user assertion's `exp` gets no leeway (an expired token is AADSTS500133 at once);
//!   `nbf`/`iat` of assertions get 5 minutes. Graph tokens are checked with no leeway at all.
//! - Key rotation cycles through six keys (the seeded three, then three more): generation 0
//!   publishes keys 1+2 and signs with 1, so rotating makes tokens already issued
//!   unverifiable; each rotation drops the oldest, publishes the next and signs with it.

mod claims;
mod client_auth;
mod directory;
mod discovery;
mod errors;
mod grants;
mod jwt;
mod keys;
mod sandbox;
mod token_endpoint;
mod verifier;

#[cfg(test)]
mod tests;

use std::{collections::VecDeque, sync::Arc, time::Duration};

use axum::{
    Router,
    routing::{get, post},
};
use parking_lot::Mutex;
use serde::Serialize;

pub use directory::{FOREIGN_TENANT_DOMAIN, FOREIGN_TENANT_ID, FOREIGN_USER_OID, FOREIGN_USER_UPN};
pub use sandbox::{FederatedTokenRequest, MintRequest, MintedToken};

use crate::seed::SeedTenant;
use directory::Directory;
use keys::KeyRing;

/// Lifetime of Graph tokens issued by the token endpoint unless changed with
/// [`EntraSim::set_graph_token_lifetime`].
pub const DEFAULT_GRAPH_TOKEN_LIFETIME_SECS: i64 = 3600;

/// A running simulated Entra ID; a cheap handle (clones share the same simulator).
#[derive(Clone)]
pub struct EntraSim {
    inner: Arc<Inner>,
}

/// One POST the token endpoint received, with credentials redacted.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedTokenRequest {
    /// The `{tenant}` path segment as sent.
    pub tenant: String,
    /// `obo`, `client_credentials`, or the raw `grant_type` for anything else.
    pub grant: Option<String>,
    /// Form fields; `client_secret`, `client_assertion` and `assertion` read `<redacted>`.
    pub fields: std::collections::BTreeMap<String, String>,
    /// Kind of client authentication presented: `secret`, `certificate_rs256`,
    /// `certificate_ps256` or `federated`.
    pub client_auth: Option<String>,
    /// Whether the client secret came in an HTTP Basic `Authorization` header.
    pub basic_auth: bool,
    /// Hex SHA-256 of the `assertion` (the user token), to correlate without exposing it.
    pub assertion_sha256: Option<String>,
    /// The `client-request-id` header as sent.
    pub client_request_id: Option<String>,
    /// The correlation id of the answer.
    pub correlation_id: String,
    /// How the request ended.
    pub outcome: TokenOutcome,
}

/// How a token-endpoint request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenOutcome {
    /// A token was issued.
    Ok,
    /// Entra answered this AADSTS error code.
    Failed(u32),
}

/// Shared state behind every handle and route.
struct Inner {
    seed: SeedTenant,
    directory: Directory,
    url: String,
    keys: KeyRing,
    state: Mutex<State>,
}

/// Knobs and counters, changed by tests and the sandbox endpoints.
struct State {
    generation: u64,
    /// Scripted failures: (AADSTS code, how many more calls answer it).
    fail_queue: VecDeque<(u32, u32)>,
    latency: Duration,
    available: bool,
    consent: bool,
    graph_lifetime: i64,
    stats: Stats,
    recorded: Vec<RecordedTokenRequest>,
}

#[derive(Default)]
struct Stats {
    exchanges: std::collections::BTreeMap<String, u64>,
    successes: std::collections::BTreeMap<String, u64>,
    failures: std::collections::BTreeMap<u32, u64>,
    token_requests: u64,
    discovery_requests: u64,
    jwks_requests: u64,
}

// === EntraSim ===

impl EntraSim {
    /// Starts the simulator on a free loopback port, serving in a background task.
    pub async fn start(seed: SeedTenant) -> std::io::Result<EntraSim> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        EntraSim::start_on(seed, listener).await
    }

    /// Starts the simulator on `listener`, serving in a background task.
    pub async fn start_on(seed: SeedTenant, listener: tokio::net::TcpListener) -> std::io::Result<EntraSim> {
        let addr = listener.local_addr()?;
        let sim = EntraSim::new(seed, &format!("http://{addr}"))?;
        let router = sim.router();
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "entra simulator stopped serving");
            }
        });
        Ok(sim)
    }

    /// Builds a simulator that is reachable at `base_url` (no trailing slash) without serving
    /// it; mount [`EntraSim::router`] there yourself.
    pub fn new(seed: SeedTenant, base_url: &str) -> std::io::Result<EntraSim> {
        let keys = KeyRing::load().map_err(std::io::Error::other)?;
        let directory = Directory::new(&seed);
        let inner = Inner {
            seed,
            directory,
            url: base_url.trim_end_matches('/').to_owned(),
            keys,
            state: Mutex::new(State {
                generation: 0,
                fail_queue: VecDeque::new(),
                latency: Duration::ZERO,
                available: true,
                consent: true,
                graph_lifetime: DEFAULT_GRAPH_TOKEN_LIFETIME_SECS,
                stats: Stats::default(),
                recorded: Vec::new(),
            }),
        };
        Ok(EntraSim { inner: Arc::new(inner) })
    }

    /// The authority base, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn url(&self) -> String {
        self.inner.url.clone()
    }

    /// The seeded tenant this simulator serves.
    pub fn seed(&self) -> &SeedTenant {
        &self.inner.seed
    }

    /// The simulator's routes, for embedding in another server.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/{tenant}/v2.0/.well-known/openid-configuration",
                get(discovery::openid_configuration_v2),
            )
            .route(
                "/{tenant}/.well-known/openid-configuration",
                get(discovery::openid_configuration_v1),
            )
            .route("/{tenant}/discovery/v2.0/keys", get(discovery::jwks_v2))
            .route("/{tenant}/discovery/keys", get(discovery::jwks_v1))
            .route("/{tenant}/oauth2/v2.0/token", post(token_endpoint::token))
            .merge(sandbox::routes())
            .with_state(self.inner.clone())
    }

    /// The verifier the Graph simulator uses for bearer tokens issued here.
    pub fn verifier(&self) -> Arc<dyn crate::GraphTokenVerifier> {
        Arc::new(verifier::GraphVerifier::new(self.inner.clone()))
    }

    /// Mints a token like `POST /sandbox/token` does.
    pub fn mint(&self, req: MintRequest) -> Result<MintedToken, String> {
        sandbox::mint(&self.inner, &req)
    }

    /// A workload-identity token (`iss`/`sub`/`aud` from the seed's federated credential)
    /// signed by the cluster issuer key this simulator trusts.
    pub fn mint_federated_token(&self, lifetime_secs: i64) -> String {
        self.mint_federated_token_with(&FederatedTokenRequest {
            lifetime_secs: Some(lifetime_secs),
            ..FederatedTokenRequest::default()
        })
    }

    /// A workload-identity token with chosen claims (unset ones come from the seed).
    pub fn mint_federated_token_with(&self, req: &FederatedTokenRequest) -> String {
        sandbox::mint_federated(&self.inner, req)
    }

    /// Publishes and signs with the next key and drops the oldest from the JWKS.
    pub fn rotate_keys(&self) {
        self.inner.state.lock().generation += 1;
    }

    /// Key ids currently published in the JWKS, oldest first.
    pub fn published_kids(&self) -> Vec<String> {
        self.inner.published_keys().iter().map(|k| k.kid.clone()).collect()
    }

    /// Key id new tokens are signed with.
    pub fn signing_kid(&self) -> String {
        self.inner.signing_key().kid.clone()
    }

    /// The next `n` token-endpoint calls answer AADSTS `aadsts` in Entra's shape.
    pub fn fail_next(&self, n: u32, aadsts: u32) {
        self.inner.state.lock().queue_failures(n, aadsts);
    }

    /// Delays every token-endpoint answer by `d`.
    pub fn set_latency(&self, d: Duration) {
        self.inner.state.lock().latency = d;
    }

    /// `false`: discovery, JWKS and the token endpoint answer 503 (Entra down).
    pub fn set_available(&self, up: bool) {
        self.inner.state.lock().available = up;
    }

    /// `false`: on-behalf-of answers AADSTS65001 `consent_required` for every tenant.
    pub fn set_consent(&self, granted: bool) {
        self.inner.state.lock().consent = granted;
    }

    /// Lifetime (`expires_in`) of Graph tokens the token endpoint issues from now on.
    pub fn set_graph_token_lifetime(&self, secs: i64) {
        self.inner.state.lock().graph_lifetime = secs;
    }

    /// Counters, as `GET /sandbox/stats` answers them.
    pub fn stats(&self) -> serde_json::Value {
        self.inner.stats_json()
    }

    /// Every token-endpoint POST so far, oldest first.
    pub fn token_requests(&self) -> Vec<RecordedTokenRequest> {
        self.inner.state.lock().recorded.clone()
    }
}

// === State ===

impl State {
    /// The next `n` token-endpoint calls answer `code`.
    fn queue_failures(&mut self, n: u32, code: u32) {
        if n > 0 {
            self.fail_queue.push_back((code, n));
        }
    }

    /// Takes the next scripted failure, if any.
    fn next_failure(&mut self) -> Option<u32> {
        let (code, remaining) = self.fail_queue.front_mut()?;
        let code = *code;
        *remaining -= 1;
        if *remaining == 0 {
            self.fail_queue.pop_front();
        }
        Some(code)
    }

    fn queued_failures(&self) -> u64 {
        self.fail_queue.iter().map(|(_, n)| u64::from(*n)).sum()
    }
}

/// Current Unix time in seconds.
fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

// === Inner ===

impl Inner {
    /// Signs a token for `spec` with the current signing key.
    fn issue(&self, spec: &claims::TokenSpec<'_>) -> Result<String, jwt::JwtError> {
        let key = self.signing_key();
        let graph = claims::is_graph_audience(spec.audience);
        let header = claims::header(spec.version, &key.kid, graph);
        jwt::sign(&header, &claims::payload(spec), &key.encoding)
    }

    /// Keys in the JWKS now, oldest first.
    fn published_keys(&self) -> Vec<&keys::SigningKey> {
        let generation = self.state.lock().generation;
        keys::published(generation)
            .iter()
            .map(|&i| &self.keys.signing[i])
            .collect()
    }

    /// Keys published now or before the last rotation (tokens signed with them still verify
    /// at Graph, as real resources keep recently rolled keys).
    fn recent_keys(&self) -> Vec<&keys::SigningKey> {
        let generation = self.state.lock().generation;
        keys::recently_published(generation)
            .into_iter()
            .map(|i| &self.keys.signing[i])
            .collect()
    }

    /// The key new tokens are signed with.
    fn signing_key(&self) -> &keys::SigningKey {
        let generation = self.state.lock().generation;
        &self.keys.signing[keys::signing_index(generation)]
    }

    fn stats_json(&self) -> serde_json::Value {
        let state = self.state.lock();
        let stats = &state.stats;
        let mut exchanges = serde_json::Map::new();
        let mut successes = serde_json::Map::new();
        for grant in ["obo", "client_credentials"] {
            let count = stats.exchanges.get(grant).copied().unwrap_or(0);
            exchanges.insert(grant.to_owned(), count.into());
            let ok = stats.successes.get(grant).copied().unwrap_or(0);
            successes.insert(grant.to_owned(), ok.into());
        }
        let failures: serde_json::Map<String, serde_json::Value> = stats
            .failures
            .iter()
            .map(|(code, n)| (code.to_string(), (*n).into()))
            .collect();
        let generation = state.generation;
        serde_json::json!({
            "exchanges": exchanges,
            "successes": successes,
            "token_requests": stats.token_requests,
            "failures": failures,
            "discovery_requests": stats.discovery_requests,
            "jwks_requests": stats.jwks_requests,
            "key_generation": generation,
            "signing_kid": self.keys.signing[keys::signing_index(generation)].kid,
            "queued_failures": state.queued_failures(),
        })
    }
}
