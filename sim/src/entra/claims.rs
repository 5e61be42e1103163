//! Headers and claim sets of the tokens this Entra issues: v1/v2 access tokens, ID tokens,
//! app-only tokens and Graph tokens, with the claims Microsoft documents for each.

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::directory::Person;

/// Microsoft Graph's resource URI (`aud` of Graph tokens).
pub(super) const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// Microsoft Graph's application id, also accepted as a Graph audience.
pub(super) const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// Whether `aud` names Microsoft Graph.
pub(super) fn is_graph_audience(aud: &str) -> bool {
    let aud = aud.trim_end_matches('/');
    aud.eq_ignore_ascii_case(GRAPH_RESOURCE) || aud.eq_ignore_ascii_case(GRAPH_APP_ID)
}

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Delegated access token (has `scp`).
    Access,
    /// OpenID Connect ID token.
    Id,
    /// App-only access token (has `roles`, `idtyp` app).
    App,
}

/// `iat`, `nbf`, `exp` in Unix seconds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Times {
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// Everything that goes into one token.
pub(super) struct TokenSpec<'a> {
    /// 1 or 2.
    pub version: u8,
    pub kind: Kind,
    pub tenant_id: &'a str,
    /// The signed-in user (`None` for app-only tokens).
    pub user: Option<&'a Person>,
    pub audience: &'a str,
    /// The client the token was issued to (`azp` / `appid`).
    pub client_id: &'a str,
    /// How that client authenticated: `0` public, `1` secret, `2` certificate.
    pub client_acr: &'a str,
    pub scopes: &'a [String],
    pub roles: &'a [String],
    pub times: Times,
}

/// The issuer of tokens of `version` for tenant `tid`.
pub(super) fn issuer(version: u8, tid: &str) -> String {
    if version == 1 {
        format!("https://sts.windows.net/{tid}/")
    } else {
        format!("https://login.microsoftonline.com/{tid}/v2.0")
    }
}

/// The JOSE header: v2 tokens carry `kid`, v1 tokens also `x5t`, Graph tokens also `nonce`.
pub(super) fn header(version: u8, kid: &str, graph: bool) -> Map<String, Value> {
    let mut header = Map::new();
    header.insert("typ".into(), json!("JWT"));
    if graph {
        header.insert("nonce".into(), json!(random_b64url(32)));
    }
    header.insert("alg".into(), json!("RS256"));
    if version == 1 {
        header.insert("x5t".into(), json!(kid));
    }
    header.insert("kid".into(), json!(kid));
    header
}

/// The claim set for `spec`.
pub(super) fn payload(spec: &TokenSpec<'_>) -> Map<String, Value> {
    let mut c = Map::new();
    let tid = spec.tenant_id;
    c.insert("aud".into(), json!(spec.audience));
    c.insert("iss".into(), json!(issuer(spec.version, tid)));
    c.insert("iat".into(), json!(spec.times.iat));
    c.insert("nbf".into(), json!(spec.times.nbf));
    c.insert("exp".into(), json!(spec.times.exp));
    c.insert("aio".into(), json!(STANDARD.encode(random_bytes(48))));
    match spec.user {
        Some(user) if spec.kind != Kind::App => user_claims(&mut c, spec, user),
        _ => app_claims(&mut c, spec),
    }
    if spec.kind != Kind::Id {
        client_claims(&mut c, spec);
    }
    c.insert("rh".into(), json!(format!("1.A{}.", opaque(&[tid, spec.client_id]))));
    c.insert("tid".into(), json!(tid));
    c.insert("uti".into(), json!(random_b64url(16)));
    c.insert("ver".into(), json!(if spec.version == 1 { "1.0" } else { "2.0" }));
    if is_graph_audience(spec.audience) {
        graph_extras(&mut c, spec);
    }
    c
}

fn user_claims(c: &mut Map<String, Value>, spec: &TokenSpec<'_>, user: &Person) {
    c.insert("name".into(), json!(user.display_name));
    c.insert("oid".into(), json!(user.oid));
    c.insert("sub".into(), json!(pairwise_sub(&user.oid, spec.audience)));
    if spec.version == 1 {
        let (given, family) = split_name(&user.display_name);
        c.insert("amr".into(), json!(["pwd"]));
        c.insert("family_name".into(), json!(family));
        c.insert("given_name".into(), json!(given));
        c.insert("ipaddr".into(), json!("203.0.113.7"));
        c.insert("unique_name".into(), json!(user.upn));
        c.insert("upn".into(), json!(user.upn));
    } else {
        c.insert("preferred_username".into(), json!(user.upn));
    }
    if spec.kind == Kind::Access {
        c.insert("scp".into(), json!(spec.scopes.join(" ")));
        if spec.version == 1 {
            c.insert("acr".into(), json!("1"));
        }
    }
}

fn app_claims(c: &mut Map<String, Value>, spec: &TokenSpec<'_>) {
    let sp_oid = derived_guid(&[spec.tenant_id, spec.client_id]);
    c.insert("idtyp".into(), json!("app"));
    c.insert("oid".into(), json!(sp_oid));
    c.insert("sub".into(), json!(sp_oid));
    if !spec.roles.is_empty() {
        c.insert("roles".into(), json!(spec.roles));
    }
    if spec.version == 1 {
        c.insert("idp".into(), json!(issuer(1, spec.tenant_id)));
    }
}

fn client_claims(c: &mut Map<String, Value>, spec: &TokenSpec<'_>) {
    if spec.version == 1 {
        c.insert("appid".into(), json!(spec.client_id));
        c.insert("appidacr".into(), json!(spec.client_acr));
    } else {
        c.insert("azp".into(), json!(spec.client_id));
        c.insert("azpacr".into(), json!(spec.client_acr));
    }
}

fn graph_extras(c: &mut Map<String, Value>, spec: &TokenSpec<'_>) {
    c.insert("acct".into(), json!(0));
    c.insert("app_displayname".into(), json!(super::errors::GATEWAY_APP_NAME));
    if spec.kind == Kind::Access {
        c.insert("idtyp".into(), json!("user"));
    }
    c.insert("tenant_region_scope".into(), json!("WW"));
    c.insert("xms_tcdt".into(), json!(1_600_000_000));
}

fn split_name(display: &str) -> (&str, &str) {
    display.split_once(' ').unwrap_or((display, ""))
}

/// Entra's `sub` is pairwise: stable per user and application, opaque.
fn pairwise_sub(oid: &str, app: &str) -> String {
    opaque(&[oid, app])
}

fn opaque(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.to_ascii_lowercase().as_bytes());
        hasher.update([0]);
    }
    URL_SAFE_NO_PAD.encode(hasher.finalize())
}

/// A stable GUID derived from `parts` (service principal object ids).
pub(super) fn derived_guid(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.to_ascii_lowercase().as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        out.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    out.truncate(len);
    out
}

/// `len` random bytes, base64url without padding.
pub(super) fn random_b64url(len: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(len))
}
