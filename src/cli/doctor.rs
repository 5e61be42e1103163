//! `naa-gateway doctor --config PATH [--token JWT]`: a pass/fail checklist of the whole set-up.
//!
//! Each line runs the gateway's own code path (configuration load, policy load, key discovery,
//! the token endpoint, the OBO broker, the Graph client) and, on failure, says what to change.
//! Nothing here logs or prints a token or a secret.

use std::{path::Path, process::ExitCode, time::Duration};

use crate::{
    auth::Caller,
    config::Config,
    graph::GraphRequest,
    idp::{CredentialKind, EntraClient, EntraError, IdpError},
    obo::OboError,
    state::AppState,
};

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

/// Asks Entra ID to authenticate the gateway's client credential with an app-only
/// (`client_credentials`) request for `https://graph.microsoft.com/.default`.
///
/// Entra ID authenticates the client before it judges anything else, so a wrong or expired
/// secret, an unregistered certificate or an unmatched federated credential shows up as
/// `invalid_client` (AADSTS7000215, 7000222, 700027, 700024, 7000218, 700211–700213). A consent
/// answer (AADSTS65001, `consent_required`) therefore means the credential was accepted: the
/// app-only grant merely lacks admin consent for application permissions, which the gateway never
/// uses (it acts on behalf of users), so this line passes and says so.
async fn credential_check(state: &AppState, tid: &str) -> Check {
    let name = format!("client credential ({})", credential_kind(&state.config));
    let client = match entra_client(&state.config) {
        Ok(c) => c,
        Err(detail) => return Check::fail(name, detail),
    };
    let client_request_id = uuid::Uuid::new_v4().to_string();
    match client.client_credentials(tid, &client_request_id).await {
        Ok(_) => Check::pass(name, "accepted by Entra ID"),
        Err(error) => credential_verdict(name, &error, client.credential_kind(), &client_request_id),
    }
}

/// A token-endpoint client of its own, so the check neither touches nor fills the OBO cache.
fn entra_client(config: &Config) -> Result<EntraClient, String> {
    let credential = config.resolve_credential().map_err(|problems| problems.join("; "))?;
    let http = crate::http::client(Duration::from_secs(5)).map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    Ok(EntraClient::new(config, credential, http))
}

/// What a failed client-credentials request says about the credential.
fn credential_verdict(name: String, error: &IdpError, kind: CredentialKind, client_request_id: &str) -> Check {
    let reach = "check entra.authority and that this host can reach it (proxy, firewall, DNS)";
    match error {
        IdpError::Entra { body, .. } if is_consent(body) => Check::pass(
            name,
            format!(
                "accepted by Entra ID (it answered {} for the app-only request, which is judged only after the \
                 credential; the gateway needs no application permissions)",
                body.label()
            ),
        ),
        IdpError::Entra { body, .. } if body.error == "invalid_client" => Check::fail(
            name,
            format!(
                "Entra ID rejected the credential ({}): {}; change {} (client-request-id {client_request_id})",
                body.label(),
                entra_reason(body),
                credential_keys(kind)
            ),
        ),
        IdpError::Entra { status, body, .. } if *status == 429 || *status >= 500 => {
            Check::fail(name, format!("{error}: Entra ID is unavailable; {reach}"))
        }
        IdpError::Entra { body, .. } => Check::fail(
            name,
            format!(
                "{error}: {}; check entra.client_id and that the app registration exists in this tenant \
                 (client-request-id {client_request_id})",
                entra_reason(body)
            ),
        ),
        IdpError::Credential { .. } => Check::fail(name, error.to_string()),
        IdpError::InvalidTenant(_) => Check::fail(name, format!("{error}: fix entra.allowed_tenants")),
        IdpError::Timeout(_) | IdpError::Network(_) | IdpError::UnexpectedStatus { .. } => {
            Check::fail(name, format!("{error}: {reach}"))
        }
        IdpError::InvalidResponse(_) => Check::fail(name, format!("{error}: {reach}")),
    }
}

