//! `naa-gateway doctor --config PATH [--token JWT]`: a pass/fail checklist of the whole set-up.
//!
//! Each line runs the gateway's own code path (configuration load, policy load, key discovery,
//! the token endpoint, the OBO broker, the Graph client) and, on failure, says what to change.
//! Nothing here logs or prints a token or a secret.

use std::{path::Path, process::ExitCode, sync::Arc};

use crate::{auth::Caller, config::Config, graph::GraphRequest, obo::OboError, state::AppState};

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Passed, failed, or skipped (`None`).
    pub passed: Option<bool>,
    /// What was found, and on failure what to change.
    pub detail: String,
}

// === impl Check ===

impl Check {
    fn pass(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            passed: Some(true),
            detail: detail.into(),
        }
    }

    fn fail(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            passed: Some(false),
            detail: detail.into(),
        }
    }

    fn skip(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            passed: None,
            detail: detail.into(),
        }
    }

    /// `[PASS] name: detail`.
    pub fn line(&self) -> String {
        let mark = match self.passed {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "SKIP",
        };
        format!("[{mark}] {}: {}", self.name, self.detail)
    }
}

/// Runs the checklist for the configuration at `path`.
pub async fn run_checks(path: &Path, token: Option<&str>) -> Vec<Check> {
    let config = match Config::load(Some(path)) {
        Ok(c) => c,
        Err(e) => {
            return vec![Check::fail(
                "configuration",
                format!("{}: {}", path.display(), e.problems.join("; ")),
            )];
        }
    };
    checks_for(config, token).await
}

/// Runs the checklist for an already loaded configuration.
pub async fn checks_for(config: Config, token: Option<&str>) -> Vec<Check> {
    let mut checks = vec![Check::pass("configuration", "valid")];
    let state = match crate::app::build_state(config) {
        Ok(s) => s,
        Err(e) => {
            checks.push(Check::fail("start-up", format!("{e:#}")));
            return checks;
        }
    };
    checks.push(policy_check(&state));
    let tenants = configured_tenants(&state, token);
    if tenants.is_empty() {
        checks.push(Check::skip(
            "signing keys",
            "entra.allowed_tenants is [\"*\"]: pass --token to check the caller's tenant",
        ));
    }
    state.auth.warm_up().await;
    for tid in &tenants {
        checks.push(keys_check(&state, tid).await);
    }
    if let Some(tid) = tenants.first() {
        checks.push(credential_check(&state, tid).await);
    } else {
        checks.push(Check::skip("client credential", "no tenant to ask; pass --token"));
    }
    if let Some(token) = token {
        checks.extend(token_checks(&state, token).await);
    } else {
        checks.push(Check::skip(
            "on-behalf-of and Graph",
            "pass --token JWT (a user's NAA token) to try them",
        ));
    }
    checks
}

fn configured_tenants(state: &AppState, token: Option<&str>) -> Vec<String> {
    let mut tenants: Vec<String> = state
        .config
        .entra
        .allowed_tenants
        .iter()
        .filter(|t| *t != "*")
        .map(|t| t.to_ascii_lowercase())
        .collect();
    if tenants.is_empty()
        && let Some(tid) = token
            .and_then(|t| crate::auth::parse(t).ok())
            .and_then(|u| u.claims.tid)
    {
        tenants.push(tid.to_ascii_lowercase());
    }
    tenants
}

fn policy_check(state: &AppState) -> Check {
    let summary = state.policy.summary();
    let scopes = state.config.obo.scopes.join(" ");
    let asks_write = scopes.contains("Mail.ReadWrite") || scopes.contains(".default");
    let detail = format!(
        "{} policies from {} ({})",
        summary.policy_ids.len(),
        summary.origin,
        if summary.may_write {
            "writes possible"
        } else {
            "read-only"
        }
    );
    if summary.may_write && !asks_write {
        return Check::fail(
            "policies",
            format!(
                "{detail}, but obo.scopes ({scopes}) lacks Mail.ReadWrite: Graph would refuse the writes the \
                 policies allow; add https://graph.microsoft.com/Mail.ReadWrite to obo.scopes"
            ),
        );
    }
    Check::pass("policies", detail)
}

async fn keys_check(state: &AppState, tid: &str) -> Check {
    let name = format!("signing keys of tenant {tid}");
    match state.auth.tenant_keys(tid) {
        Some(keys) => Check::pass(name, format!("{} key(s) from discovery", keys.kids().len())),
        None => Check::fail(
            name,
            format!(
                "could not load {}/{tid}/v2.0/.well-known/openid-configuration and its keys: check entra.authority, \
                 the tenant id, and that this host can reach Entra ID (proxy, firewall, DNS)",
                state.config.entra.authority.trim_end_matches('/')
            ),
        ),
    }
}

