//! The directory this Entra knows: the seeded tenant (where the gateway is registered) and a
//! foreign tenant whose users exist but where the gateway app was never provisioned, plus how
//! a `{tenant}` path segment resolves.

use crate::seed::SeedTenant;

/// Tenant id of the foreign tenant (Fabrikam): known to Entra, gateway not provisioned there.
pub const FOREIGN_TENANT_ID: &str = "4a1c7e2b-9d3f-4b6a-8e5c-1f2d3c4b5a09";
/// Verified domain of the foreign tenant.
pub const FOREIGN_TENANT_DOMAIN: &str = "fabrikam.com";
/// The one user of the foreign tenant.
pub const FOREIGN_USER_UPN: &str = "carol@fabrikam.com";
/// Object id of [`FOREIGN_USER_UPN`].
pub const FOREIGN_USER_OID: &str = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c0a";

/// A user as tokens describe them.
#[derive(Debug, Clone)]
pub(super) struct Person {
    pub upn: String,
    pub display_name: String,
    pub oid: String,
}

/// A tenant and what Entra knows about it.
#[derive(Debug, Clone)]
pub(super) struct Tenant {
    pub id: String,
    pub domain: String,
    pub users: Vec<Person>,
    /// Whether the gateway's app registration has a service principal here.
    pub gateway_provisioned: bool,
}

/// What a `{tenant}` path segment names.
pub(super) enum TenantPath<'a> {
    /// A tenant, by id or verified domain.
    Tenant(&'a Tenant),
    /// `common`: any work, school or personal account.
    Common,
    /// `organizations`: any work or school account.
    Organizations,
    /// A well-formed tenant id or domain that does not exist (AADSTS90002).
    NotFound,
    /// Neither a GUID nor a DNS name (AADSTS900023).
    Malformed,
}

/// All tenants of the simulated cloud.
pub(super) struct Directory {
    tenants: Vec<Tenant>,
}

impl Directory {
    /// The seeded tenant plus the foreign tenant.
    pub fn new(seed: &SeedTenant) -> Directory {
        let home = Tenant {
            id: seed.tenant_id.clone(),
            domain: seed.domain.clone(),
            users: seed
                .users
                .iter()
                .map(|u| Person {
                    upn: u.upn.clone(),
                    display_name: u.display_name.clone(),
                    oid: u.oid.clone(),
                })
                .collect(),
            gateway_provisioned: true,
        };
        let foreign = Tenant {
            id: FOREIGN_TENANT_ID.into(),
            domain: FOREIGN_TENANT_DOMAIN.into(),
            users: vec![Person {
                upn: FOREIGN_USER_UPN.into(),
                display_name: "Carol Castillo".into(),
                oid: FOREIGN_USER_OID.into(),
            }],
            gateway_provisioned: false,
        };
        Directory {
            tenants: vec![home, foreign],
        }
    }

    /// Resolves a path segment the way Entra's routing does (ids and domains are
    /// case-insensitive).
    pub fn resolve(&self, segment: &str) -> TenantPath<'_> {
        if segment.eq_ignore_ascii_case("common") {
            return TenantPath::Common;
        }
        if segment.eq_ignore_ascii_case("organizations") {
            return TenantPath::Organizations;
        }
        if let Some(tenant) = self.find(segment) {
            return TenantPath::Tenant(tenant);
        }
        if uuid::Uuid::parse_str(segment).is_ok() || is_dns_name(segment) {
            TenantPath::NotFound
        } else {
            TenantPath::Malformed
        }
    }

    /// The tenant with this id or domain.
    pub fn find(&self, id_or_domain: &str) -> Option<&Tenant> {
        self.tenants
            .iter()
            .find(|t| t.id.eq_ignore_ascii_case(id_or_domain) || t.domain.eq_ignore_ascii_case(id_or_domain))
    }
}

impl Tenant {
    /// The user with this object id.
    pub fn user_by_oid(&self, oid: &str) -> Option<&Person> {
        self.users.iter().find(|u| u.oid.eq_ignore_ascii_case(oid))
    }

    /// The user with this UPN (case-insensitive).
    pub fn user_by_upn(&self, upn: &str) -> Option<&Person> {
        self.users.iter().find(|u| u.upn.eq_ignore_ascii_case(upn))
    }
}

fn is_dns_name(s: &str) -> bool {
    s.contains('.')
        && s.split('.').all(|label| {
            !label.is_empty() && label.len() <= 63 && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}
