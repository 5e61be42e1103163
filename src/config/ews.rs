//! `[ews]`: the EWS SOAP front end.

use serde::Deserialize;

/// EWS front-end settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EwsConfig {
    /// Largest SOAP request body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for EwsConfig {
    fn default() -> Self {
        EwsConfig {
            max_body_bytes: 1 << 20,
        }
    }
}

impl EwsConfig {
    /// Rule violations, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.max_body_bytes < 1024 {
            p.push(format!("ews.max_body_bytes {} is below 1024", self.max_body_bytes));
        }
        p
    }
}
