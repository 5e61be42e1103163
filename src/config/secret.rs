//! Where a secret comes from (inline, environment variable, file) and loading it without echoing it.

use secrecy::SecretString;
use serde::Deserialize;

/// A secret's source. Exactly one key: `value`, `env` or `file`.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretSource {
    /// Given inline in the configuration (fine for the sandbox, discouraged in production).
    Value(String),
    /// Read from this environment variable at start.
    Env(String),
    /// Read from this file at start (trailing newline trimmed).
    File(std::path::PathBuf),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Value(_) => f.write_str("Value(<redacted>)"),
            SecretSource::Env(var) => write!(f, "Env({var:?})"),
            SecretSource::File(path) => write!(f, "File({path:?})"),
        }
    }
}

/// Loads a secret; the error names `key` and the source but never the secret.
pub fn resolve_secret(key: &str, source: &SecretSource) -> Result<SecretString, String> {
    let value = match source {
        SecretSource::Value(v) => v.clone(),
        SecretSource::Env(var) => {
            std::env::var(var).map_err(|_| format!("{key}: environment variable {var} is not set"))?
        }
        SecretSource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("{key}: cannot read {}: {e}", path.display()))?
            .trim_end_matches(['\r', '\n'])
            .to_string(),
    };
    if value.trim().is_empty() {
        return Err(format!("{key} is empty"));
    }
    Ok(SecretString::from(value))
}
