//! `naa-gateway token explain JWT [--config PATH]`: what a token says and whether the gateway takes it.
//!
//! The verdict comes from the gateway's own rules ([`crate::auth::check_claims`] for the claims,
//! [`crate::auth::Authenticator`] for the signature), so it cannot drift from what `serve` does;
//! this module only puts the refusal into plain words with the values involved. The token and
//! its signature are never printed.

use std::{path::Path, sync::Arc};

use base64::Engine as _;
use serde_json::Value;

use crate::{
    auth::{self, AuthError, Policy, RejectReason, TenantPolicy},
    config::Config,
};

/// The explanation: decoded parts and the verdict, line by line.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// Decoded JOSE header (no signature).
    pub header: Value,
    /// Decoded claims.
    pub claims: Value,
    /// What kind of token this looks like.
    pub kind: String,
    /// Plain-words findings, the verdict last.
    pub lines: Vec<String>,
    /// Whether the gateway would accept the token (claims, and the signature when checked).
    pub accepted: bool,
}

/// Decodes `token` and judges it against `config` (claims offline; the signature when the
/// tenant's keys can be fetched). Without a configuration only the token's own consistency
/// (kind, lifetime) is judged.
pub async fn explain(token: &str, config: Option<&Config>, now: i64) -> Result<Explanation, String> {
    let token = token.trim().trim_start_matches("Bearer ").trim();
    let (header, claims) = decode(token)?;
    let kind = kind(&claims);
    let mut lines = vec![format!("kind: {kind}")];
    lines.extend(lifetime_lines(&claims, now));
    let Some(config) = config else {
        lines
            .push("not checked against a configuration (pass --config to learn whether the gateway accepts it)".into());
        let policy = self_consistent_policy(&claims);
        let accepted = judge_claims(token, &policy, &claims, now, &mut lines, None);
        return Ok(Explanation {
            header,
            claims,
            kind,
            lines,
            accepted,
        });
    };
    let policy = Policy::from_config(config);
    if !judge_claims(token, &policy, &claims, now, &mut lines, Some(config)) {
        return Ok(Explanation {
            header,
            claims,
            kind,
            lines,
            accepted: false,
        });
    }
    let accepted = judge_signature(token, config, &mut lines).await;
    Ok(Explanation {
        header,
        claims,
        kind,
        lines,
        accepted,
    })
}

fn decode(token: &str) -> Result<(Value, Value), String> {
    let mut parts = token.split('.');
    let (Some(h), Some(p)) = (parts.next(), parts.next()) else {
        return Err("not a JWT: expected header.payload.signature".into());
    };
    if parts.clone().count() != 1 {
        return Err(format!(
            "not a signed JWT: expected 3 dot-separated parts, found {} (encrypted tokens cannot be read)",
            parts.count() + 2
        ));
    }
    let part = |s: &str, what: &str| -> Result<Value, String> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|_| format!("the {what} is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("the {what} is not JSON: {e}"))
    };
    Ok((part(h, "header")?, part(p, "payload")?))
}

/// A description of the token for people: Graph token, ID token, app-only, or user access token.
fn kind(c: &Value) -> String {
    let aud = audiences(c).join(", ");
    let ver = c["ver"].as_str().unwrap_or("?");
    if audiences(c)
        .iter()
        .any(|a| a.contains("graph.microsoft.com") || a == "00000003-0000-0000-c000-000000000000")
    {
        return format!("Microsoft Graph access token (aud {aud}), not a token for the gateway");
    }
    if looks_like_id_token(c) {
        return format!("ID token (v{ver}, aud {aud}): proves a sign-in, cannot call an API");
    }
    if c.get("scp").is_none() {
        return format!("app-only access token (v{ver}, aud {aud}, no user)");
    }
    format!("user access token v{ver} for {aud}")
}

/// The rules of `auth::validate`: a `nonce`, or no scopes, client or roles at all.
fn looks_like_id_token(c: &Value) -> bool {
    c.get("nonce").is_some()
        || (c.get("scp").is_none() && c.get("azp").is_none() && c.get("appid").is_none() && c.get("roles").is_none())
}

