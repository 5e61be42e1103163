//! Key material: the token-signing keys with their certificates, the cluster issuer key
//! trusted for federated credentials, the gateway's registered client certificate, and the
//! rotation schedule that decides which keys are published and which one signs.

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rsa::{pkcs8::DecodePrivateKey, traits::PublicKeyParts};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::seed::{GATEWAY_CERT_PEM, SIGNING_KEYS_PEM};

/// Signing keys used after the seeded three, so that rotating several times never brings a
/// dropped key back.
const EXTRA_SIGNING_KEYS_PEM: [&str; 3] = [
    include_str!("../../keys/entra-signing-4.pem"),
    include_str!("../../keys/entra-signing-5.pem"),
    include_str!("../../keys/entra-signing-6.pem"),
];

/// Certificates of the signing keys, published as `x5c` (their SHA-1 thumbprint is the `kid`).
const SIGNING_CERTS_PEM: [&str; KEY_COUNT as usize] = [
    include_str!("../../keys/entra-signing-1.crt.pem"),
    include_str!("../../keys/entra-signing-2.crt.pem"),
    include_str!("../../keys/entra-signing-3.crt.pem"),
    include_str!("../../keys/entra-signing-4.crt.pem"),
    include_str!("../../keys/entra-signing-5.crt.pem"),
    include_str!("../../keys/entra-signing-6.crt.pem"),
];

/// The private key of the simulated workload-identity (Kubernetes) issuer.
const CLUSTER_ISSUER_PEM: &str = include_str!("../../keys/cluster-issuer.pem");

/// Why key material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(super) enum KeyError {
    /// A PEM private key did not parse.
    #[error("private key {name} is not a PKCS#8 RSA key: {reason}")]
    PrivateKey { name: &'static str, reason: String },
    /// A certificate did not parse.
    #[error("certificate {name} is not a PEM certificate: {reason}")]
    Certificate { name: &'static str, reason: String },
}

/// One RSA key Entra signs with.
pub(super) struct SigningKey {
    /// `kid` (and `x5t`): base64url SHA-1 thumbprint of the key's certificate.
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// Modulus, base64url big-endian.
    pub n: String,
    /// Public exponent, base64url big-endian.
    pub e: String,
    /// The certificate DER, standard base64 (`x5c`).
    pub x5c: Option<String>,
}

/// The gateway's certificate credential as registered on its app registration.
pub(super) struct ClientCert {
    /// SHA-1 of the certificate DER (`x5t`).
    pub sha1: Vec<u8>,
    /// SHA-256 of the certificate DER (`x5t#S256`).
    pub sha256: Vec<u8>,
    pub decoding: DecodingKey,
}

/// All key material, parsed once at start.
pub(super) struct KeyRing {
    pub signing: Vec<SigningKey>,
    pub cluster: SigningKey,
    pub client_cert: ClientCert,
}

impl KeyRing {
    /// Parses the PEM files compiled into the crate.
    pub fn load() -> Result<KeyRing, KeyError> {
        let names = [
            "entra-signing-1",
            "entra-signing-2",
            "entra-signing-3",
            "entra-signing-4",
            "entra-signing-5",
            "entra-signing-6",
        ];
        let key_pems = SIGNING_KEYS_PEM.into_iter().chain(EXTRA_SIGNING_KEYS_PEM);
        let mut signing = Vec::with_capacity(names.len());
        for ((name, key_pem), cert_pem) in names.into_iter().zip(key_pems).zip(SIGNING_CERTS_PEM) {
            let der = pem_body(cert_pem, "CERTIFICATE").ok_or(KeyError::Certificate {
                name,
                reason: "no CERTIFICATE block".into(),
            })?;
            let kid = URL_SAFE_NO_PAD.encode(Sha1::digest(&der));
            signing.push(signing_key(name, key_pem, kid, Some(STANDARD.encode(&der)))?);
        }
        let cluster_kid = {
            let key = parse_private(CLUSTER_ISSUER_PEM, "cluster-issuer")?;
            URL_SAFE_NO_PAD.encode(Sha256::digest(key.n().to_bytes_be()))
        };
        let cluster = signing_key("cluster-issuer", CLUSTER_ISSUER_PEM, cluster_kid, None)?;
        Ok(KeyRing {
            signing,
            cluster,
            client_cert: client_cert()?,
        })
    }
}

fn client_cert() -> Result<ClientCert, KeyError> {
    let name = "gateway-client-cert";
    let der = pem_body(GATEWAY_CERT_PEM, "CERTIFICATE").ok_or(KeyError::Certificate {
        name,
        reason: "no CERTIFICATE block".into(),
    })?;
    let decoding = DecodingKey::from_rsa_pem(GATEWAY_CERT_PEM.as_bytes()).map_err(|e| KeyError::Certificate {
        name,
        reason: e.to_string(),
    })?;
    Ok(ClientCert {
        sha1: Sha1::digest(&der).to_vec(),
        sha256: Sha256::digest(&der).to_vec(),
        decoding,
    })
}

fn parse_private(pem: &str, name: &'static str) -> Result<rsa::RsaPrivateKey, KeyError> {
    rsa::RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| KeyError::PrivateKey {
        name,
        reason: e.to_string(),
    })
}

fn signing_key(name: &'static str, pem: &str, kid: String, x5c: Option<String>) -> Result<SigningKey, KeyError> {
    let private = parse_private(pem, name)?;
    let n = private.n().to_bytes_be();
    let e = private.e().to_bytes_be();
    let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| KeyError::PrivateKey {
        name,
        reason: e.to_string(),
    })?;
    Ok(SigningKey {
        kid,
        encoding,
        decoding: DecodingKey::from_rsa_raw_components(&n, &e),
        n: URL_SAFE_NO_PAD.encode(&n),
        e: URL_SAFE_NO_PAD.encode(&e),
        x5c,
    })
}

/// The DER inside the first `-----BEGIN {label}-----` block of `pem`.
pub(super) fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let b64: String = pem[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

// === Rotation schedule ===

/// How many signing keys rotation cycles through.
const KEY_COUNT: u64 = 6;

/// Indexes of the two keys published in `generation`, oldest first.
pub(super) fn published(generation: u64) -> [usize; 2] {
    [
        (generation % KEY_COUNT) as usize,
        ((generation + 1) % KEY_COUNT) as usize,
    ]
}

/// Index of the key that signs in `generation`: the oldest at first (so rotating makes
/// tokens already issued unverifiable), afterwards the key the rotation just published.
pub(super) fn signing_index(generation: u64) -> usize {
    if generation == 0 { 0 } else { published(generation)[1] }
}

/// Keys published in `generation` or the one before.
pub(super) fn recently_published(generation: u64) -> Vec<usize> {
    let mut keys = published(generation).to_vec();
    if let Some(previous) = generation.checked_sub(1) {
        for index in published(previous) {
            if !keys.contains(&index) {
                keys.push(index);
            }
        }
    }
    keys
}
