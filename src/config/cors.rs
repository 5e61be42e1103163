//! `[cors]`: which browser origins (add-in task panes) may call the gateway directly.

use serde::Deserialize;

/// CORS settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed for every tenant, e.g. `https://addin.contoso.com`.
    pub allowed_origins: Vec<String>,
}

impl CorsConfig {
    /// Rule violations, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        self.allowed_origins
            .iter()
            .filter(|o| {
                url::Url::parse(o)
                    .map(|u| u.path() != "/" && !o.ends_with('/'))
                    .is_err()
            })
            .map(|o| format!("cors.allowed_origins: {o:?} is not an origin (scheme://host[:port])"))
            .collect()
    }
}
