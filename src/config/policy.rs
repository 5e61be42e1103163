//! `[policy]`: where the Cedar authorization policies live and the settings they read.

use std::{collections::BTreeMap, path::PathBuf};

use serde::Deserialize;

use crate::policy::TenantSettings;

/// 35 MB (35 × 2²⁰ bytes), the attachment limit of the default policy.
pub(super) const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = 35 * 1024 * 1024;

/// PublicStrings name prefix the default policy lets add-ins write under.
pub(super) const DEFAULT_PUBLIC_STRINGS_PREFIX: &str = "Gateway";

/// Policy settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Directory with `schema.cedarschema` and `*.cedar`; unset means the built-in default policy.
    pub dir: Option<PathBuf>,
    /// Extended properties in PublicStrings may be written under this name prefix (the policies
    /// see it as `context.settings.public_strings_prefix`); empty allows no PublicStrings name.
    pub public_strings_prefix: String,
    /// Largest attachment the default policy lets an add-in read, in bytes
    /// (`context.settings.max_attachment_bytes`).
    pub max_attachment_bytes: u64,
    /// Per-tenant overrides of the settings above, keyed by tenant GUID.
    pub tenants: BTreeMap<String, TenantSettings>,
}

// === impl PolicyConfig ===

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            dir: None,
            public_strings_prefix: DEFAULT_PUBLIC_STRINGS_PREFIX.to_string(),
            max_attachment_bytes: DEFAULT_MAX_ATTACHMENT_BYTES,
            tenants: BTreeMap::new(),
        }
    }
}

impl PolicyConfig {
    /// Rule violations, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(dir) = &self.dir
            && !dir.is_dir()
        {
            p.push(format!("policy.dir {} is not a directory", dir.display()));
        }
        if i64::try_from(self.max_attachment_bytes).is_err() {
            p.push("policy.max_attachment_bytes is too large".into());
        }
        for (tid, t) in &self.tenants {
            if tid.len() != 36 || uuid::Uuid::try_parse(tid).is_err() {
                p.push(format!("policy.tenants: {tid:?} is not a tenant GUID"));
            }
            if t.max_attachment_bytes.is_some_and(|m| i64::try_from(m).is_err()) {
                p.push(format!("policy.tenants.{tid}.max_attachment_bytes is too large"));
            }
        }
        p
    }
}
