//! Gateway configuration: embedded defaults → TOML file → `NAA__` environment, validated all at once.
//!
//! Loading never panics and never stops at the first problem: [`Config::load`] returns every
//! problem it found so `naa-gateway check` and start-up can print the whole list. Secrets are
//! resolved here (inline, from an environment variable, or from a file) into [`SecretString`]s
//! that never appear in `Debug` output or logs.

mod cache;
mod cors;
mod ews;
mod policy;
mod secret;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

pub use cache::{AdminConfig, CacheConfig, RedisConfig};
pub use cors::{CorsConfig, TenantCors};
pub use ews::EwsConfig;
use figment::{
    Figment,
    providers::{Format, Toml},
};
pub use policy::PolicyConfig;
use secrecy::SecretString;
pub use secret::{SecretSource, resolve_secret};
use serde::Deserialize;

/// The defaults every deployment starts from; `naa-gateway.example.toml` documents each key.
pub const DEFAULTS: &str = include_str!("defaults.toml");

/// The whole gateway configuration, immutable once validated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listeners.
    pub server: ServerConfig,
    /// Who may call the gateway and how the gateway authenticates to Entra ID.
    pub entra: EntraConfig,
    /// The on-behalf-of exchange and its cache.
    pub obo: OboConfig,
    /// The Microsoft Graph client.
    pub graph: GraphConfig,
    /// The EWS SOAP front end.
    #[serde(default)]
    pub ews: EwsConfig,
    /// Browser origins allowed to call directly.
    #[serde(default)]
    pub cors: CorsConfig,
    /// Authorization policies.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Shared token cache.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Admin listener.
    #[serde(default)]
    pub admin: AdminConfig,
    /// Request rate limits.
    #[serde(default)]
    pub limits: crate::limits::LimitsConfig,
}

/// Listener settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the public listener (front ends, `/healthz`, `/readyz`).
    pub listen: SocketAddr,
    /// Seconds to let in-flight requests finish after SIGTERM.
    pub shutdown_grace_secs: u64,
}

/// Inbound token rules and the gateway's own Entra ID app registration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraConfig {
    /// Base URL of the Entra ID authority, without tenant (`https://login.microsoftonline.com`).
    pub authority: String,
    /// The gateway's application (client) id: the `aud` of v2 tokens and the OBO `client_id`.
    pub client_id: String,
    /// Extra accepted audiences, typically the App ID URI `api://{client_id}` of v1 tokens.
    /// The client id itself is always accepted.
    pub audiences: Vec<String>,
    /// Tenant GUIDs whose users may call; `["*"]` accepts every tenant.
    pub allowed_tenants: Vec<String>,
    /// Delegated scope every inbound token must carry in `scp`.
    pub required_scope: String,
    /// Client ids of add-ins allowed to call (`azp`/`appid`); empty allows any.
    pub allowed_client_apps: Vec<String>,
    /// Accept app-only tokens (no `scp`). Off: the gateway acts for users only.
    pub allow_app_only: bool,
    /// Clock skew tolerated on `nbf`/`exp`, in seconds (at most 300).
    pub clock_skew_secs: u64,
    /// Background refresh period of each tenant's signing keys, in seconds.
    pub key_refresh_secs: u64,
    /// Minimum seconds between refreshes triggered by an unknown `kid`, per tenant.
    pub key_refresh_min_interval_secs: u64,
    /// Seconds a caller is told to wait (`Retry-After`) when no keys can be had.
    pub keys_unavailable_retry_after_secs: u64,
    /// How the gateway proves its identity to Entra ID in the OBO exchange (required).
    #[serde(default)]
    pub credential: Option<CredentialConfig>,
}

/// The gateway's client credential: exactly one of the three kinds Entra ID accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CredentialConfig {
    /// A client secret.
    Secret {
        /// The secret: `{ value = "…" }`, `{ env = "VAR" }` or `{ file = "path" }`.
        secret: SecretSource,
    },
    /// A certificate whose private key signs a client assertion JWT.
    Certificate {
        /// PEM file with the certificate (its thumbprint names the key to Entra ID).
        certificate_file: PathBuf,
        /// The PEM private key: `{ value | env | file }`.
        private_key: SecretSource,
        /// `rs256` (`x5t`, SHA-1 thumbprint) or `ps256` (`x5t#S256`, SHA-256 thumbprint).
        #[serde(default)]
        algorithm: AssertionAlgorithm,
    },
    /// A federated token (Kubernetes workload identity) read from a file at every use.
    Federated {
        /// File holding the projected token; defaults to `$AZURE_FEDERATED_TOKEN_FILE`.
        #[serde(default)]
        token_file: Option<PathBuf>,
    },
}

/// Signature scheme of a certificate client assertion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssertionAlgorithm {
    /// RS256 with the SHA-1 `x5t` header (accepted everywhere).
    #[default]
    Rs256,
    /// PS256 with the SHA-256 `x5t#S256` header (Microsoft's current guidance).
    Ps256,
}