/// Asks Entra ID to authenticate the gateway's client credential. The request carries a
/// placeholder user assertion: Entra ID checks the client credential before the assertion, so
/// an assertion error means the credential itself was accepted.
async fn credential_check(state: &AppState, tid: &str) -> Check {
    let name = format!("client credential ({})", credential_kind(&state.config));
    let probe = Caller {
        tenant_id: tid.to_string(),
        oid: "doctor".into(),
        subject: "doctor".into(),
        client_app: None,
        scopes: Vec::new(),
        username: None,
        version: 2,
        expires_at: i64::MAX,
        assertion: Arc::from("eyJhbGciOiJSUzI1NiJ9.eyJkb2N0b3IiOnRydWV9.cHJvYmU"),
    };
    match state.obo.graph_token(&probe, None).await {
        Ok(_) | Err(OboError::InvalidAssertion { .. }) | Err(OboError::InteractionRequired { .. }) => {
            Check::pass(name, "accepted by Entra ID")
        }
        Err(OboError::ClientCredential { problem, .. }) => Check::fail(name, problem),
        Err(e @ OboError::ConsentRequired { .. }) => Check::fail(
            name,
            format!(
                "{}; the registration entra.client_id must exist in (or be consented to by) tenant {tid}",
                e.context().message
            ),
        ),
        Err(e @ OboError::Unavailable { .. }) => Check::fail(
            name,
            format!(
                "{}: check entra.authority and that this host can reach it",
                e.context().message
            ),
        ),
        Err(e) => Check::fail(name, e.context().message.clone()),
    }
}

fn credential_kind(config: &Config) -> &'static str {
    match &config.entra.credential {
        Some(crate::config::CredentialConfig::Secret { .. }) => "secret",
        Some(crate::config::CredentialConfig::Certificate { .. }) => "certificate",
        Some(crate::config::CredentialConfig::Federated { .. }) => "federated token",
        None => "none",
    }
}

async fn token_checks(state: &AppState, token: &str) -> Vec<Check> {
    let caller = match state.auth.authenticate(Some(&format!("Bearer {token}"))).await {
        Ok(c) => c,
        Err(e) => {
            return vec![Check::fail(
                "token",
                format!("the gateway would refuse it: {e} (run `naa-gateway token explain` for details)"),
            )];
        }
    };
    let mut checks = vec![Check::pass(
        "token",
        format!("accepted (tenant {}, user {})", caller.tenant_id, caller.oid),
    )];
    let graph_token = match state.obo.graph_token(&caller, None).await {
        Ok(t) => t,
        Err(e) => {
            let detail = match &e {
                OboError::ConsentRequired { admin_consent_url, .. } => {
                    format!(
                        "{}: a tenant administrator must open {admin_consent_url}",
                        e.context().message
                    )
                }
                OboError::ClientCredential { problem, .. } => problem.clone(),
                _ => e.context().message.clone(),
            };
            checks.push(Check::fail("on-behalf-of exchange", detail));
            return checks;
        }
    };
    checks.push(Check::pass(
        "on-behalf-of exchange",
        format!("Graph token for {}", state.config.obo.scopes.join(" ")),
    ));
    checks.push(graph_check(state, &caller, &graph_token).await);
    checks
}

async fn graph_check(state: &AppState, caller: &Caller, token: &crate::obo::GraphToken) -> Check {
    use secrecy::ExposeSecret;
    let request_id = uuid::Uuid::new_v4().to_string();
    let mailbox = caller.mailbox_key();
    let request = GraphRequest {
        method: axum::http::Method::GET,
        path_and_query: "/me/messages?$top=1&$select=id",
        bearer: token.access_token.expose_secret(),
        mailbox: &mailbox,
        client_request_id: &request_id,
        headers: Vec::new(),
        body: None,
    };
    match state.graph.send(request).await {
        Ok(res) if res.status.is_success() => Check::pass("Graph read", "GET /me/messages answered"),
        Ok(res) => Check::fail(
            "Graph read",
            format!(
                "GET /me/messages answered HTTP {} (client-request-id {request_id}): check graph.base_url and the \
                 consented Mail permission",
                res.status
            ),
        ),
        Err(e) => Check::fail("Graph read", format!("{e}: check graph.base_url and network access")),
    }
}

/// Prints the checklist; exit 0 when nothing failed, 1 otherwise.
pub async fn run(path: &Path, token: Option<&str>) -> ExitCode {
    let checks = run_checks(path, token).await;
    for c in &checks {
        println!("{}", c.line());
    }
    let failed = checks.iter().filter(|c| c.passed == Some(false)).count();
    if failed == 0 {
        println!("all checks passed");
        ExitCode::SUCCESS
    } else {
        println!("{failed} check(s) failed");
        ExitCode::FAILURE
    }
}
