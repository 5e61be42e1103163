//! The gateway's client authentication at the token endpoint: secret, certificate assertion, federated token.
//!
//! Secret material stays inside this module: it is turned into form fields at the moment of a
//! request and never formatted by `Debug`.

use std::path::PathBuf;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha1::Digest as _;

use super::IdpError;
use crate::config::{AssertionAlgorithm, ResolvedCredential, ResolvedCredentialKind};

/// `client_assertion_type` for both signed certificate assertions and federated tokens.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Lifetime of a certificate client assertion; Entra accepts at most about ten minutes.
const ASSERTION_LIFETIME_SECS: i64 = 600;

/// Which kind of client credential the gateway uses (no secret material).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// `client_secret`.
    Secret,
    /// A client assertion signed with the certificate's private key.
    Certificate,
    /// A federated token file sent as the client assertion.
    Federated,
}

// === impl CredentialKind ===

impl CredentialKind {
    /// The configuration key an operator edits when Entra rejects this credential.
    pub fn config_key(self) -> &'static str {
        match self {
            CredentialKind::Secret => "entra.credential.secret",
            CredentialKind::Certificate => "entra.credential.private_key",
            CredentialKind::Federated => "entra.credential.token_file",
        }
    }
}

/// A loaded client credential, ready to authenticate token requests.
pub(crate) enum ClientAuth {
    Secret(SecretString),
    Certificate(CertificateSigner),
    Federated(PathBuf),
}

/// Signs client assertions; the key is parsed once so a bad key is reported at every use
/// rather than crashing start-up (configuration validation already rejects unreadable keys).
pub(crate) struct CertificateSigner {
    key: Result<EncodingKey, String>,
    algorithm: AssertionAlgorithm,
    /// base64url of SHA-1 (RS256, `x5t`) or SHA-256 (PS256, `x5t#S256`) of the certificate DER.
    thumbprint: String,
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

// === impl ClientAuth ===

impl ClientAuth {
    /// Prepares the credential resolved by configuration.
    pub(crate) fn from_resolved(credential: ResolvedCredential) -> ClientAuth {
        match credential.kind {
            ResolvedCredentialKind::Secret(secret) => ClientAuth::Secret(secret),
            ResolvedCredentialKind::Certificate {
                certificate_der,
                private_key_pem,
                algorithm,
            } => {
                let key = EncodingKey::from_rsa_pem(private_key_pem.expose_secret().as_bytes())
                    .map_err(|e| format!("not an RSA private key in PEM: {e}"));
                let thumbprint = match algorithm {
                    AssertionAlgorithm::Rs256 => URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&certificate_der)),
                    AssertionAlgorithm::Ps256 => URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&certificate_der)),
                };
                ClientAuth::Certificate(CertificateSigner {
                    key,
                    algorithm,
                    thumbprint,
                })
            }
            ResolvedCredentialKind::Federated(path) => ClientAuth::Federated(path),
        }
    }

    /// The kind, for logs and error messages.
    pub(crate) fn kind(&self) -> CredentialKind {
        match self {
            ClientAuth::Secret(_) => CredentialKind::Secret,
            ClientAuth::Certificate(_) => CredentialKind::Certificate,
            ClientAuth::Federated(_) => CredentialKind::Federated,
        }
    }

    /// The form fields that authenticate one request to `token_endpoint`.
    ///
    /// The federated token file is read here, at every use, because the platform rotates it.
    pub(crate) async fn form_fields(
        &self,
        client_id: &str,
        token_endpoint: &str,
    ) -> Result<Vec<(&'static str, String)>, IdpError> {
        match self {
            ClientAuth::Secret(secret) => Ok(vec![("client_secret", secret.expose_secret().to_string())]),
            ClientAuth::Certificate(signer) => {
                let jwt = signer.sign(client_id, token_endpoint)?;
                Ok(assertion_fields(jwt))
            }
            ClientAuth::Federated(path) => {
                let token = read_federated_token(path).await?;
                Ok(assertion_fields(token))
            }
        }
    }
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::Secret(_) => f.write_str("ClientAuth::Secret(<redacted>)"),
            ClientAuth::Certificate(s) => f
                .debug_struct("ClientAuth::Certificate")
                .field("algorithm", &s.algorithm)
                .field("thumbprint", &s.thumbprint)
                .finish_non_exhaustive(),
            ClientAuth::Federated(path) => f.debug_tuple("ClientAuth::Federated").field(path).finish(),
        }
    }
}

fn assertion_fields(assertion: String) -> Vec<(&'static str, String)> {
    vec![
        ("client_assertion_type", CLIENT_ASSERTION_TYPE.to_string()),
        ("client_assertion", assertion),
    ]
}

async fn read_federated_token(path: &std::path::Path) -> Result<String, IdpError> {
    let key = CredentialKind::Federated.config_key();
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| IdpError::Credential {
            config_key: key,
            detail: format!("cannot read the federated token file {}: {e}", path.display()),
        })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(IdpError::Credential {
            config_key: key,
            detail: format!("the federated token file {} is empty", path.display()),
        });
    }
    Ok(token.to_string())
}

// === impl CertificateSigner ===

impl CertificateSigner {
    /// A fresh client assertion for one request (RFC 7523 §3 as Entra ID applies it).
    fn sign(&self, client_id: &str, token_endpoint: &str) -> Result<String, IdpError> {
        let config_key = CredentialKind::Certificate.config_key();
        let key = self.key.as_ref().map_err(|detail| IdpError::Credential {
            config_key,
            detail: detail.clone(),
        })?;
        let mut header = match self.algorithm {
            AssertionAlgorithm::Rs256 => Header::new(Algorithm::RS256),
            AssertionAlgorithm::Ps256 => Header::new(Algorithm::PS256),
        };
        match self.algorithm {
            AssertionAlgorithm::Rs256 => header.x5t = Some(self.thumbprint.clone()),
            AssertionAlgorithm::Ps256 => header.x5t_s256 = Some(self.thumbprint.clone()),
        }
        let now = unix_now();
        let claims = AssertionClaims {
            aud: token_endpoint,
            iss: client_id,
            sub: client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&header, &claims, key).map_err(|e| IdpError::Credential {
            config_key,
            detail: format!("cannot sign the client assertion with the private key: {e}"),
        })
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it, which Entra would reject anyway).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