/// The OBO exchange and the token cache.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OboConfig {
    /// Scopes requested for Graph.
    pub scopes: Vec<String>,
    /// Most Graph tokens held in memory.
    pub cache_capacity: u64,
    /// Seconds before a Graph token's expiry at which it stops being served from cache.
    pub expiry_margin_secs: u64,
    /// Most validated inbound tokens held in memory.
    pub inbound_cache_capacity: u64,
    /// Timeout of one token request to Entra ID, in seconds.
    pub timeout_secs: u64,
}

/// The Microsoft Graph client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphConfig {
    /// Graph base URL including version (`https://graph.microsoft.com/v1.0`).
    pub base_url: String,
    /// Requests in flight per mailbox (Graph's MailboxConcurrency limit is 4).
    pub max_concurrency_per_mailbox: usize,
    /// Timeout to connect and receive response headers, in seconds.
    pub timeout_secs: u64,
    /// Retries of an idempotent call answered 429/503, honouring `Retry-After`.
    pub max_retries: u32,
    /// Longest `Retry-After` the gateway waits out itself, in seconds; longer ones go to the caller.
    pub max_retry_after_secs: u64,
}

/// Everything wrong with a configuration, one entry per problem.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .problems.join("\n  - "))]
pub struct ConfigErrors {
    /// Human-readable problems, each naming the key.
    pub problems: Vec<String>,
}

/// Secrets resolved at load time; kept apart from [`Config`] so it can stay `Deserialize`.
#[derive(Clone)]
pub struct ResolvedCredential {
    /// The credential with its secret material loaded.
    pub kind: ResolvedCredentialKind,
}

/// A loaded client credential.
#[derive(Clone)]
pub enum ResolvedCredentialKind {
    /// Client secret.
    Secret(SecretString),
    /// Certificate DER and private key PEM.
    Certificate {
        /// DER bytes of the certificate (thumbprints are computed from these).
        certificate_der: Vec<u8>,
        /// PEM private key.
        private_key_pem: SecretString,
        /// Header and signature scheme.
        algorithm: AssertionAlgorithm,
    },
    /// Path of the federated token file, read at each use.
    Federated(PathBuf),
}

impl std::fmt::Debug for ResolvedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            ResolvedCredentialKind::Secret(_) => "secret",
            ResolvedCredentialKind::Certificate { .. } => "certificate",
            ResolvedCredentialKind::Federated(_) => "federated",
        };
        f.debug_struct("ResolvedCredential")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

// === impl Config ===

impl Config {
    /// Loads defaults, then `path` (if it exists or `required`), then `NAA__…` variables.
    pub fn load(path: Option<&std::path::Path>) -> Result<Config, ConfigErrors> {
        Self::load_with_env(path, std::env::vars())
    }

    /// Like [`Config::load`], with the environment given explicitly (tests never mutate it).
    pub fn load_with_env(
        path: Option<&std::path::Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigErrors> {
        let mut figment = Figment::new().merge(Toml::string(DEFAULTS));
        if let Some(path) = path {
            if !path.exists() {
                return Err(ConfigErrors {
                    problems: vec![format!("config file {} does not exist", path.display())],
                });
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(env_provider(env));
        Self::from_figment(figment)
    }

    /// Builds from an arbitrary figment (the sandbox layers its own values on the defaults).
    pub fn from_figment(figment: Figment) -> Result<Config, ConfigErrors> {
        let config: Config = figment.extract().map_err(|e| ConfigErrors {
            problems: e.into_iter().map(|e| e.to_string()).collect(),
        })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors { problems })
        }
    }

    /// Every rule violation in an otherwise well-typed configuration.
    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let e = &self.entra;
        if e.client_id.trim().is_empty() {
            p.push("entra.client_id is required (the gateway's application id)".into());
        } else if !is_guid(&e.client_id) {
            p.push(format!("entra.client_id {:?} is not a GUID", e.client_id));
        }
        check_url(&mut p, "entra.authority", &e.authority);
        if e.allowed_tenants.is_empty() {
            p.push("entra.allowed_tenants is empty: list tenant GUIDs or [\"*\"]".into());
        }
        for t in &e.allowed_tenants {
            if t != "*" && !is_guid(t) {
                p.push(format!("entra.allowed_tenants: {t:?} is not a tenant GUID or \"*\""));
            }
        }
        if e.clock_skew_secs > 300 {
            p.push(format!(
                "entra.clock_skew_secs {} exceeds the maximum of 300",
                e.clock_skew_secs
            ));
        }
        if e.required_scope.trim().is_empty() && !e.allow_app_only {
            p.push("entra.required_scope must not be empty".into());
        }
        if e.key_refresh_secs == 0 {
            p.push("entra.key_refresh_secs must be positive".into());
        }
        p.extend(self.credential_problems());
        if self.obo.scopes.is_empty() {
            p.push("obo.scopes must list at least one Graph scope".into());
        }
        if self.obo.cache_capacity == 0 {
            p.push("obo.cache_capacity must be positive".into());
        }
        check_url(&mut p, "graph.base_url", &self.graph.base_url);
        p.extend(self.ews.problems());
        p.extend(self.cors.problems());
        p.extend(self.policy.problems());
        p.extend(self.cache.problems());
        p.extend(self.limits.problems());
        if !(1..=4).contains(&self.graph.max_concurrency_per_mailbox) {
            p.push(format!(
                "graph.max_concurrency_per_mailbox {} must be between 1 and 4 (Graph's MailboxConcurrency limit)",
                self.graph.max_concurrency_per_mailbox
            ));
        }
        p
    }

