//! Compact JWS signing and parsing, written out by hand because Entra's Graph tokens carry a
//! header `nonce` that is replaced by its SHA-256 (hex) before signing: such tokens verify
//! only for a party that knows the trick, exactly like real Graph tokens.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Why a compact JWS could not be read or written.
#[derive(Debug, thiserror::Error)]
pub(super) enum JwtError {
    /// Not three dot-separated parts.
    #[error("not a compact JWS: expected three dot-separated parts")]
    Format,
    /// A part is not base64url-encoded JSON object.
    #[error("the JWS {0} is not base64url-encoded JSON")]
    Encoding(&'static str),
    /// The header names an algorithm this simulator does not sign with.
    #[error("unsupported signing algorithm")]
    Algorithm,
    /// The crypto backend refused.
    #[error("signing failed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// A parsed, not yet verified, compact JWS.
pub(super) struct Jwt {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: String,
}

/// Splits and decodes `token` without verifying it.
pub(super) fn parse(token: &str) -> Result<Jwt, JwtError> {
    let mut parts = token.trim().split('.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Format);
    };
    if s.is_empty() {
        return Err(JwtError::Format);
    }
    Ok(Jwt {
        header: decode_object(h, "header")?,
        claims: decode_object(c, "payload")?,
        signing_input: format!("{h}.{c}"),
        signature: s.to_owned(),
    })
}

fn decode_object(part: &str, what: &'static str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Encoding(what))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Encoding(what)),
    }
}

/// Signs `claims` under `header` (whose `alg` must be RS256 or PS256).
pub(super) fn sign(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    key: &EncodingKey,
) -> Result<String, JwtError> {
    let alg = algorithm(header).ok_or(JwtError::Algorithm)?;
    let sent_header = encode_json(header)?;
    let payload = encode_json(claims)?;
    let signed_header = match nonce_hashed(header) {
        Some(hashed) => encode_json(&hashed)?,
        None => sent_header.clone(),
    };
    let signature = jsonwebtoken::crypto::sign(format!("{signed_header}.{payload}").as_bytes(), key, alg)?;
    Ok(format!("{sent_header}.{payload}.{signature}"))
}

fn encode_json(map: &Map<String, Value>) -> Result<String, JwtError> {
    let bytes = serde_json::to_vec(map).map_err(|_| JwtError::Encoding("header"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The header as it was signed when it carries a `nonce`.
fn nonce_hashed(header: &Map<String, Value>) -> Option<Map<String, Value>> {
    let nonce = header.get("nonce")?.as_str()?;
    let mut hashed = header.clone();
    let digest = Sha256::digest(nonce.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hashed.insert("nonce".into(), Value::String(hex));
    Some(hashed)
}

fn algorithm(header: &Map<String, Value>) -> Option<Algorithm> {
    match header.get("alg")?.as_str()? {
        "RS256" => Some(Algorithm::RS256),
        "PS256" => Some(Algorithm::PS256),
        _ => None,
    }
}

impl Jwt {
    /// A string header parameter.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name)?.as_str()
    }

    /// A string claim.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name)?.as_str()
    }

    /// A NumericDate claim (integer seconds; fractional values are truncated).
    pub fn claim_time(&self, name: &str) -> Option<i64> {
        let value = self.claims.get(name)?;
        value.as_i64().or_else(|| value.as_f64().map(|f| f as i64))
    }

    /// `aud` as a list (a single string or an array of strings).
    pub fn audiences(&self) -> Vec<&str> {
        match self.claims.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the header's `alg` is one of `allowed` and the signature verifies with `key`.
    /// Tokens with a header `nonce` are checked the way Entra signed them.
    pub fn verify(&self, key: &DecodingKey, allowed: &[Algorithm]) -> bool {
        let Some(alg) = algorithm(&self.header).filter(|a| allowed.contains(a)) else {
            return false;
        };
        let input = match nonce_hashed(&self.header) {
            Some(hashed) => match encode_json(&hashed) {
                Ok(h) => {
                    let payload = self.signing_input.split('.').nth(1).unwrap_or_default();
                    format!("{h}.{payload}")
                }
                Err(_) => return false,
            },
            None => self.signing_input.clone(),
        };
        jsonwebtoken::crypto::verify(&self.signature, input.as_bytes(), key, alg).unwrap_or(false)
    }
}
