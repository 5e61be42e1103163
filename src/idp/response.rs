//! The token endpoint's answers: the success body and Entra ID's error body, parsed leniently.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};

/// A successful token response (protocols.md §4.4). `Debug` never shows the token.
pub struct TokenResponse {
    /// The issued access token.
    pub access_token: SecretString,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires, counted from when the answer was received.
    pub expires_in: u64,
    /// Extended lifetime Entra may grant during an outage (informational).
    pub ext_expires_in: Option<u64>,
    /// The scopes actually granted, space separated.
    pub scope: Option<String>,
}

/// Entra ID's error body (protocols.md §4.5); every field is optional on the wire except `error`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntraError {
    /// OAuth error code, e.g. `invalid_grant`.
    pub error: String,
    /// Human text starting with `AADSTSnnnnn:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// The AADSTS numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_codes: Vec<u64>,
    /// When Entra answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Entra's trace id, to look the failure up in the sign-in logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Echo of our `client-request-id` (or Entra's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Link to Entra's description of the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
    /// A claims challenge (JSON text) the user must satisfy interactively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<String>,
    /// Finer classification MSAL understands (`basic_action`, `consent_required`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suberror: Option<String>,
}

#[derive(Deserialize)]
struct RawTokenResponse {
    access_token: String,
    token_type: String,
    #[serde(deserialize_with = "seconds")]
    expires_in: u64,
    #[serde(default, deserialize_with = "optional_seconds")]
    ext_expires_in: Option<u64>,
    #[serde(default)]
    scope: Option<String>,
}

/// Numbers that the v1 endpoint sends as strings and v2 as integers.
#[derive(Deserialize)]
#[serde(untagged)]
enum Seconds {
    Number(u64),
    Text(String),
}

// === impl TokenResponse ===

impl TokenResponse {
    /// Parses a 200 body; the message says what is wrong, never what the token is.
    pub(crate) fn parse(body: &[u8]) -> Result<TokenResponse, String> {
        let raw: RawTokenResponse =
            serde_json::from_slice(body).map_err(|e| format!("the token response is not the expected JSON: {e}"))?;
        if raw.access_token.is_empty() {
            return Err("the token response has an empty access_token".into());
        }
        if !raw.token_type.eq_ignore_ascii_case("bearer") {
            return Err(format!("unexpected token_type {:?} (expected Bearer)", raw.token_type));
        }
        Ok(TokenResponse {
            access_token: SecretString::from(raw.access_token),
            token_type: raw.token_type,
            expires_in: raw.expires_in,
            ext_expires_in: raw.ext_expires_in,
            scope: raw.scope,
        })
    }
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("ext_expires_in", &self.ext_expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

// === impl EntraError ===

impl EntraError {
    /// Parses an error body; `None` when it is not Entra's JSON shape (a proxy's HTML page, say).
    pub(crate) fn parse(body: &[u8]) -> Option<EntraError> {
        let mut parsed: EntraError = serde_json::from_slice(body).ok()?;
        if parsed.error.is_empty() {
            return None;
        }
        if parsed.error_codes.is_empty() {
            // Some answers only carry the number in the text; it still decides the mapping.
            parsed.error_codes = parsed
                .error_description
                .as_deref()
                .and_then(aadsts_code)
                .into_iter()
                .collect();
        }
        Some(parsed)
    }

    /// True when any of `codes` is among the AADSTS numbers.
    pub fn has_code(&self, codes: &[u64]) -> bool {
        self.error_codes.iter().any(|c| codes.contains(c))
    }

    /// The first AADSTS number formatted for messages, e.g. `AADSTS65001`, or the OAuth error.
    pub fn label(&self) -> String {
        match self.error_codes.first() {
            Some(code) => format!("AADSTS{code}"),
            None => self.error.clone(),
        }
    }
}

/// The number after the first `AADSTS` in `text`.
fn aadsts_code(text: &str) -> Option<u64> {
    let start = text.find("AADSTS")? + "AADSTS".len();
    let digits: String = text[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Seconds::deserialize(d)? {
        Seconds::Number(n) => Ok(n),
        Seconds::Text(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

fn optional_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<Seconds>::deserialize(d)? {
        None => Ok(None),
        Some(Seconds::Number(n)) => Ok(Some(n)),
        Some(Seconds::Text(s)) => Ok(s.trim().parse().ok()),
    }
}