    fn credential_problems(&self) -> Vec<String> {
        match self.resolve_credential() {
            Ok(_) => Vec::new(),
            Err(problems) => problems,
        }
    }

    /// Loads the client credential's secret material (secrets, key files, token file path).
    pub fn resolve_credential(&self) -> Result<ResolvedCredential, Vec<String>> {
        let Some(credential) = &self.entra.credential else {
            return Err(vec![
                "entra.credential is required: set kind = \"secret\", \"certificate\" or \"federated\"".into(),
            ]);
        };
        let kind = match credential {
            CredentialConfig::Secret { secret } => {
                ResolvedCredentialKind::Secret(resolve_secret("entra.credential.secret", secret).map_err(|e| vec![e])?)
            }
            CredentialConfig::Certificate {
                certificate_file,
                private_key,
                algorithm,
            } => {
                let mut problems = Vec::new();
                let der = match std::fs::read_to_string(certificate_file) {
                    Ok(text) => match pem::parse(text) {
                        Ok(p) if p.tag() == "CERTIFICATE" => Some(p.into_contents()),
                        Ok(p) => {
                            problems.push(format!(
                                "entra.credential.certificate_file {}: expected a CERTIFICATE, found {}",
                                certificate_file.display(),
                                p.tag()
                            ));
                            None
                        }
                        Err(e) => {
                            problems.push(format!(
                                "entra.credential.certificate_file {}: not PEM: {e}",
                                certificate_file.display()
                            ));
                            None
                        }
                    },
                    Err(e) => {
                        problems.push(format!(
                            "entra.credential.certificate_file {}: {e}",
                            certificate_file.display()
                        ));
                        None
                    }
                };
                let key = resolve_secret("entra.credential.private_key", private_key)
                    .map_err(|e| problems.push(e))
                    .ok();
                if let Some(key) = &key {
                    use secrecy::ExposeSecret;
                    if jsonwebtoken::EncodingKey::from_rsa_pem(key.expose_secret().as_bytes()).is_err() {
                        problems.push("entra.credential.private_key is not an RSA private key in PEM".into());
                    }
                }
                match (der, key) {
                    (Some(certificate_der), Some(private_key_pem)) if problems.is_empty() => {
                        ResolvedCredentialKind::Certificate {
                            certificate_der,
                            private_key_pem,
                            algorithm: *algorithm,
                        }
                    }
                    _ => return Err(problems),
                }
            }
            CredentialConfig::Federated { token_file } => {
                let path = match token_file {
                    Some(p) => p.clone(),
                    None => match std::env::var_os("AZURE_FEDERATED_TOKEN_FILE") {
                        Some(p) => PathBuf::from(p),
                        None => {
                            return Err(vec![
                                "entra.credential.token_file is not set and AZURE_FEDERATED_TOKEN_FILE is empty".into(),
                            ]);
                        }
                    },
                };
                ResolvedCredentialKind::Federated(path)
            }
        };
        Ok(ResolvedCredential { kind })
    }

    /// Audiences accepted on inbound tokens: the client id and the configured extras.
    pub fn accepted_audiences(&self) -> Vec<String> {
        let mut v = vec![self.entra.client_id.clone()];
        v.extend(
            self.entra
                .audiences
                .iter()
                .filter(|a| **a != self.entra.client_id)
                .cloned(),
        );
        v
    }

    /// Clock skew as a duration.
    pub fn clock_skew(&self) -> Duration {
        Duration::from_secs(self.entra.clock_skew_secs)
    }
}

/// `NAA__ENTRA__CLIENT_ID=…` → `entra.client_id`.
fn env_provider(env: impl IntoIterator<Item = (String, String)>) -> Figment {
    let vars: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k.starts_with("NAA__")).collect();
    let mut figment = Figment::new();
    for (key, value) in vars {
        let path = key["NAA__".len()..].to_ascii_lowercase().replace("__", ".");
        let value = parse_env_value(&value);
        figment = figment.merge(figment::providers::Serialized::default(&path, value));
    }
    figment
}

/// Environment values parse like figment's `Env` provider: arrays, numbers and booleans; the rest is a string.
fn parse_env_value(raw: &str) -> figment::value::Value {
    raw.parse()
        .unwrap_or_else(|_| figment::value::Value::from(raw.to_string()))
}

fn is_guid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok() && s.len() == 36
}

fn check_url(problems: &mut Vec<String>, key: &str, value: &str) {
    match url::Url::parse(value) {
        Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
        Ok(u) => problems.push(format!("{key} {value:?}: scheme {} is not http(s)", u.scheme())),
        Err(e) => problems.push(format!("{key} {value:?} is not a URL: {e}")),
    }
}

#[cfg(test)]
mod tests;
