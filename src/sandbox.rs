//! `naa-gateway sandbox`: simulated Entra ID and Graph plus a gateway configured against them.
//!
//! Prints one JSON line on stdout when ready (a public contract scripts parse) and a short
//! guide with copy-paste commands on stderr.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use figment::{
    Figment,
    providers::{Format, Serialized, Toml},
};
use naa_sim::{sandbox::Sims, seed::SeedTenant};

use crate::{
    app::Application,
    config::{Config, DEFAULTS},
};

/// Which client credential the sandbox gateway uses towards the simulated Entra ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SandboxCredential {
    /// Client secret.
    Secret,
    /// Certificate (RS256 client assertion with `x5t`).
    Certificate,
    /// Certificate (PS256 client assertion with `x5t#S256`).
    CertificatePs256,
    /// Federated token file, rewritten periodically like a projected service-account token.
    Federated,
}

/// Runs the sandbox until Ctrl-C/SIGTERM.
pub async fn run(listen: SocketAddr, credential: SandboxCredential) -> anyhow::Result<ExitCode> {
    let sims = naa_sim::sandbox::start(SeedTenant::contoso()).await?;
    let dir = std::env::temp_dir().join(format!("naa-gateway-sandbox-{}", std::process::id()));
    let figment = sandbox_figment(&sims, listen, credential, &dir)?;
    let config = Config::from_figment(figment).map_err(|e| anyhow::anyhow!("{e}"))?;
    let refresher = (credential == SandboxCredential::Federated).then(|| spawn_federated_refresher(&sims, &dir));
    let app = Application::build(config).await?;
    let addr = app.local_addr()?;
    let gateway = format!("http://{addr}");
    let line = ready_line(&sims, &gateway);
    println!("{line}");
    eprintln!("{}", guide(&sims, &gateway));
    let result = app.run_until_stopped(crate::cli::shutdown_signal()).await;
    if let Some(handle) = refresher {
        handle.abort();
    }
    let _ = std::fs::remove_dir_all(&dir);
    result.map(|()| ExitCode::SUCCESS)
}

/// The gateway configuration pointing at `sims`, as a figment so tests can layer overrides.
/// Credential files (certificate, federated token) are written under `dir`.
pub fn sandbox_figment(
    sims: &Sims,
    listen: SocketAddr,
    credential: SandboxCredential,
    dir: &std::path::Path,
) -> anyhow::Result<Figment> {
    let seed = &sims.seed;
    let credential_value = match credential {
        SandboxCredential::Secret => serde_json::json!({
            "kind": "secret", "secret": { "value": seed.gateway_client_secret },
        }),
        SandboxCredential::Certificate | SandboxCredential::CertificatePs256 => {
            std::fs::create_dir_all(dir)?;
            let cert = dir.join("gateway-client-cert.pem");
            std::fs::write(&cert, naa_sim::seed::GATEWAY_CERT_PEM)?;
            let algorithm = if credential == SandboxCredential::Certificate {
                "rs256"
            } else {
                "ps256"
            };
            serde_json::json!({
                "kind": "certificate",
                "certificate_file": cert,
                "private_key": { "value": naa_sim::seed::GATEWAY_CERT_KEY_PEM },
                "algorithm": algorithm,
            })
        }
        SandboxCredential::Federated => {
            let file = write_federated_token(sims, dir)?;
            serde_json::json!({ "kind": "federated", "token_file": file })
        }
    };
    let values = serde_json::json!({
        "server": { "listen": listen.to_string(), "shutdown_grace_secs": 5 },
        "entra": {
            "authority": sims.entra.url(),
            "client_id": seed.gateway_client_id,
            "audiences": [seed.gateway_app_id_uri],
            "allowed_tenants": [seed.tenant_id],
            "credential": credential_value,
        },
        "graph": { "base_url": format!("{}/v1.0", sims.graph.url()) },
    });
    Ok(Figment::new()
        .merge(Toml::string(DEFAULTS))
        .merge(Serialized::defaults(values)))
}

fn write_federated_token(sims: &Sims, dir: &std::path::Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let file = dir.join("federated-token");
    let tmp = dir.join("federated-token.tmp");
    std::fs::write(&tmp, sims.entra.mint_federated_token(3600))?;
    std::fs::rename(&tmp, &file)?;
    Ok(file)
}

/// Rewrites the federated token every 10 minutes, as the kubelet rotates projected tokens.
fn spawn_federated_refresher(sims: &Sims, dir: &std::path::Path) -> tokio::task::JoinHandle<()> {
    let sims = sims.clone();
    let dir = dir.to_path_buf();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(600)).await;
            if let Err(e) = write_federated_token(&sims, &dir) {
                tracing::warn!(error = %e, "could not rewrite the sandbox federated token");
            }
        }
    })
}

/// The one JSON line printed when the sandbox is ready.
pub fn ready_line(sims: &Sims, gateway: &str) -> serde_json::Value {
    let seed = &sims.seed;
    serde_json::json!({
        "gateway": gateway,
        "ews_url": format!("{gateway}/EWS/Exchange.asmx"),
        "entra": sims.entra.url(),
        "graph": sims.graph.url(),
        "tenant_id": seed.tenant_id,
        "client_id": seed.gateway_client_id,
        "scope": format!("{}/access_as_user", seed.gateway_app_id_uri),
        "users": seed.users.iter().map(|u| u.upn.clone()).collect::<Vec<_>>(),
    })
}

fn guide(sims: &Sims, gateway: &str) -> String {
    let entra = sims.entra.url();
    let graph = sims.graph.url();
    let user = sims
        .seed
        .users
        .first()
        .map(|u| u.upn.as_str())
        .unwrap_or("alice@contoso.com");
    let messages = sims.graph.messages(user);
    let with_attachment = messages.iter().find(|m| {
        m["attachments"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["kind"] == "file"))
    });
    let msg = with_attachment
        .and_then(|m| m["rest_id"].as_str())
        .unwrap_or("<message rest_id>");
    let att = with_attachment
        .and_then(|m| m["attachments"].as_array())
        .and_then(|a| a.iter().find(|a| a["kind"] == "file"))
        .and_then(|a| a["rest_id"].as_str())
        .unwrap_or("<attachment rest_id>");
    format!(
        r#"
naa-gateway sandbox is ready: gateway {gateway}, simulated Entra ID {entra}, simulated Graph {graph}.

# 1. A token as Nested App Authentication would hand it to the add-in:
TOKEN=$(curl -s -X POST {entra}/sandbox/token -H 'content-type: application/json' \
  -d '{{"user":"{user}"}}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
# 2. A seeded message and one of its attachments through the gateway:
curl -s -H "Authorization: Bearer $TOKEN" '{gateway}/v1.0/me/messages/{msg}?$select=subject,from'
curl -s -H "Authorization: Bearer $TOKEN" '{gateway}/v1.0/me/messages/{msg}/attachments/{att}/$value' -o attachment.bin
# 3. Every seeded message with its ids (EWS and REST form):
curl -s {graph}/sandbox/mailboxes/{user}/messages
# Counters: curl -s {entra}/sandbox/stats ; curl -s {graph}/sandbox/stats . Stop with Ctrl-C.
"#
    )
}