fn audiences(c: &Value) -> Vec<String> {
    match &c["aud"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

fn lifetime_lines(c: &Value, now: i64) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(exp) = c["exp"].as_i64() {
        let delta = exp - now;
        lines.push(if delta >= 0 {
            format!("expires in {} (exp {exp})", duration(delta))
        } else {
            format!("expired {} ago (exp {exp})", duration(-delta))
        });
    }
    for (name, label) in [
        ("tid", "tenant"),
        ("oid", "user object id"),
        ("azp", "calling app"),
        ("appid", "calling app"),
        ("scp", "scopes"),
    ] {
        if let Some(v) = c[name].as_str() {
            lines.push(format!("{label}: {v}"));
        }
    }
    lines
}

fn duration(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} seconds"),
        s if s < 7200 => format!("{} minutes", s / 60),
        s if s < 172_800 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// Rules that only ask the token to be a well-formed user access token for its own audience.
fn self_consistent_policy(c: &Value) -> Policy {
    Policy {
        audiences: audiences(c),
        tenants: TenantPolicy::Any,
        required_scope: String::new(),
        allowed_client_apps: Vec::new(),
        allow_app_only: false,
        clock_skew_secs: 0,
    }
}

/// Runs the gateway's claim rules; on refusal adds the reason in plain words. True if accepted.
fn judge_claims(
    token: &str,
    policy: &Policy,
    c: &Value,
    now: i64,
    lines: &mut Vec<String>,
    config: Option<&Config>,
) -> bool {
    let result = auth::parse(token).and_then(|u| auth::check_claims(&u, policy, now, token));
    match result {
        Ok(_) => {
            lines.push("claims: acceptable".into());
            true
        }
        Err(e) => {
            lines.push(format!("REJECTED: {}", plain_reason(&e, policy, c, now, config)));
            false
        }
    }
}

fn plain_reason(e: &AuthError, policy: &Policy, c: &Value, now: i64, config: Option<&Config>) -> String {
    let AuthError::Rejected { reason, description } = e else {
        return e.to_string();
    };
    let claim = |n: &str| c[n].as_str().unwrap_or("(none)").to_string();
    let client_id = config.map_or("<gateway client id>", |c| c.entra.client_id.as_str());
    match reason {
        RejectReason::WrongAudience if description.contains("Graph") => format!(
            "a Microsoft Graph token was sent instead of a gateway token (aud {}); the add-in must request \
             api://{client_id}/{} instead",
            audiences(c).join(", "),
            short_scope(policy)
        ),
        RejectReason::WrongAudience | RejectReason::IdToken if looks_like_id_token(c) => format!(
            "an ID token was sent (aud {} is the add-in itself); the add-in must send the access token \
             (authResult.accessToken) requested for api://{client_id}/{}",
            audiences(c).join(", "),
            short_scope(policy)
        ),
        RejectReason::WrongAudience => format!(
            "wrong audience: expected {}, got {}",
            policy.audiences.join(" or "),
            audiences(c).join(", ")
        ),
        RejectReason::Expired => {
            let exp = c["exp"].as_i64().unwrap_or(now);
            format!(
                "expired {} ago (the gateway tolerates {} s of clock skew)",
                duration(now - exp),
                policy.clock_skew_secs
            )
        }
        RejectReason::NotYetValid => format!("not valid yet (nbf {})", c["nbf"]),
        RejectReason::TenantNotAllowed => format!(
            "tenant {} is not allowed (entra.allowed_tenants = {:?})",
            claim("tid"),
            config.map(|c| c.entra.allowed_tenants.clone()).unwrap_or_default()
        ),
        RejectReason::MissingScope => format!(
            "scope missing: the token has scp {:?}, the gateway requires {:?}",
            claim("scp"),
            policy.required_scope
        ),
        RejectReason::ClientNotAllowed => format!(
            "calling application {} is not in entra.allowed_client_apps {:?}",
            c["azp"].as_str().or(c["appid"].as_str()).unwrap_or("(none)"),
            policy.allowed_client_apps
        ),
        RejectReason::WrongIssuer => format!(
            "wrong issuer: {} does not match tenant {} (expected {})",
            claim("iss"),
            claim("tid"),
            auth::issuers_for(&claim("tid")).join(" or ")
        ),
        RejectReason::AppOnly => "an app-only token (no user); entra.allow_app_only is off".into(),
        _ => description.clone(),
    }
}

fn short_scope(policy: &Policy) -> &str {
    if policy.required_scope.is_empty() {
        "access_as_user"
    } else {
        &policy.required_scope
    }
}

/// Validates completely (keys from the tenant's discovery document). True if accepted.
async fn judge_signature(token: &str, config: &Config, lines: &mut Vec<String>) -> bool {
    let http = match crate::http::client(std::time::Duration::from_secs(5)) {
        Ok(h) => h,
        Err(e) => {
            lines.push(format!("signature: not checked ({e})"));
            return false;
        }
    };
    let metrics = Arc::new(crate::telemetry::Metrics::default());
    let authenticator = auth::Authenticator::new(config, http, metrics);
    match authenticator.authenticate(Some(&format!("Bearer {token}"))).await {
        Ok(_) => {
            lines.push("signature: valid".into());
            lines.push("ACCEPTED: the gateway would accept this token".into());
            true
        }
        Err(AuthError::KeysUnavailable { tenant_id, .. }) => {
            lines.push(format!(
                "signature: not checked: the signing keys of tenant {tenant_id} could not be fetched from {} \
                 (offline?); the claims are acceptable",
                config.entra.authority
            ));
            false
        }
        Err(AuthError::Rejected {
            reason: RejectReason::UnknownKey,
            ..
        }) => {
            lines.push(
                "REJECTED: unknown key: the token's kid is not among the tenant's published signing keys \
                 (a token from another cloud or app-specific keys, or a forged token)"
                    .into(),
            );
            false
        }
        Err(e) => {
            lines.push(format!("REJECTED: {e}"));
            false
        }
    }
}

/// Prints the explanation; exit 0 when accepted, 1 otherwise (2 when the token cannot be read).
pub async fn run(token: &str, config: Option<&Path>) -> std::process::ExitCode {
    let config = match config.map(|p| Config::load(Some(p))).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    match explain(token, config.as_ref(), now).await {
        Ok(x) => {
            println!("header: {}", x.header);
            println!(
                "claims: {}",
                serde_json::to_string_pretty(&x.claims).unwrap_or_default()
            );
            for line in &x.lines {
                println!("{line}");
            }
            if x.accepted {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
