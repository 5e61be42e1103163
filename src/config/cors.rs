//! `[cors]`: which browser origins (add-in task panes) may call the gateway directly.
//!
//! Origins are allowed for every tenant (`allowed_origins`) or for one tenant
//! (`[cors.tenants."<tenant id>"] allowed_origins = [...]`). A preflight carries no token, so
//! it is answered for an origin allowed for any tenant; the actual request then names its
//! tenant in the token and is served to that origin only if the origin is global or listed
//! for that tenant.

use std::collections::BTreeMap;

use serde::Deserialize;

/// CORS settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed for every tenant, e.g. `https://addin.contoso.com`.
    pub allowed_origins: Vec<String>,
    /// Origins allowed for one tenant only, keyed by tenant id (GUID).
    pub tenants: BTreeMap<String, TenantCors>,
    /// Seconds a browser may cache a preflight answer.
    pub max_age_secs: Option<u64>,
}

/// One tenant's CORS settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantCors {
    /// Origins allowed for this tenant's users.
    pub allowed_origins: Vec<String>,
}

// === impl CorsConfig ===

impl CorsConfig {
    /// Rule violations, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .allowed_origins
            .iter()
            .filter(|o| !is_origin(o))
            .map(|o| format!("cors.allowed_origins: {o:?} is not an origin (scheme://host[:port])"))
            .collect();
        for (tenant, cors) in &self.tenants {
            if uuid::Uuid::try_parse(tenant).is_err() {
                problems.push(format!("cors.tenants.{tenant:?}: the key must be a tenant id (GUID)"));
            }
            problems.extend(cors.allowed_origins.iter().filter(|o| !is_origin(o)).map(|o| {
                format!("cors.tenants.{tenant:?}.allowed_origins: {o:?} is not an origin (scheme://host[:port])")
            }));
        }
        problems
    }

    /// Whether any tenant (or all) allows `origin`: the preflight question.
    pub fn allows_any(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| same_origin(o, origin))
            || self
                .tenants
                .values()
                .any(|t| t.allowed_origins.iter().any(|o| same_origin(o, origin)))
    }

    /// Whether `origin` may read answers for users of `tenant`.
    pub fn allows(&self, origin: &str, tenant: &str) -> bool {
        self.allowed_origins.iter().any(|o| same_origin(o, origin))
            || self
                .tenants
                .iter()
                .filter(|(t, _)| t.eq_ignore_ascii_case(tenant))
                .any(|(_, c)| c.allowed_origins.iter().any(|o| same_origin(o, origin)))
    }

    /// Whether any origin is configured at all.
    pub fn is_enabled(&self) -> bool {
        !self.allowed_origins.is_empty() || self.tenants.values().any(|t| !t.allowed_origins.is_empty())
    }
}

/// `scheme://host[:port]` with nothing after it.
fn is_origin(origin: &str) -> bool {
    url::Url::parse(origin).is_ok_and(|u| {
        u.path() == "/"
            && !origin.ends_with('/')
            && u.query().is_none()
            && u.host().is_some()
            && u.username().is_empty()
    })
}

/// Origins compare by scheme and host case-insensitively (browsers send them lower-case).
fn same_origin(configured: &str, sent: &str) -> bool {
    configured.trim_end_matches('/').eq_ignore_ascii_case(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    fn config() -> CorsConfig {
        let mut tenants = BTreeMap::new();
        tenants.insert(
            TENANT.to_owned(),
            TenantCors {
                allowed_origins: vec!["https://addin.contoso.com".into()],
            },
        );
        CorsConfig {
            allowed_origins: vec!["https://everyone.example".into()],
            tenants,
            max_age_secs: None,
        }
    }

    #[test]
    fn tenant_origins_are_allowed_at_preflight_and_for_their_tenant_only() {
        let c = config();
        assert!(c.allows_any("https://addin.contoso.com"));
        assert!(c.allows("https://addin.contoso.com", TENANT));
        assert!(c.allows("https://ADDIN.contoso.com", &TENANT.to_uppercase()));
        assert!(!c.allows("https://addin.contoso.com", "00000000-0000-0000-0000-000000000001"));
        assert!(c.allows("https://everyone.example", "00000000-0000-0000-0000-000000000001"));
        assert!(!c.allows_any("https://evil.example"));
        assert!(!c.allows_any("https://addin.contoso.com.evil.example"));
    }

    #[test]
    fn problems_name_bad_origins_and_tenant_keys() {
        let mut c = config();
        c.allowed_origins.push("https://x.example/path".into());
        c.tenants.insert(
            "contoso".into(),
            TenantCors {
                allowed_origins: vec!["not a url".into()],
            },
        );
        let problems = c.problems().join("\n");
        assert!(problems.contains("https://x.example/path"), "{problems}");
        assert!(problems.contains("must be a tenant id"), "{problems}");
        assert!(problems.contains("not a url"), "{problems}");
        assert!(config().problems().is_empty());
    }
}
