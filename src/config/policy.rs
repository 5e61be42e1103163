//! `[policy]`: where the Cedar authorization policies live.

use std::path::PathBuf;

use serde::Deserialize;

/// Policy settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Directory with `schema.cedarschema` and `*.cedar`; unset means the built-in default policy.
    pub dir: Option<PathBuf>,
}

impl PolicyConfig {
    /// Rule violations, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        match &self.dir {
            Some(dir) if !dir.is_dir() => vec![format!("policy.dir {} is not a directory", dir.display())],
            _ => Vec::new(),
        }
    }
}
