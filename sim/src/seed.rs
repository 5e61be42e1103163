//! The sandbox tenant: fixed ids, users, the gateway's app registration and its credentials.
//!
//! Everything here is deterministic so a person can paste the same ids twice and tests can
//! name them. Entra and Graph simulators both read this; the gateway never does (it gets
//! the same facts from configuration, as in production).

/// PEM private keys the simulated Entra ID signs with (`kid` order: 1, 2, then 3 after rotation).
pub const SIGNING_KEYS_PEM: [&str; 3] = [
    include_str!("../keys/entra-signing-1.pem"),
    include_str!("../keys/entra-signing-2.pem"),
    include_str!("../keys/entra-signing-3.pem"),
];

/// The gateway's sandbox client certificate (public part, as uploaded to the app registration).
pub const GATEWAY_CERT_PEM: &str = include_str!("../keys/gateway-client-cert.pem");
/// The matching private key (the gateway's side of the certificate credential).
pub const GATEWAY_CERT_KEY_PEM: &str = include_str!("../keys/gateway-client-cert.key.pem");

/// One user of the sandbox tenant with a mailbox.
#[derive(Debug, Clone)]
pub struct SeedUser {
    /// User principal name, also the primary SMTP address.
    pub upn: String,
    /// Display name.
    pub display_name: String,
    /// Entra object id (`oid`).
    pub oid: String,
    /// Exchange mailbox GUID (appears inside every EWS/REST id of this mailbox).
    pub mailbox_guid: String,
}

/// The sandbox tenant and the gateway's app registration in it.
#[derive(Debug, Clone)]
pub struct SeedTenant {
    /// Tenant id (`tid`).
    pub tenant_id: String,
    /// Verified domain.
    pub domain: String,
    /// Users with mailboxes.
    pub users: Vec<SeedUser>,
    /// The gateway's application (client) id: `aud` of NAA tokens, `client_id` of the OBO call.
    pub gateway_client_id: String,
    /// The gateway's App ID URI (`aud` of v1 tokens).
    pub gateway_app_id_uri: String,
    /// The gateway's client secret.
    pub gateway_client_secret: String,
    /// The add-in's SPA client id (`azp`/`appid` of NAA tokens).
    pub addin_client_id: String,
    /// Issuer of federated (workload identity) tokens trusted by the gateway's app registration.
    pub federated_issuer: String,
    /// Subject of the trusted federated credential.
    pub federated_subject: String,
    /// Audience of federated tokens.
    pub federated_audience: String,
}

impl SeedTenant {
    /// The fixed sandbox tenant: Contoso with alice and bob.
    pub fn contoso() -> SeedTenant {
        SeedTenant {
            tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            domain: "contoso.com".into(),
            users: vec![
                SeedUser {
                    upn: "alice@contoso.com".into(),
                    display_name: "Alice Anders".into(),
                    oid: "0a9d1d3e-4c8b-4f6e-9b1a-3f5e2d7c8a01".into(),
                    mailbox_guid: "1e25b5f4-d831-40ca-a1a0-630224d91ac7".into(),
                },
                SeedUser {
                    upn: "bob@contoso.com".into(),
                    display_name: "Bob Berg".into(),
                    oid: "5b2c7e4f-91d3-4a6b-8c0e-2d4f6a8b0c02".into(),
                    mailbox_guid: "8c3f0a2e-6b1d-4e9f-a7c5-0d2b4f6e8a13".into(),
                },
            ],
            gateway_client_id: "6e0b7a4c-3f1d-4b8e-9a2c-5d7f1e3b9c04".into(),
            gateway_app_id_uri: "api://6e0b7a4c-3f1d-4b8e-9a2c-5d7f1e3b9c04".into(),
            gateway_client_secret: "sandbox~secret.not-for-production".into(),
            addin_client_id: "c1f2e3d4-5a6b-4c7d-8e9f-0a1b2c3d4e05".into(),
            federated_issuer: "https://kubernetes.sandbox.local/oidc".into(),
            federated_subject: "system:serviceaccount:naa:naa-gateway".into(),
            federated_audience: "api://AzureADTokenExchange".into(),
        }
    }

    /// The user with this UPN (case-insensitive).
    pub fn user(&self, upn: &str) -> Option<&SeedUser> {
        self.users.iter().find(|u| u.upn.eq_ignore_ascii_case(upn))
    }
}