/// Consent is judged after client authentication, so its refusal proves the credential good.
fn is_consent(body: &EntraError) -> bool {
    body.error == "consent_required" || body.suberror.as_deref() == Some("consent_required") || body.has_code(&[65001])
}

/// Entra's own explanation without its `AADSTSnnnn:` prefix (the label is shown already) and
/// without the trace and correlation ids it appends (on new lines, or after a space).
fn entra_reason(body: &EntraError) -> String {
    let description = body.error_description.as_deref().unwrap_or_default();
    let first = description.lines().next().unwrap_or_default();
    let first = first.split(" Trace ID:").next().unwrap_or_default().trim();
    let text = match first.split_once(": ") {
        Some((label, rest)) if label.starts_with("AADSTS") => rest.trim(),
        _ => first,
    };
    if text.is_empty() {
        body.error.clone()
    } else {
        text.to_string()
    }
}

/// The configuration keys behind each credential kind (a certificate is the pair of files).
fn credential_keys(kind: CredentialKind) -> String {
    match kind {
        CredentialKind::Certificate => format!(
            "entra.credential.certificate_file / {} (the certificate must be registered on the app registration \
             and match the key)",
            kind.config_key()
        ),
        CredentialKind::Secret => format!(
            "{} (use the secret's value, not its id; secrets expire)",
            kind.config_key()
        ),
        CredentialKind::Federated => format!(
            "{} or the app registration's federated identity credential (issuer, subject, audience)",
            kind.config_key()
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entra(status: u16, body: &str) -> IdpError {
        IdpError::Entra {
            status,
            retry_after: None,
            body: Box::new(EntraError::parse(body.as_bytes()).unwrap()),
        }
    }

    fn verdict(error: &IdpError, kind: CredentialKind) -> Check {
        credential_verdict("client credential".into(), error, kind, "req-1")
    }

    #[test]
    fn a_consent_answer_means_the_credential_was_accepted() {
        let body = r#"{"error":"invalid_grant","error_description":"AADSTS65001: The user or administrator has not consented.\r\nTrace ID: x","error_codes":[65001],"suberror":"consent_required"}"#;
        let check = verdict(&entra(400, body), CredentialKind::Secret);
        assert_eq!(check.passed, Some(true), "{}", check.line());
        assert!(check.detail.contains("AADSTS65001"), "{}", check.line());
    }

    #[test]
    fn an_expired_secret_names_the_secret_key_with_entras_reason() {
        let body = r#"{"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys are expired.\r\nTrace ID: abc","error_codes":[7000222]}"#;
        let check = verdict(&entra(401, body), CredentialKind::Secret);
        assert_eq!(check.passed, Some(false));
        let line = check.line();
        assert!(
            line.contains("entra.credential.secret") && line.contains("keys are expired"),
            "{line}"
        );
        assert!(!line.contains("Trace ID"), "{line}");
    }

    #[test]
    fn an_unmatched_federated_credential_names_the_token_file() {
        let body = r#"{"error":"invalid_client","error_description":"AADSTS700213: No matching federated identity record found.","error_codes":[700213]}"#;
        let line = verdict(&entra(401, body), CredentialKind::Federated).line();
        assert!(
            line.starts_with("[FAIL]") && line.contains("entra.credential.token_file"),
            "{line}"
        );
    }

    #[test]
    fn an_unavailable_entra_points_at_the_authority_and_the_network() {
        let body = r#"{"error":"temporarily_unavailable","error_description":"AADSTS90033: A transient error has occurred.","error_codes":[90033]}"#;
        let line = verdict(&entra(503, body), CredentialKind::Secret).line();
        assert!(line.starts_with("[FAIL]") && line.contains("entra.authority"), "{line}");
        assert!(!line.contains("entra.credential"), "not a credential problem: {line}");
    }
}
