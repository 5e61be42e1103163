//! Admin tools against the simulators: `doctor`, `token explain`, and the binary's policy commands.

use std::process::Command;

use naa_gateway::cli::{doctor, token};
use serde_json::json;

use crate::support::{Options, spawn_app, spawn_app_with};

const BIN: &str = env!("CARGO_BIN_EXE_naa-gateway");

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn failed(checks: &[doctor::Check]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| c.passed == Some(false))
        .map(doctor::Check::line)
        .collect()
}

#[tokio::test]
async fn doctor_passes_every_line_against_the_sandbox() {
    let app = spawn_app().await;
    let token = app.token_for(app.alice()).await;
    let checks = doctor::checks_for((*app.state.config).clone(), Some(&token)).await;
    let lines: Vec<String> = checks.iter().map(doctor::Check::line).collect();
    assert!(checks.iter().all(|c| c.passed == Some(true)), "{lines:#?}");
    for name in [
        "configuration",
        "policies",
        "signing keys",
        "client credential",
        "token",
        "on-behalf-of",
        "Graph read",
    ] {
        assert!(
            checks.iter().any(|c| c.name.starts_with(name)),
            "{name} missing: {lines:#?}"
        );
    }
    assert!(!lines.join("\n").contains(&token), "the token is never printed");
}

#[tokio::test]
async fn doctor_names_a_wrong_secret_and_the_key_to_fix() {
    let app = spawn_app_with(Options {
        overrides: json!({ "entra": { "credential": { "kind": "secret", "secret": { "value": "not-the-secret" } } } }),
        ..Options::default()
    })
    .await;
    let checks = doctor::checks_for((*app.state.config).clone(), None).await;
    let failed = failed(&checks);
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert!(
        failed[0].contains("client credential")
            && failed[0].contains("AADSTS7000215")
            && failed[0].contains("entra.credential.secret"),
        "{failed:#?}"
    );
    let grants: Vec<_> = app.sims.entra.token_requests().into_iter().map(|r| r.grant).collect();
    assert_eq!(
        grants,
        [Some("client_credentials".to_string())],
        "one app-only request, no OBO"
    );
    assert!(!failed[0].contains("not-the-secret"), "the secret is never printed");
}

#[tokio::test]
async fn doctor_names_the_certificate_keys_when_the_certificate_is_not_registered() {
    // A real key pair, but not the certificate registered on the simulated app registration.
    let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sim/keys");
    let app = spawn_app_with(Options {
        credential: naa_gateway::sandbox::SandboxCredential::Certificate,
        overrides: json!({ "entra": { "credential": {
            "certificate_file": keys.join("entra-signing-1.crt.pem"),
            "private_key": { "value": std::fs::read_to_string(keys.join("entra-signing-1.pem")).unwrap() },
        } } }),
        ..Options::default()
    })
    .await;
    let checks = doctor::checks_for((*app.state.config).clone(), None).await;
    let failed = failed(&checks);
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert!(
        failed[0].contains("client credential (certificate)")
            && failed[0].contains("AADSTS700027")
            && failed[0].contains("entra.credential.certificate_file")
            && failed[0].contains("entra.credential.private_key"),
        "{failed:#?}"
    );
    assert!(!failed[0].contains("PRIVATE KEY"), "no key material is printed");
}

#[tokio::test]
async fn doctor_passes_the_registered_certificate() {
    let app = spawn_app_with(Options {
        credential: naa_gateway::sandbox::SandboxCredential::Certificate,
        ..Options::default()
    })
    .await;
    let checks = doctor::checks_for((*app.state.config).clone(), None).await;
    let line = checks
        .iter()
        .find(|c| c.name == "client credential (certificate)")
        .map(doctor::Check::line)
        .unwrap_or_default();
    assert!(line.starts_with("[PASS]"), "{line:?} in {checks:#?}");
    let requests = app.sims.entra.token_requests();
    assert!(
        requests
            .iter()
            .any(|r| r.grant.as_deref() == Some("client_credentials")),
        "the check is a client-credentials request"
    );
}

#[tokio::test]
async fn doctor_sends_the_admin_to_the_consent_url_when_consent_is_missing() {
    let app = spawn_app().await;
    let token = app.token_for(app.alice()).await;
    app.sims.entra.set_consent(false);
    let checks = doctor::checks_for((*app.state.config).clone(), Some(&token)).await;
    let failed = failed(&checks);
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert!(failed[0].contains("on-behalf-of"), "{failed:#?}");
    assert!(failed[0].contains("/v2.0/adminconsent?client_id="), "{failed:#?}");
}

#[tokio::test]
async fn doctor_says_when_entra_is_unreachable() {
    let app = spawn_app().await;
    app.sims.entra.set_available(false);
    let checks = doctor::checks_for((*app.state.config).clone(), None).await;
    let failed = failed(&checks);
    assert!(
        failed
            .iter()
            .any(|l| l.contains("signing keys") && l.contains("openid-configuration")),
        "{failed:#?}"
    );
    assert!(
        failed
            .iter()
            .any(|l| l.contains("client credential") && l.contains("entra.authority")),
        "{failed:#?}"
    );
}

#[tokio::test]
async fn doctor_reports_an_invalid_configuration_file() {
    let path = std::env::temp_dir().join(format!("naa-doctor-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&path, "[entra]\nclient_id = \"nope\"\n").unwrap();
    let checks = doctor::run_checks(&path, None).await;
    let _ = std::fs::remove_file(&path);
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].passed, Some(false));
    assert!(checks[0].detail.contains("entra.client_id"), "{checks:?}");
}

#[tokio::test]
async fn token_explain_accepts_a_good_token_and_checks_its_signature() {
    let app = spawn_app().await;
    let token = app.token_for(app.alice()).await;
    let x = token::explain(&token, Some(&app.state.config), now()).await.unwrap();
    assert!(x.accepted, "{:#?}", x.lines);
    assert!(x.lines.iter().any(|l| l == "signature: valid"), "{:#?}", x.lines);
    assert_eq!(x.claims["tid"], app.seed().tenant_id);
    assert!(x.header.get("kid").is_some());
    let printed = format!("{} {} {}", x.header, x.claims, x.lines.join(" "));
    assert!(
        !printed.contains(token.rsplit('.').next().unwrap()),
        "the signature is never shown"
    );
}

#[tokio::test]
async fn token_explain_says_exactly_why_a_token_is_refused() {
    let app = spawn_app().await;
    let config = &app.state.config;
    let explain = |token: String| async move { token::explain(&token, Some(config), now()).await.unwrap() };
    let cases = [
        (
            json!({ "user": app.alice(), "audience": "https://graph.microsoft.com" }),
            "Microsoft Graph token was sent",
        ),
        (
            json!({ "user": app.alice(), "audience": "api://someone-else" }),
            "wrong audience: expected",
        ),
        (json!({ "user": app.alice(), "kind": "id" }), "ID token"),
        (
            json!({ "user": app.alice(), "lifetime_secs": -3600 }),
            "expired 60 minutes ago",
        ),
        (json!({ "user": app.alice(), "scope": "Files.Read" }), "scope missing"),
    ];
    for (request, needle) in cases {
        let x = explain(app.token(request.clone()).await).await;
        assert!(!x.accepted, "{request}");
        let verdict = x.lines.last().unwrap();
        assert!(
            verdict.starts_with("REJECTED") && verdict.contains(needle),
            "{request}: {:#?}",
            x.lines
        );
    }
    let wrong_aud = explain(
        app.token(json!({ "user": app.alice(), "audience": "api://someone-else" }))
            .await,
    )
    .await;
    assert!(
        wrong_aud.lines.last().unwrap().contains("got api://someone-else"),
        "{:#?}",
        wrong_aud.lines
    );
}

#[tokio::test]
async fn token_explain_names_a_tenant_that_is_not_allowed() {
    let app = spawn_app_with(Options {
        overrides: json!({ "entra": { "allowed_tenants": ["00000000-0000-0000-0000-00000000beef"] } }),
        ..Options::default()
    })
    .await;
    let token = app.token_for(app.alice()).await;
    let x = token::explain(&token, Some(&app.state.config), now()).await.unwrap();
    let verdict = x.lines.last().unwrap();
    assert!(
        verdict.contains(&format!("tenant {} is not allowed", app.seed().tenant_id)),
        "{verdict}"
    );
}

#[tokio::test]
async fn token_explain_works_offline_and_without_configuration() {
    let app = spawn_app().await;
    let token = app.token_for(app.alice()).await;
    app.sims.entra.set_available(false);
    let x = token::explain(&token, Some(&app.state.config), now()).await.unwrap();
    assert!(!x.accepted);
    assert!(
        x.lines.iter().any(|l| l.contains("claims: acceptable")),
        "{:#?}",
        x.lines
    );
    assert!(
        x.lines.last().unwrap().contains("signature: not checked"),
        "{:#?}",
        x.lines
    );
    let bare = token::explain(&token, None, now()).await.unwrap();
    assert!(bare.kind.starts_with("user access token v2"), "{}", bare.kind);
    assert!(
        bare.lines.iter().any(|l| l.contains("pass --config")),
        "{:#?}",
        bare.lines
    );
    assert!(token::explain("not-a-token", None, now()).await.is_err());
}

#[test]
fn policy_test_runs_the_shipped_tables_and_check_lists_every_error_with_its_line() {
    let policies = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");
    let out = Command::new(BIN).args(["policy", "test", policies]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("0 failed") && stdout.contains("block-executables"),
        "{stdout}"
    );

    let dir = std::env::temp_dir().join(format!("naa-policy-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.cedar"),
        "permit (principal, action == Action::\"ReadBodyy\", resource);\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("b.cedar"),
        "// two lines down\n\npermit (principal, action == Action::\"ReadBody\", resource) when { resource.nope };\n",
    )
    .unwrap();
    let out = Command::new(BIN).args(["policy", "check"]).arg(&dir).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("a.cedar:1:"), "{stderr}");
    assert!(stderr.contains("b.cedar:3:"), "{stderr}");
}
